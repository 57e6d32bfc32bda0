"""The feed parser over feedparser's own test suite (tests/fixtures/feedparser, BSD-2, see
SOURCES.txt): every file is either read with every entry kept, or refused with one clear line;
relative links resolve as the suite's `Expect:` lines say."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import feedparser
import pytest

from archiver.archive import Archive
from archiver.models import Request, Source
from archiver.platforms import ParseError, feed
from archiver.platforms.xmldoc import read_xml
from archiver.view import ArchiveView
from tests.official_fixtures import exchange

SUITE = Path(__file__).resolve().parent / "fixtures" / "feedparser"
BASE = "http://127.0.0.1:8097/tests/"  # where feedparser's own runner serves the files
EXPECTED_LINK = re.compile(r"entries\[0\]\['link'\] == u?'([^']+)'")
HEADER = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)


def _read(view: ArchiveView, path: Path):
    rel = path.relative_to(SUITE).as_posix()
    body = path.read_bytes()
    headers = {name.decode().strip().lower(): value.decode().strip() for name, value in HEADER.findall(body)}
    url = BASE + rel
    source = Source(id="suite", kind="feed", locator=url)
    captured = exchange(url, body, content_type=headers.get("content-type", "application/xml"), charset=None)
    if "content-location" in headers:
        captured.response_headers.append(("Content-Location", headers["content-location"]))
    return url, body, feed.parse(source, Request(url), captured, view)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("suite") / "archive.db"
    Archive(path, create=True).close()
    view = ArchiveView(path)
    read, refused, crashed = {}, {}, {}
    try:
        for file in sorted(SUITE.rglob("*.xml")):
            try:
                read[file] = _read(view, file)
            except ParseError as exc:
                refused[file] = str(exc)
            except Exception as exc:  # counted, so the assertion names every file that crashes
                crashed[file] = f"{type(exc).__name__}: {exc}"
    finally:
        view.close()
    return read, refused, crashed


def test_the_whole_suite_is_read_without_a_crash(results) -> None:
    read, refused, crashed = results
    assert len(read) + len(refused) + len(crashed) > 2200
    assert crashed == {}
    assert len(read) >= 2218  # the 24 refused: documents feedparser reads nothing from, entry-less CDF, one cut


def test_no_entry_is_dropped_silently(results) -> None:
    read, _, _ = results
    dropped = {}
    for file, (_, body, parsed) in read.items():
        entries = feedparser.parse(body).entries
        kept = parsed.observation.posts
        if len(kept) != len(entries):
            dropped[file.name] = (len(entries), len(kept))
    assert dropped == {}
    without_id = [post for _, _, parsed in read.values() for post in parsed.observation.posts
                  if "#sha256:" in post.native_id]
    assert len(without_id) > 500  # items with neither guid nor link are kept, under a content digest
    # `raw` is the entry's own XML, also where the strict parser fails (recovered, never a JSON dump)
    raws = [(read_xml(body).error, post.versions[0].raw) for _, body, parsed in read.values()
            for post in parsed.observation.posts]
    assert all(re.match(r"<(?:[\w.-]+:)?(?:item|entry)\b", raw, re.IGNORECASE) for _, raw in raws)
    assert sum(error is not None for error, _ in raws) >= 15


def test_refusals_are_one_line_naming_the_file(results) -> None:
    _, refused, _ = results
    assert refused
    for file, message in refused.items():
        assert message.startswith(BASE + file.relative_to(SUITE).as_posix()) and "\n" not in message
    kinds = Counter(re.sub(r" \(.*", "", message.split(": ", 1)[1]) for message in refused.values())
    assert set(kinds) <= {"not a readable RSS/Atom feed", "not an RSS or Atom feed",
                          "the feed was read only in part",
                          "the document declares external, nested or long XML entities"}, kinds


def test_links_resolve_as_the_suite_expects(results) -> None:
    read, _, _ = results
    checked = 0
    for file, (_, body, parsed) in read.items():
        expected = EXPECTED_LINK.search(body.decode("utf-8", "replace"))
        if not expected or not parsed.observation.posts:
            continue
        assert parsed.observation.posts[0].url == expected.group(1), file.name
        checked += 1
    assert checked >= 12


def test_script_and_style_bodies_never_reach_the_text(results) -> None:
    read, _, _ = results
    scripted = [post for file, (_, _, parsed) in read.items() if "sanitize" in file.parts
                for post in parsed.observation.posts if "script" in post.versions[0].raw.lower()]
    assert len(scripted) >= 20  # the suite's sanitiser cases carry <script> in entry content and titles
    for post in scripted:
        for text in (post.versions[0].text or "", post.versions[0].title or ""):
            assert "alert(" not in text and "document.write" not in text, post.native_id


def test_a_harmless_internal_entity_is_read_and_an_expanding_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    Archive(path, create=True).close()
    view = ArchiveView(path)
    original = (SUITE / "wellformed" / "rss" / "item_title.xml").read_bytes()
    declared = b'<!DOCTYPE rss [<!ENTITY nbsp "&#160;"><!ENTITY org "The Ministry">]>\n'
    body = original.replace(b"<rss", declared + b"<rss", 1)
    url = BASE + "internal-entity.xml"
    try:
        post, = feed.parse(Source(id="s", kind="feed", locator=url), Request(url),
                           exchange(url, body, content_type="application/xml", charset=None), view).observation.posts
        assert post.versions[0].title == "Item 1 title"
        nested = original.replace(b"<rss", b'<!DOCTYPE rss [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;">]>\n<rss', 1)
        external = original.replace(b"<rss", b'<!DOCTYPE rss [<!ENTITY a SYSTEM "file:///etc/passwd">]>\n<rss', 1)
        long = original.replace(b"<rss", b'<!DOCTYPE rss [<!ENTITY a "' + b"x" * 10_000 + b'">]>\n<rss', 1).replace(
            b"Item 1 title", b"&a;" * 1000)  # the quadratic blow-up
        for hostile in (nested, external, long):
            with pytest.raises(ParseError, match="external, nested or long XML entities"):
                feed.parse(Source(id="s", kind="feed", locator=url), Request(url),
                           exchange(url, hostile, content_type="application/xml", charset=None), view)
    finally:
        view.close()
