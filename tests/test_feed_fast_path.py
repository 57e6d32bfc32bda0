"""The one-pass lxml reading of feeds gives the same posts as feedparser on every file of feedparser's
suite and of the real-feeds corpus that it accepts (tests/fixtures/feedparser, tests/fixtures/real_feeds,
see SOURCES.txt), and leaves the rest to feedparser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archiver.models import Source
from archiver.platforms import ParseError, feed, feedtree
from archiver.platforms.xmldoc import refuse_entities
from tests.official_fixtures import exchange

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL = sorted([*(FIXTURES / "real_feeds").glob("*.*"), *(FIXTURES / "youtube").glob("*.xml")])
FILES = sorted([*(FIXTURES / "feedparser").rglob("*.xml"), *REAL])
HEADER = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)
FIELDS = ("native_id", "url", "published_at", "published_raw", "published_where", "author_name", "tags")


def _exchange(path: Path):
    body = path.read_bytes()
    headers = {name.decode().strip().lower(): value.decode().strip() for name, value in HEADER.findall(body)}
    url = "http://127.0.0.1:8097/" + path.relative_to(FIXTURES).as_posix()
    captured = exchange(url, body, content_type=headers.get("content-type", "application/xml"), charset=None)
    if "content-location" in headers:
        captured.response_headers.append(("Content-Location", headers["content-location"]))
    return url, body, captured


def _posts(entries, version: str, url: str) -> list[tuple]:
    source = Source(id="s", kind="feed", locator=url)
    posts = [feed.entry_post(source, entry, raw, version, url) for entry, raw in entries]
    return [(*(getattr(p, name) for name in FIELDS), p.versions[0].title, p.versions[0].text, p.versions[0].raw)
            for p in posts]


@pytest.fixture(scope="module")
def readings() -> dict[Path, tuple]:
    out = {}
    for path in FILES:
        url, body, captured = _exchange(path)
        try:
            refuse_entities(body, url)
        except ParseError:
            continue
        fast = feedtree.read(body, feed.feed_base(captured, url), captured.header("Content-Type"))
        if fast is None:
            continue
        try:
            slow = feed.read_with_feedparser(captured, url)
        except ParseError as exc:
            out[path] = (fast, None, str(exc))
            continue
        out[path] = (fast, slow, url)
    return out


def test_the_fast_path_reads_most_well_formed_feeds(readings) -> None:
    real = [path for path in readings if path in REAL]
    assert len(readings) >= 200, len(readings)
    assert len(real) >= 2, real


def test_both_readings_give_the_same_posts(readings) -> None:
    differ = {}
    for path, (fast, slow, url) in readings.items():
        if slow is None:
            differ[path.name] = f"feedparser refuses it: {url}"
            continue
        assert fast[1] == slow[1], path
        mine, theirs = _posts(fast[0], fast[1], url), _posts(slow[0], slow[1], url)
        if mine != theirs:
            differ[str(path.relative_to(FIXTURES))] = next(
                (a, b) for a, b in zip(mine, theirs, strict=False) if a != b) if len(mine) == len(theirs) else (
                len(mine), len(theirs))
    assert len(differ) == 0, (len(differ), dict(list(differ.items())[:12]))
