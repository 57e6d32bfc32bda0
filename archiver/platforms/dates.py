"""Reading the dates a document claims, for every parser: one rule for each kind of string.

A claimed date is kept three ways on a post: the raw string (`published_raw`), where it was found
(`published_where`) and, when it can be read, archive time in UTC (`published_at`). Whatever is not
an exact timestamp says how it was read, in `published_where` after the place ("rss:pubDate
[date only: time zone 'CET' not known]"), so an uncertain reading is visible in the data.

The rules, in order:
  * ISO 8601 and RFC 2822 strings with a numeric offset, `Z`, UTC/GMT/UT (and the US zones RFC 822
    defines, in RFC 2822 strings only) are exact;
  * everything else that names a year is read by dateparser, restricted to the source's
    `languages` and `date_order` options when it has them (absolute dates only: never "2 days ago",
    never a bare number read as a Unix time);
  * a time whose zone is not stated, or is a name other than the above (CET, MSK, IST… are
    ambiguous or not fixed offsets), keeps only its date: the time is dropped, never read as UTC;
  * a date without a time is stored as midnight UTC of that date, marked "date only";
  * an all-numeric date whose day and month could be swapped (02/12/2020) is not read without a
    `date_order` (or `languages`, whose locale settles it); a date before 1900, at the Unix epoch or
    more than two days ahead is refused;
  * an ISO 8601 date with a field out of range (31 November, hour 25, minute 61, an offset of a day or
    more, or of 60 minutes), or an RFC 2822 one with its time or offset out of range (+0860), is not
    read, and says so: another parser's reading of it (feedparser carries 25:14 into the next day)
    would be a guess. A leap second (:60) keeps only its date;
  * ISO 8601's basic form (20031231T101455Z) is read as its extended form is; its other forms (a year
    or a month alone, an ordinal day, a week date Python does not read) are not read, and say so.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_tz
from typing import Any

from archiver.models import format_time

DATE_ORDERS = ("DMY", "MDY", "YMD")
MAX_RAW = 200  # longer claims are stored cut to this length and not read

_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FUTURE_SLACK = dt.timedelta(days=2)  # embargoed releases are sometimes dated a little ahead
_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)|(?<!\d)\d{1,2}[./-]\d{1,2}[./-]\d{2}(?!\d)")
_TIME = re.compile(r"(?<!\d)\d{1,2}\s*(?::|h|時|时|點|点)\s*\d{2}(?!\d)|T\d{2}(?::?\d{2})", re.IGNORECASE)
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$|(?<![A-Za-z])(?:UTC|GMT|UT)(?:\s*[+-]\d{1,2}(?::?\d{2})?)?(?![A-Za-z])")
# a zone name written after the time: capitals of one script (Latin or Cyrillic), not AM/PM
_ZONE_NAME = re.compile(r"(?<!\w)([A-Z]{2,5}|[А-ЯЁ]{2,5})(?!\w)")
_NOT_ZONES = {"AM", "PM", "UTC", "GMT", "UT", "Z"}
# a zone email.utils reads exactly, at the end or before the year (Unix `date`'s "Mon Jan 6 10:00:00 UTC
# 2025"); "-0000" means unknown
_RFC822_ZONE = re.compile(r"(?<![\w-])(?:\+\d{4}|-(?!0000)\d{4}|UTC?|GMT|Z|[ECMP][SD]T)(?:\s+\d{4})?$")
_COLON_ZONE = re.compile(r"(?<=\d)(\s*[+-]\d{2}):(\d{2})$")  # "+01:00": email.utils reads it as +00:00
# an all-numeric day and month, with or without a weekday before it and a time after it
_NUMERIC = re.compile(r"^\s*(?:[^\W\d_]+\.?,?\s+)?(\d{1,2})[./\s-](\d{1,2})[./\s-](\d{2}|\d{4})(?![\d./-])")
# an ISO 8601 calendar date and time, basic or extended, each field captured: their ranges are checked
# here, as Python's reader lets some through (an offset of +08:60 is read as +09:00)
_ISO_FIELDS = re.compile(r"(?P<year>\d{4})(?P<sep>-?)(?P<month>\d{2})(?P=sep)(?P<day>\d{2})"
                         r"(?:[T ](?P<hour>\d{2})(?::?(?P<minute>\d{2})(?::?(?P<second>\d{2})(?:[.,]\d+)?)?)?)?"
                         r"\s*(?:[Zz]|[+-](?P<offset_hours>\d{2})(?::?(?P<offset_minutes>\d{2}))?)?")
_TWELVE_HOUR = re.compile(r"\d\s*(?:[AaPp]\.?\s?[Mm]\.?)(?![A-Za-z])")  # 3 PM, 3:00pm, 3:00 p.m.
_NUMERIC_ZONE = re.compile(r"[+-](\d{2}):?(\d{2})$")  # an RFC 2822 zone as written: its fields' ranges
_SPACED_OFFSET = re.compile(r"(\d)\s+([Zz]|[+-]\d{2}(?::?\d{2})?)$")  # "… 23:56:58.5 -00:20"
# ISO 8601's other forms: a year or a month alone, an ordinal day, a week date. Read by these rules or not
# at all: feedparser reads a year as its 1 January and carries an ordinal day's 25:00 into the next day
_ISO_OTHER = re.compile(r"[+-]?\d{4}(?:-?\d{2})?$|[+-]?\d{4}-?(?:W\d{2}|\d{3}(?![\d-]))")
NOT_ISO = "not read: an ISO 8601 form these rules do not read"
OUT_OF_RANGE = "not read: a field is out of range"
_LEAP = "date only: a leap second (:60), time dropped"
_DATEPARSER_SETTINGS: dict[str, Any] = {
    "TIMEZONE": "UTC", "TO_TIMEZONE": "UTC", "RETURN_AS_TIMEZONE_AWARE": False,
    "PARSERS": ["custom-formats", "absolute-time"], "REQUIRE_PARTS": ["day", "month", "year"],
    "PREFER_DAY_OF_MONTH": "first",
}


@dataclass(frozen=True)
class Claimed:
    """A claimed date as read: archive time (None when unreadable) and the rule used, None when exact."""

    at: str | None
    rule: str | None = None

    def where(self, place: str | None) -> str | None:
        """`published_where`: the place, and the rule when the reading was not exact."""
        if place is None or self.rule is None:
            return place
        return f"{place} [{self.rule}]"


@dataclass(frozen=True)
class Hints:
    """Per-source hints (options `languages`, a list of language codes, and `date_order`)."""

    languages: tuple[str, ...] | None = None
    date_order: str | None = None

    @classmethod
    def of(cls, options: dict[str, Any], *, date_order: str | None = None) -> Hints:
        """The hints a source's options give; `date_order` is the kind's default."""
        languages = options.get("languages")
        order = options.get("date_order", date_order)
        return cls(tuple(str(code) for code in languages) if isinstance(languages, list) and languages else None,
                   str(order).upper() if isinstance(order, str) and order.upper() in DATE_ORDERS else None)


NO_HINTS = Hints()


def plausible(moment: dt.datetime) -> bool:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return _EARLIEST <= moment <= dt.datetime.now(dt.UTC) + _FUTURE_SLACK and moment != _EPOCH


def read_date(raw: str | None, hints: Hints = NO_HINTS) -> Claimed:
    """A claimed date string read by the rules above."""
    if not raw or not raw.strip() or len(raw) > MAX_RAW:
        return Claimed(None)
    text = " ".join(raw.split())
    claimed = _iso(text)
    if claimed is None and _YEAR.search(text):  # else free-form parsing would read "1" or "May" as a day
        claimed = _rfc2822(text) or _free_text(text, hints)
    if claimed is None:
        return Claimed(None, NOT_ISO) if _ISO_OTHER.match(text) else Claimed(None)
    return claimed


def struct_time_utc(value: time.struct_time | None) -> str | None:
    """feedparser's parsed dates (UTC struct_time) as archive time, None when absurd."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return _at(moment)


def _at(moment: dt.datetime) -> str | None:
    try:
        return format_time(moment) if plausible(moment) else None
    except (OverflowError, ValueError):
        return None


def _date_only(day: dt.date, why: str) -> Claimed:
    moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    at = _at(moment)
    return Claimed(at, why) if at else Claimed(None)


def _zone_name(text: str) -> str | None:
    """A zone written as a name after the time that is not one of the exact ones, e.g. 'CET'."""
    found = _TIME.search(text)
    if found is None:
        return None
    for match in _ZONE_NAME.finditer(text[found.end():]):
        if match.group(1) not in _NOT_ZONES:
            return match.group(1)
    return None


def _iso(text: str) -> Claimed | None:
    fields = _ISO_FIELDS.fullmatch(text)
    if fields is not None and (refused := _out_of_range(fields)) is not None:
        return refused
    try:
        moment = dt.datetime.fromisoformat(_SPACED_OFFSET.sub(r"\1\2", text).replace("Z", "+00:00")
                                           .replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        at = _at(moment)
        return Claimed(at) if at else Claimed(None)
    if _TIME.search(text) or moment.time() != dt.time(0):
        return _date_only(moment.date(), "date only: no time zone given, time dropped")
    return _date_only(moment.date(), "date only")


def _out_of_range(fields: re.Match[str]) -> Claimed | None:
    """An ISO 8601 date with a field out of range is not read (a leap second keeps its date); None when
    every field is in range."""
    field = {name: int(value or 0) for name, value in fields.groupdict().items() if name != "sep"}
    try:
        date = dt.date(field["year"], field["month"], field["day"])
    except ValueError:
        return Claimed(None, OUT_OF_RANGE)
    return _time_checked(date, field["hour"], field["minute"], field["second"],
                         field["offset_hours"] <= 23 and field["offset_minutes"] <= 59)


def _time_checked(day: dt.date, hour: int, minute: int, second: int, offset_sound: bool) -> Claimed | None:
    """The one range check of a time and its offset (ISO 8601 and RFC 2822): not read when a field is out
    of range, a leap second's date, or None when every field is sound."""
    if hour > 23 or minute > 59 or second > 60 or not offset_sound:
        return Claimed(None, OUT_OF_RANGE)
    return _date_only(day, _LEAP) if second == 60 else None


def _rfc2822(text: str) -> Claimed | None:
    if not re.search(r"[A-Za-z]{3}", text) or _TWELVE_HOUR.search(text):
        # RFC 2822 has no AM/PM: email.utils would drop it and take "PM" for the zone, reading
        # "3:00 PM EST" as 03:00 UTC, exactly
        return None
    text = _COLON_ZONE.sub(r"\1\2", text)
    parts = parsedate_tz(text)
    if parts is None or parts[0] < 1000:
        return None
    try:
        day = dt.date(parts[0], parts[1], parts[2])
    except ValueError:
        return None
    has_time = bool(_TIME.search(text))
    if not has_time:
        return _date_only(day, "date only")
    offset, written = parts[9], _NUMERIC_ZONE.search(text)
    # email.utils reads +0860 as +09:00: the zone's fields are checked as written
    offset_sound = (offset is None or abs(offset) < 86_400) and (
        written is None or (int(written[1]) <= 23 and int(written[2]) <= 59))
    if (checked := _time_checked(day, parts[3], parts[4], parts[5], offset_sound)) is not None:
        return checked
    # email.utils gives offset 0 for a missing or unknown zone: the zone is checked as written
    if offset is not None and _RFC822_ZONE.search(text):
        moment = dt.datetime(*parts[:6], tzinfo=dt.timezone(dt.timedelta(seconds=offset)))
        at = _at(moment)
        return Claimed(at) if at else Claimed(None)
    zone = _zone_name(text)
    return _date_only(day, f"date only: time zone {zone!r} not known, time dropped" if zone
                      else "date only: no time zone given, time dropped")


def _free_text(text: str, hints: Hints) -> Claimed | None:
    import dateparser

    numeric = _NUMERIC.match(text)
    if numeric and hints.date_order is None and hints.languages is None and int(numeric.group(1)) <= 12 \
            and int(numeric.group(2)) <= 12 and numeric.group(1) != numeric.group(2):
        # a language settles the order too (dateparser knows each locale's)
        return Claimed(None, "day and month order ambiguous: not read without the date_order or languages option")
    zone = _zone_name(text)
    has_time = bool(_TIME.search(text))
    exact_zone = has_time and zone is None and bool(_OFFSET.search(text))
    cleaned = text if zone is None else re.sub(rf"(?<!\w){re.escape(zone)}(?!\w)", " ", text)
    settings = dict(_DATEPARSER_SETTINGS)
    if hints.date_order:
        settings["DATE_ORDER"] = hints.date_order
    try:
        moment = dateparser.parse(cleaned, languages=list(hints.languages) if hints.languages else None,
                                  settings=settings)
    except (ValueError, OverflowError, TypeError, LookupError):
        return None
    if moment is None:
        return None
    how = "read by dateparser" + (f" ({hints.date_order})" if hints.date_order else "") + (
        f" as {'/'.join(hints.languages)}" if hints.languages else "")
    if exact_zone:
        at = _at(moment.replace(tzinfo=dt.UTC))
        return Claimed(at, how) if at else Claimed(None)
    if zone is not None:
        return _date_only(moment.date(), f"{how}; date only: time zone {zone!r} not known, time dropped")
    if has_time or moment.time() != dt.time(0):
        return _date_only(moment.date(), f"{how}; date only: no time zone given, time dropped")
    return _date_only(moment.date(), f"{how}; date only")
