"""Source schedules as written in config: an interval (`every 30m`, `every 30 minutes`, `30m`,
`every 2 hours`, `hourly`, `daily`, `weekly`) or `cron: 0 */6 * * *`. A spelling that is not
understood is refused with the accepted spelling closest to it."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_EVERY = re.compile(r"^(?:every\s+)?(\d+)?\s*([a-z]+)$")
_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_WORDS = {"hourly": 3600, "daily": 86400, "weekly": 604800}
_SHORT = {1: "s", 60: "m", 3600: "h", 86400: "d", 604800: "w"}
MAX_INTERVAL = 366 * 86400
ACCEPTED = "`every 30m`, `every 30 minutes`, `30m` (units s, m, h, d, w), `hourly`, `daily`, `weekly`, " \
           "`cron: MIN HOUR DAY MONTH WEEKDAY`"


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    interval: float | None = None  # seconds
    cron: str | None = None

    def nominal_interval(self) -> float:
        """Seconds between runs, for a cron schedule an estimate from its next two fire times."""
        if self.interval is not None:
            return self.interval
        import datetime as dt

        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab(self.cron or "", timezone="UTC")
        now = dt.datetime.now(dt.UTC)
        first = trigger.get_next_fire_time(None, now)
        second = trigger.get_next_fire_time(first, first + dt.timedelta(seconds=1))
        return (second - first).total_seconds() if first and second else 86400.0


def parse_schedule(text: str) -> Schedule:
    text = text.strip()
    if text.startswith("cron:"):
        return _cron(text)
    words = " ".join(text.lower().split())
    if words in _WORDS:
        return Schedule(interval=float(_WORDS[words]))
    match = _EVERY.match(words)
    if match and match[2] in _UNITS and (match[1] is not None or words.startswith("every ")):
        seconds = int(match[1] or 1) * _UNITS[match[2]]
        if seconds < 1:
            raise ScheduleError(f"{text!r}: the interval must be at least 1 second")
        if seconds > MAX_INTERVAL:
            raise ScheduleError(f"{text!r}: the interval must be at most a year; for rarer runs use `cron:`")
        return Schedule(interval=float(seconds))
    raise ScheduleError(f"{text!r}: {_suggestion(words, match)}")


def _cron(text: str) -> Schedule:
    expression = text[5:].strip()
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise ScheduleError(f"{text!r}: bad cron expression: {exc}") from exc
    return Schedule(cron=expression)


def _suggestion(words: str, match: re.Match[str] | None) -> str:
    """The accepted spelling closest to what was written, e.g. `every 30 minuts` → `every 30m`."""
    if match:
        unit = difflib.get_close_matches(match[2], [*_UNITS, *_WORDS], n=1, cutoff=0.6)
        if unit and unit[0] in _WORDS:
            return f"did you mean `{unit[0]}`? (accepted: {ACCEPTED})"
        if unit:
            return f"did you mean `every {match[1] or 1}{_SHORT[_UNITS[unit[0]]]}`? (accepted: {ACCEPTED})"
    if len(words.split()) == 5 and not words.startswith("every"):
        return f"did you mean `cron: {words}`? (accepted: {ACCEPTED})"
    return f"write one of {ACCEPTED}"
