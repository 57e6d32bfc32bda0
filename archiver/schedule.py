"""Source schedules as written in config: `every 30m`, `every 2h`, `every 1d`, or `cron: 0 */6 * * *`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
    match = _EVERY.match(text)
    if match:
        seconds = int(match.group(1)) * _UNIT[match.group(2)]
        if seconds < 1:
            raise ScheduleError(f"{text!r}: the interval must be at least 1 second")
        return Schedule(interval=float(seconds))
    if text.startswith("cron:"):
        expression = text[5:].strip()
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(expression, timezone="UTC")
        except ValueError as exc:
            raise ScheduleError(f"{text!r}: bad cron expression: {exc}") from exc
        return Schedule(cron=expression)
    raise ScheduleError(f"{text!r}: write `every N[s|m|h|d]` or `cron: MIN HOUR DAY MONTH WEEKDAY`")
