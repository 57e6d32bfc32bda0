"""The one date reader over real date strings. Strings marked [dp] are from dateparser's own test
suite (tests/test_date_parser.py, test_languages.py, test_timezone_parser.py of dateparser 1.2.0,
BSD-3, Copyright (c) 2014 Scrapinghub); [fp] from feedparser's test feeds (BSD-2, fixtures/feedparser);
[fpd] from feedparser's date-parser tests (tests/test_date_parsers.py, BSD-2, Copyright 2010-2025 Kurt
McKee, 2002-2008 Mark Pilgrim); [un] is the OHCHR communications table's day-first form."""

from __future__ import annotations

import pytest

from archiver.platforms.dates import Hints, read_date

DMY = Hints(date_order="DMY")
EXACT = None
DATE = "date only"
NO_ZONE = "no time zone given, time dropped"
OUT = "not read: a field is out of range"
NOT_ISO = "not read: an ISO 8601 form these rules do not read"
LEAP = "leap second"

CASES = [
    # (raw, hints, expected UTC or None, rule fragment or EXACT)
    ("Tue, 02 Jun 2026 14:30:00 GMT", Hints(), "2026-06-02T14:30:00", EXACT),  # RFC 2822 [fp form]
    ("Fri, 09 Sep 2005 13:51:39 -0700", Hints(), "2005-09-09T20:51:39", EXACT),  # [dp]
    ("Fri, 09 Sep 2005 13:51:39 +0000", Hints(), "2005-09-09T13:51:39", EXACT),  # [dp]
    ("15 May 2004 16:10 -0400", Hints(), "2004-05-15T20:10:00", EXACT),  # [dp]
    ("1999-12-31 19:00:00 +0500", Hints(), "1999-12-31T14:00:00", EXACT),  # [dp]
    ("2004-04-06T23:05:43-05:00", Hints(), "2004-04-07T04:05:43", EXACT),  # [fp] CDF LASTMOD
    ("Thu, 01 Jan 2004 19:48:21 EST", Hints(), "2004-01-02T00:48:21", EXACT),  # RFC 822 zone [fp form]
    # UTC written out (Go's time.RFC1123, the real narro feed), Unix `date` output, an offset with a colon:
    # each was a "date only: no time zone given", its time dropped, +01:00 read by email.utils as +00:00
    ("Fri, 20 Feb 2015 09:51:15 UTC", Hints(), "2015-02-20T09:51:15", EXACT),
    ("Mon Jan  6 10:00:00 UTC 2025", Hints(), "2025-01-06T10:00:00", EXACT),
    ("Mon Jan 06 10:00:00 EST 2025", Hints(), "2025-01-06T15:00:00", EXACT),
    ("Mon, 06 Jan 2025 10:00:00 +01:00", Hints(), "2025-01-06T09:00:00", EXACT),
    ("Mon, 06 Jan 2025 10:00:00 -05:30", Hints(), "2025-01-06T15:30:00", EXACT),
    ("Mon Jan 06 10:00:00 CET 2025", Hints(), "2025-01-06T00:00:00", "time zone 'CET' not known"),
    ("Mon, 06 Jan 2025 10:00:00 -00:00", Hints(), "2025-01-06T00:00:00", NO_ZONE),  # RFC 2822: unknown
    ("Mon, 06 Jan 2025 10:00:00 +01:60", Hints(), None, OUT),
    ("20 Oct 2014 13:08 CET", Hints(), "2014-10-20T00:00:00", "time zone 'CET' not known"),  # [dp]
    ("Tue, 02 Jun 2026 14:30:00 CEST", Hints(), "2026-06-02T00:00:00", "time zone 'CEST' not known"),
    ("3 June 2026, 10:30 MSK", Hints(), "2026-06-03T00:00:00", "time zone 'MSK' not known"),
    ("2 June 2026 10:30 IST", Hints(), "2026-06-02T00:00:00", "time zone 'IST' not known"),
    ("Fri, 12 Dec 2014 10:55:50", Hints(), "2014-12-12T00:00:00", NO_ZONE),  # [dp]
    ("02/12/2020", DMY, "2020-12-02T00:00:00", DATE),  # [un] day first
    ("13/03/2014", Hints(), "2014-03-13T00:00:00", DATE),  # [dp] unambiguous
    ("02/12/2020", Hints(), None, "ambiguous"),  # no order given: not guessed
    ("02/12/2020", Hints(languages=("fr",)), "2020-12-02T00:00:00", "as fr"),  # French writes day first
    # French [dp]
    ("11 Mai 2014", Hints(), "2014-05-11T00:00:00", DATE),
    ("22 janvier 2015 à 14h40", Hints(), "2015-01-22T00:00:00", NO_ZONE),
    ("Le 11 Décembre 2014 à 09:00", Hints(languages=("fr",)), "2014-12-11T00:00:00", NO_ZONE),
    ("le 08 Déc 2014 15:11", Hints(), "2014-12-08T00:00:00", NO_ZONE),
    # Spanish [dp]
    ("Martes 21 de Octubre de 2014", Hints(), "2014-10-21T00:00:00", DATE),
    ("12 de junio del 2012", Hints(languages=("es",)), "2012-06-12T00:00:00", DATE),
    ("13 Septiembre, 2014", Hints(), "2014-09-13T00:00:00", DATE),
    # Russian [dp]
    ("20 ноября 2013", Hints(), "2013-11-20T00:00:00", DATE),
    ("28 октября 2014 в 07:54", Hints(), "2014-10-28T00:00:00", NO_ZONE),
    ("13 января 2015 г. в 13:34", Hints(languages=("ru",)), "2015-01-13T00:00:00", NO_ZONE),
    # German [dp]
    ("21. Dezember 2013", Hints(), "2013-12-21T00:00:00", DATE),
    ("19. Februar 2012", Hints(languages=("de",)), "2012-02-19T00:00:00", DATE),
    ("18.10.14 um 22:56 Uhr", Hints(), "2014-10-18T00:00:00", NO_ZONE),
    # Chinese and Japanese [dp]
    ("2015年04月08日10:05", Hints(), "2015-04-08T00:00:00", NO_ZONE),
    ("2016年6月29", Hints(), "2016-06-29T00:00:00", DATE),
    ("2016年3月20日 21時40分", Hints(), "2016-03-20T00:00:00", NO_ZONE),
    # Arabic [dp]
    ("6 يناير، 2015، الساعة 05:16 مساءً", Hints(), "2015-01-06T00:00:00", NO_ZONE),
    ("7 يناير، 2015، الساعة 11:00 صباحاً", Hints(languages=("ar",)), "2015-01-07T00:00:00", NO_ZONE),
    # Portuguese, Turkish [dp]
    ("sexta-feira, 10 de junho de 2014 14:52", Hints(), "2014-06-10T00:00:00", NO_ZONE),
    ("11 Ağustos, 2014", Hints(), "2014-08-11T00:00:00", DATE),
    # nothing to read, or nothing plausible
    ("10 мая", Hints(), None, EXACT),  # [dp] no year: never today's year
    ("Friday", Hints(), None, EXACT),  # [dp]
    ("1970-01-01T00:00:00Z", Hints(), None, EXACT),  # an unset clock
    # a field out of range: not read, and marked so (feedparser's fallback would carry it over)
    ("2003-12-31T25:14:55Z", Hints(), None, OUT),  # [fpd] invalid (25 hours)
    ("2003-12-31T10:61:55Z", Hints(), None, OUT),  # [fpd] invalid (61 minutes)
    ("2003-12-31T10:14:61Z", Hints(), None, OUT),  # [fpd] invalid (61 seconds)
    ("9999-12-31T23:59:59-99:99", Hints(), None, OUT),  # [fpd] out-of-range offset
    ("Sun, 31 Dec 9999 23:59:59 -9999", Hints(), None, OUT),  # [fpd] year 10000 in UTC
    ("Thu, 01 Jan 2004 24:48:21 GMT", Hints(), None, OUT),  # [fpd]'s 4-digit-year form, hour 24
    ("Thu, 01 Jan 2004 19:48:21 +0860", Hints(), None, OUT),  # email.utils takes it for +09:00
    ("2003-02-29", Hints(), None, OUT),  # not a leap year
    ("Sun, 99 Jun 2009 12:00:00 GMT", Hints(), None, EXACT),  # [fpd] out-of-range day
    ("Sun, 16 Dec 2012 1:2:3:4 GMT", Hints(), None, EXACT),  # [fpd] invalid time
    ("2004-07-08 23:56:58 -00:20", Hints(), "2004-07-09T00:16:58", EXACT),  # [fpd] MSSQL-style: sound fields
    ("2003-12-31T10:14:55+0860", Hints(), None, OUT),  # Python's reader takes it for +09:00
    # ISO 8601's other forms
    ("20031231T101455Z", Hints(), "2003-12-31T10:14:55", EXACT),  # basic form (no separators)
    ("2004-07-08 23:56:58.0 -00:20", Hints(), "2004-07-09T00:16:58", EXACT),  # [fpd] MSSQL: fraction, spaced offset
    ("2003", Hints(), None, NOT_ISO),  # [fpd] a year alone (feedparser: its 1 January, as a time)
    ("2003-12", Hints(), None, NOT_ISO),  # [fpd] a month alone
    ("2003-W53-4", Hints(), None, NOT_ISO),  # a week date (2003 has no week 53)
    ("2003-365T25:00Z", Hints(), None, NOT_ISO),  # an ordinal day (feedparser: 2004-01-01 01:00)
    ("2003-012-31T10:14:55+00:00", Hints(), None, EXACT),  # [fpd] Google's extra zero: left to the feed's reader
    # a leap second is a real time no archive time can hold: its date is kept
    ("Sat, 31 Dec 2016 23:59:60 GMT", Hints(), "2016-12-31T00:00:00", LEAP),
    ("2016-12-31T23:59:60Z", Hints(), "2016-12-31T00:00:00", LEAP),
    # a 12-hour time is not RFC 2822: email.utils dropped "PM", took it for the zone and read these as
    # exact times in UTC (03:00, 10:00, 02:30), the hour and the zone both lost
    ("February 16, 2024, 3:00 PM EST", Hints(), "2024-02-16T00:00:00", "time zone 'EST' not known"),
    ("February 16, 2024, 10:00 AM EST", Hints(), "2024-02-16T00:00:00", "time zone 'EST' not known"),
    ("2 Jun 2026 2:30 PM +0000", Hints(), "2026-06-02T14:30:00", "read by dateparser"),
    ("Jun 2, 2026, 2:30 p.m. EDT", Hints(), "2026-06-02T00:00:00", "time zone 'EDT' not known"),
    # the day-and-month guard held only for a date alone: with a time after it, or a weekday before it,
    # dateparser silently read these month first (2 June as 6 February)
    ("02.06.2026 14:30 GMT", Hints(), None, "order ambiguous"),
    ("06/02/2026 14:30 GMT", Hints(), None, "order ambiguous"),
    ("Tue 02 06 2026 14:30 GMT", Hints(), None, "order ambiguous"),
    ("02/06/2026 14:30:00 +0200", DMY, "2026-06-02T12:30:00", "read by dateparser"),
    ("13/06/2026 14:30 GMT", Hints(), "2026-06-13T14:30:00", "read by dateparser"),  # only one order fits
]


@pytest.mark.parametrize(("raw", "hints", "expected", "rule"), CASES, ids=[case[0] for case in CASES])
def test_claimed_dates(raw: str, hints: Hints, expected: str | None, rule: str | None) -> None:
    claimed = read_date(raw, hints)
    assert claimed.at == (expected + ".000000Z" if expected else None)
    if rule is EXACT:
        assert claimed.rule is None
    else:
        assert claimed.rule is not None and rule in claimed.rule
        assert claimed.where("listing:date") == f"listing:date [{claimed.rule}]"


def test_the_table_covers_the_languages_and_zones() -> None:
    assert len(CASES) >= 30
    assert sum("not known" in str(case[3]) for case in CASES) >= 4


def test_hints_come_from_the_source_options() -> None:
    hints = Hints.of({"languages": ["fr", "de"], "date_order": "dmy"})
    assert hints == Hints(("fr", "de"), "DMY")
    assert Hints.of({}, date_order="DMY").date_order == "DMY"
    assert Hints.of({"date_order": "MDY"}, date_order="DMY").date_order == "MDY"
