"""Malformed and hostile inputs to the official-statement parsers: each ends as a clear failure
(a ParseError naming the URL, which the run records) or a partial result; none crashes, hangs or
rewrites what was archived before."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archiver.archive import Archive
from archiver.models import Request, Source
from archiver.platforms import Parsed, ParseError, platform
from archiver.view import ArchiveView
from tests.official_fixtures import communications_page, exchange, listing_page, pdf_letter, rss, statement_page

URL = "https://hostile.example/in"
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b']>')
XXE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
GOOD_RSS = rss([("g1", "https://hostile.example/s/1", "Statement", "Tue, 02 Jun 2026 14:30:00 GMT", "Text")])
GARBAGE = bytes((i * 197 + 13) % 256 for i in range(4096))
OPTIONS = {"webpage": {"item": "div.views-row", "title": "h3", "date": "time"}}


def item(date: str) -> bytes:
    return rss([("g1", "https://hostile.example/s/1", "Statement", date, "Text")])


def only_post(check: Callable[[Any], bool]) -> Callable[[Parsed], bool]:
    return lambda parsed: len(parsed.observation.posts) == 1 and check(parsed.observation.posts[0])


CASES: list[tuple[str, str, str, bytes, int, Callable[[Parsed], bool] | None]] = [
    # (case id, kind, purpose, body, status, check of a partial result; None: must fail)
    ("feed-empty-body", "feed", "listing", b"", 200, None),
    ("feed-binary-garbage", "feed", "listing", GARBAGE, 200, None),
    ("feed-billion-laughs", "feed", "listing", LAUGHS + b'<rss version="2.0"><channel><title>&lol9;</title>'
     b"</channel></rss>", 200, None),
    ("feed-external-entity", "feed", "listing", XXE + b'<rss version="2.0"><channel><title>&x;</title>'
     b"</channel></rss>", 200, None),
    ("feed-html-instead", "feed", "listing", statement_page("Not a feed"), 200, None),
    ("feed-json-instead", "feed", "listing", b'{"items": [{"title": "x"}]}', 200, None),
    ("feed-server-error", "feed", "listing", b"<h1>502 Bad Gateway</h1>", 502, None),
    # cut short: nothing it shows is recorded (an item cut off would otherwise read as an edit)
    ("feed-truncated", "feed", "listing", GOOD_RSS[: len(GOOD_RSS) * 2 // 3], 200, None),
    ("feed-truncated-in-prolog", "feed", "listing", b'<?xml version="1.0" encoding="UTF-8"?><rs', 200, None),
    ("feed-latin1-declared-utf8", "feed", "listing",
     GOOD_RSS.replace(b"Statement", "Déclaration".encode("latin-1")), 200,
     only_post(lambda post: post.versions[0].title.startswith("D"))),
    ("feed-utf16-bom", "feed", "listing", GOOD_RSS.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
     .encode("utf-16"), 200, only_post(lambda post: post.versions[0].title == "Statement")),
    ("feed-year-99999", "feed", "listing", item("Tue, 02 Jun 99999 14:30:00 GMT"), 200,
     only_post(lambda post: post.published_at is None and "99999" in post.published_raw)),
    ("feed-epoch-zero", "feed", "listing", item("Thu, 01 Jan 1970 00:00:00 GMT"), 200,
     only_post(lambda post: post.published_at is None and post.published_where == "rss:pubDate")),
    ("feed-nonsense-date", "feed", "listing", item("yesterday-ish"), 200,
     only_post(lambda post: post.published_at is None and post.published_raw == "yesterday-ish")),
    ("feed-no-date", "feed", "listing", GOOD_RSS.replace(b"<pubDate>Tue, 02 Jun 2026 14:30:00 GMT</pubDate>", b""),
     200, only_post(lambda post: (post.published_at, post.published_raw, post.published_where) == (None,) * 3)),
    ("feed-far-future-date", "feed", "listing", item("Tue, 02 Jun 2099 14:30:00 GMT"), 200,
     only_post(lambda post: post.published_at is None)),
    ("feed-huge-title", "feed", "listing", GOOD_RSS.replace(b"Statement", b"A" * 1_000_000), 200,
     only_post(lambda post: len(post.versions[0].title) == 1000 and len(post.versions[0].raw) > 1_000_000)),
    ("feed-item-without-id-or-link", "feed", "listing",
     b'<rss version="2.0"><channel><title>t</title><item><title>orphan</title></item></channel></rss>', 200,
     lambda p: [post.native_id.split("#sha256:")[0] for post in p.observation.posts] == [URL]),
    ("feed-deep-nesting", "feed", "listing", b'<rss version="2.0"><channel><title>t</title>'
     + b"<a>" * 50_000 + b"</a>" * 50_000 + b"</channel></rss>", 200, lambda p: p.observation.posts == []),
    ("feed-nul-bytes", "feed", "listing", GOOD_RSS.replace(b"Text", b"Te\x00xt"), 200, lambda p: True),
    ("page-no-main-text", "webpage", "item", b"<html><body><nav><a href='/'>Home</a> <a href='/a'>About us</a>"
     b"</nav><footer>Copyright 2026</footer></body></html>", 200, None),
    ("page-empty-body", "webpage", "item", b"", 200, None),
    ("page-binary-garbage", "webpage", "item", GARBAGE, 200, None),
    ("page-too-large", "webpage", "item", b"<html><body><p>" + b"word " * 2_300_000 + b"</p></body></html>", 200,
     None),
    ("page-server-error", "webpage", "item", statement_page("Oops"), 500, None),
    ("page-unknown-404", "webpage", "item", b"Not found", 404, None),
    ("page-absurd-meta-date", "webpage", "item", statement_page("Dated", date="99999-01-01T00:00:00Z"), 200,
     only_post(lambda post: post.published_at is None and post.published_raw == "99999-01-01T00:00:00Z")),
    ("page-broken-json-ld", "webpage", "item", statement_page("LD", date="{broken", date_place="json-ld"), 200,
     only_post(lambda post: post.published_at is None)),
    ("page-wrong-charset", "webpage", "item", statement_page("Déclaration").decode().encode("cp1252"), 200,
     only_post(lambda post: "release the detained journalists" in post.versions[0].text)),
    ("listing-garbage", "webpage", "listing", GARBAGE, 200, None),
    ("listing-hostile-links", "webpage", "listing",
     listing_page([("javascript:alert(1)", "x", "2026"), ("mailto:a@b.c", "y", "2026"), ("/ok", "ok", "2026")]), 200,
     lambda p: [r.url for r in p.follow] == ["https://hostile.example/ok"]),
    ("sitemap-truncated", "sitemap", "listing", b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/'
     b'schemas/sitemap/0.9"><url><loc>https://hostile.example/a</loc>', 200, None),
    ("sitemap-billion-laughs", "sitemap", "listing", LAUGHS + b"<urlset><url><loc>&lol9;</loc></url></urlset>", 200,
     None),
    ("sitemap-external-entity", "sitemap", "listing", XXE + b"<urlset><url><loc>&x;</loc></url></urlset>", 200, None),
    ("sitemap-broken-gzip", "sitemap", "listing", gzip.compress(b"<urlset></urlset>")[:15], 200, None),
    ("sitemap-html-root", "sitemap", "listing", b"<html><body>hi</body></html>", 200, None),
    ("sitemap-empty", "sitemap", "listing", b"   ", 200, None),
    ("sitemap-bad-locs", "sitemap", "listing", b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
     b"<url><loc>ftp://x/a</loc></url><url><loc>javascript:x()</loc></url><url><loc></loc></url></urlset>", 200,
     lambda p: p.follow == []),
    ("letter-not-a-pdf", "un_communications", "item", b"<html><body>Session expired</body></html>", 200, None),
    ("letter-empty", "un_communications", "item", b"", 200, None),
    ("letter-truncated-pdf", "un_communications", "item", pdf_letter(["Excellency,"])[:200], 200, None),
    ("letter-pdf-header-then-garbage", "un_communications", "item", b"%PDF-1.7\n" + GARBAGE, 200, None),
    ("letter-listing-absurd-date", "un_communications", "listing", communications_page([{
        "gid": "1", "date": "31 Feb 99999", "state": "Atlantis", "type": "AL", "ref": "ATL 1/2026",
        "mandates": ["m"], "summary": "s"}]), 200,
     lambda p: '"date": null' in p.follow[0].meta_dict()["row"]),
    ("youtube-billion-laughs", "youtube", "listing", LAUGHS + b'<feed xmlns="http://www.w3.org/2005/Atom">'
     b"<title>&lol9;</title></feed>", 200, None),
    ("youtube-entry-without-video-id", "youtube", "listing", b'<feed xmlns="http://www.w3.org/2005/Atom">'
     b"<title>c</title><entry><id>x</id><title>no id</title></entry></feed>", 200,
     lambda p: p.observation.posts == []),
]


@pytest.fixture(scope="module")
def view(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("hostile") / "archive.db"
    Archive(path, create=True).close()
    opened = ArchiveView(path)
    yield opened
    opened.close()


@pytest.mark.parametrize(("kind", "purpose", "body", "status", "check"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_hostile_input_is_a_clear_failure_or_a_partial_result(view: ArchiveView, kind: str, purpose: str,
                                                              body: bytes, status: int,
                                                              check: Callable[[Parsed], bool] | None) -> None:
    assert len(CASES) >= 30
    source = Source(id="hostile", kind=kind, locator=URL, options=OPTIONS.get(kind, {}))
    meta = (("page", 1),) if kind == "un_communications" and purpose == "listing" else ()
    request = Request(URL, purpose=purpose, meta=meta)
    started = time.monotonic()
    try:
        parsed = platform(kind).parse(source, request, exchange(URL, body, status=status, charset=None), view)
    except ParseError as exc:
        assert check is None, f"expected a partial result, got: {exc}"
        message = str(exc)
        assert URL in message and "\n" not in message.strip() and len(message) < 1000
    else:
        assert check is not None, "expected a clear failure"
        assert check(parsed)
    assert time.monotonic() - started < 10


def test_hostile_pages_never_rewrite_an_archived_statement(archive: Archive, db_path: Path) -> None:
    source = Source(id="hostile", kind="webpage", locator=URL, options=OPTIONS["webpage"])
    module = platform("webpage")
    view = ArchiveView(db_path)
    good = exchange(URL, statement_page("The statement"))
    archive.record(good, module.parse(source, Request(URL, purpose="item"), good, view).observation,
                   source_id=source.id)
    for case_id, kind, purpose, body, status, _ in CASES:
        if (kind, purpose) != ("webpage", "item") or status == 404:
            continue
        bad = exchange(URL, body, status=status)
        try:
            observation = module.parse(source, Request(URL, purpose="item"), bad, view).observation
        except ParseError:
            observation = None  # what a run does: the capture is kept, nothing is said about posts
        archive.record(bad, observation, source_id=source.id)
        rows = archive.conn.execute("SELECT number, text FROM versions ORDER BY number").fetchall()
        assert rows[0][0] == 1 and "release the detained journalists" in rows[0][1], case_id
        status_now = archive.conn.execute("SELECT status FROM posts").fetchone()[0]
        assert status_now == "live", case_id
    view.close()


@pytest.mark.parametrize(("case_id", "body"), [
    ("billion-laughs", LAUGHS + b'<rss version="2.0"><channel><title>&lol9;</title></channel></rss>'),
    ("truncated-in-prolog", b'<?xml version="1.0" encoding="UTF-8"?><rs'),
    ("empty-body", b""),
    ("binary-garbage", GARBAGE),
])
def test_a_hostile_feed_fails_the_run_and_keeps_what_was_archived(httpserver, tmp_path: Path, case_id: str,
                                                                  body: bytes) -> None:
    from tests.official_fixtures import Site, fetch, rows, write_config

    site = Site(httpserver)
    site.put("/rss.xml", GOOD_RSS, "application/rss+xml")
    config = write_config(tmp_path / "sources.toml", [{"id": "feed", "kind": "feed", "locator": site.url("/rss.xml")}])
    db = tmp_path / "archive.db"
    assert fetch(config, db, "feed").exit_code == 0
    site.put("/rss.xml", body, "application/rss+xml")
    result = fetch(config, db, "feed")
    assert result.exit_code == 1 and "run 2 failed" in result.output, result.output
    outcome, error = rows(db, "SELECT outcome, error FROM runs WHERE id = 2")[0]
    assert outcome == "failed" and site.url("/rss.xml") in error and "\n" not in error
    assert rows(db, "SELECT number, title, text FROM versions") == [(1, "Statement", "Text")]
    assert rows(db, "SELECT status FROM posts") == [("live",)]
    bad_capture = rows(db, "SELECT status, size FROM captures ORDER BY id DESC LIMIT 1")
    assert bad_capture == [(200, len(body))]  # the hostile bytes are kept as evidence


def test_a_letter_that_is_not_a_pdf_makes_the_run_partial(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import Site, fetch, rows, write_config

    site = Site(httpserver)
    site.put("/sent", communications_page([{"gid": "9", "date": "01 Mar 2026", "state": "Narnia", "type": "UA",
                                            "ref": "NAR 1/2026", "mandates": ["m"], "summary": "s"}]))
    site.put("/TMResultsBase/DownLoadPublicCommunicationFile?gId=9", b"<html>Session expired</html>", "application/pdf")
    config = write_config(tmp_path / "sources.toml", [{"id": "sp", "kind": "un_communications",
                                                       "locator": site.url("/sent")}])
    db = tmp_path / "archive.db"
    result = fetch(config, db, "sp")
    assert "run 1 partial" in result.output and result.exit_code == 1, result.output
    assert rows(db, "SELECT outcome FROM runs WHERE id = 1") == [("partial",)]
    error = rows(db, "SELECT error FROM runs WHERE id = 1")[0][0]
    assert "not a PDF" in error and "gId=9" in error
    assert rows(db, "SELECT count(*) FROM posts")[0][0] == 0
    assert rows(db, "SELECT count(*) FROM captures WHERE requested_url LIKE '%gId=9'")[0][0] == 1
