"""The one-pass lxml reading of feeds gives the same posts as feedparser on every file of feedparser's
suite and of the real-feeds corpus that it accepts (tests/fixtures/feedparser, tests/fixtures/real_feeds,
see SOURCES.txt), and leaves the rest to feedparser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archiver.models import Request, Source
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


def test_what_the_fast_path_is_not_sure_of_is_left_to_feedparser(view) -> None:
    illformed = sorted((FIXTURES / "feedparser" / "illformed").rglob("*.xml"))
    assert len(illformed) >= 15
    assert all(feedtree.read(path.read_bytes(), "http://127.0.0.1/", None) is None for path in illformed)
    github = (FIXTURES / "real_feeds" / "github_releases_gulp.atom").read_bytes()
    base = "https://github.com/gulpjs/gulp/releases.atom"
    assert feedtree.read(github, base, "application/atom+xml") is not None
    for body, content_type in [
        (github.replace(b'encoding="UTF-8"', b'encoding="windows-1252"'), None),  # another encoding
        (github, "text/plain; charset=utf-8"),  # not served as XML
        (github, "application/xml; charset=iso-8859-1"),  # the header's charset wins in feedparser
        (github.replace(b"</entry>", b"", 1), None),  # not well-formed
        (github.replace(b"<title>v3.9.0</title>", b"<title>v3.9.0</title><title>again</title>"), None),
        (github.replace(b"<updated>2015-06-01T23:49:41+02:00</updated>\n    <link",
                        b"<updated>the first of June</updated>\n    <link"), None),  # a date the rules cannot read
        (github.replace(b"<author>", b"<dc:subject xmlns:dc='http://purl.org/dc/elements/1.1/'>x</dc:subject>"
                                     b"<author>", 1), None),  # an element it does not know
    ]:
        assert feedtree.read(body, base, content_type) is None, content_type
    posts = feed.parse(Source(id="gh", kind="feed", locator=base), Request(base),
                       exchange(base, github.replace(b"<author>", b"<dc:subject xmlns:dc='http://purl.org/dc/"
                                                     b"elements/1.1/'>x</dc:subject><author>", 1),
                                content_type="application/atom+xml", charset=None), view).observation.posts
    assert len(posts) == 10 and posts[0].tags == ["x"]  # feedparser read it


def test_xhtml_content_reads_as_feedparser_reads_it() -> None:
    base = "https://github.com/gulpjs/gulp/releases.atom"
    github = (FIXTURES / "real_feeds" / "github_releases_gulp.atom").read_bytes().replace(
        b'<content type="html">&lt;p&gt;3.9.0&lt;/p&gt;</content>',
        b'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">History of the &lt;blink&gt; tag '
        b'<b>3.9.0</b> &amp; more</div></content>')
    captured = exchange(base, github, content_type="application/atom+xml", charset=None)
    fast = feedtree.read(github, base, "application/atom+xml")
    assert fast is not None
    mine, theirs = _posts(fast[0], fast[1], base), _posts(*feed.read_with_feedparser(captured, base)[:2], base)
    assert mine == theirs
    assert mine[0][-2] == "History of the <blink> tag 3.9.0 & more"


def test_an_unrelated_item_that_sends_the_feed_to_feedparser_changes_no_other_item(httpserver,
                                                                                    tmp_path: Path) -> None:
    """The reader a feed takes depends on every item of it: one new item with an element the fast path
    does not know sends the whole feed to feedparser. An item both read differently then became a false
    "new" (a link escaped twice, `&amp;amp;`, which feedparser unescapes once more) or a false "edited"
    (UTF-8 text read as Latin-1, `CafÃ©`, which feedparser repairs). The fast path leaves both to it."""
    from tests.official_fixtures import Site, fetch, rows, rss, write_config

    site = Site(httpserver)
    items = [("g-1", site.url("/story?p=1&amp;amp;lang=en"), "Statement", "Tue, 02 Jun 2026 14:30:00 GMT", "Now."),
             ("g-2", site.url("/story/2"), "Le caf\u00c3\u00a9", "Wed, 03 Jun 2026 09:00:00 GMT",
              "Le caf\u00c3\u00a9.")]
    body = rss(items).replace(b'<guid isPermaLink="false">g-1</guid>', b"")  # known by its link
    for fast_body in (body, rss(items[1:])):
        url = site.url("/rss.xml")
        captured = exchange(url, fast_body, content_type="application/rss+xml", charset=None)
        fast = feedtree.read(fast_body, url, "application/rss+xml")
        slow = feed.read_with_feedparser(captured, url)
        assert fast is None or _posts(fast[0], fast[1], url) == _posts(slow[0], slow[1], url)
    config = write_config(tmp_path / "sources.toml", [{"id": "un", "kind": "feed", "locator": site.url("/rss.xml")}])
    db = tmp_path / "archive.db"
    site.put("/rss.xml", body, "application/rss+xml; charset=utf-8")
    assert "new 2" in fetch(config, db, "un").output
    newer = body.replace(b"<item>", b'<item><title>Newer</title><link>' + site.url("/story/3").encode()
                         + b'</link><enclosure url="x.mp3" type="audio/mpeg" length="1"/><comments>c</comments>'
                         b'<source url="s">s</source><foo:bar xmlns:foo="urn:foo">x</foo:bar></item><item>', 1)
    site.put("/rss.xml", newer, "application/rss+xml; charset=utf-8")
    second = fetch(config, db, "un")
    assert second.exit_code == 0 and "new 1, edited 0" in second.output, second.output
    assert rows(db, "SELECT count(*) FROM posts") == [(3,)]
