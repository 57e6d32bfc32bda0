"""A document read only in part infers nothing: a feed cut short, a listing with unreadable rows,
an item page that fails. The capture is kept, the run says `partial` or `failed`, `archiver fetch`
exits 1, and no edit or removal is recorded. Over loopback HTTP into a real archive file."""

from __future__ import annotations

from pathlib import Path

from tests.official_fixtures import Site, communications_page, fetch, rows, rss, statement_page, write_config

ITEMS = [(f"s-{n}", f"/story/{n}", f"Statement number {n}", "Tue, 02 Jun 2026 14:30:00 GMT",
          f"<p>The ministry said, in statement {n}, that the talks would resume next week.</p>") for n in range(4)]


def _items(site: Site) -> list[tuple[str, str, str, str, str]]:
    return [(guid, site.url(path), title, date, text) for guid, path, title, date, text in ITEMS]


def test_a_feed_cut_short_records_no_edit_and_fails_the_run(httpserver, tmp_path: Path) -> None:
    site = Site(httpserver)
    whole = rss(_items(site))
    site.put("/feed.xml", whole, "application/rss+xml")
    config = write_config(tmp_path / "sources.toml", [{"id": "f", "kind": "feed", "locator": site.url("/feed.xml")}])
    db = tmp_path / "archive.db"
    assert "run 1 ok" in fetch(config, db, "f").output
    cut = whole[: whole.index(b"statement 2")]  # inside the third item's text
    site.put("/feed.xml", cut, "application/rss+xml")
    result = fetch(config, db, "f")
    assert result.exit_code == 1 and "run 2 failed" in result.output, result.output
    # the reason is one line: the run's own line names it, nothing else is printed about the feed
    reported = [line for line in result.output.splitlines() if line.startswith("f: run 2 failed")]
    assert len(reported) == 1 and "read only in part" in reported[0], result.output
    assert "Traceback" not in result.output
    assert rows(db, "SELECT type, count(*) FROM events GROUP BY type") == [("first_seen", 4)]
    assert rows(db, "SELECT count(*) FROM captures WHERE run_id = 2 AND requested_url LIKE '%/feed.xml'") == [(1,)]


def test_a_feed_ending_after_a_whole_item_keeps_its_items_but_looks_for_no_removals(httpserver,
                                                                                       tmp_path: Path) -> None:
    site = Site(httpserver)
    whole = rss(_items(site))
    site.put("/feed.xml", whole, "application/rss+xml")
    config = write_config(tmp_path / "sources.toml", [{"id": "f", "kind": "feed", "locator": site.url("/feed.xml")}])
    db = tmp_path / "archive.db"
    fetch(config, db, "f")
    site.put("/feed.xml", whole[: whole.index(b"</item>") + len(b"</item>")], "application/rss+xml")
    result = fetch(config, db, "f")
    assert result.exit_code == 1 and "run 2 partial" in result.output, result.output
    assert rows(db, "SELECT type, count(*) FROM events GROUP BY type") == [("first_seen", 4)]
    # no confirm requests for the three items the cut-off feed does not show
    assert rows(db, "SELECT count(*) FROM captures WHERE run_id = 2 AND requested_url LIKE '%/story/%'") == [(0,)]
    assert rows(db, "SELECT status, count(*) FROM posts GROUP BY status") == [("live", 4)]


def test_failed_follow_up_pages_make_the_run_partial(httpserver, tmp_path: Path) -> None:
    site = Site(httpserver)
    site.put("/feed.xml", rss(_items(site)[:2]), "application/rss+xml")
    site.put("/story/0", statement_page("Statement number 0"))
    site.put("/story/1", b"<html><body><nav><a href='/'>Home</a></nav></body></html>")  # no statement
    config = write_config(tmp_path / "sources.toml", [{"id": "f", "kind": "feed", "locator": site.url("/feed.xml"),
                                                       "options": {"follow_links": True}}])
    db = tmp_path / "archive.db"
    result = fetch(config, db, "f")
    assert result.exit_code == 1 and "run 1 partial" in result.output and "no main text" in result.output
    assert rows(db, "SELECT outcome FROM runs") == [("partial",)]
    assert rows(db, "SELECT count(*) FROM posts") == [(1,)]


def test_a_communications_listing_with_an_unreadable_row_is_partial(httpserver, tmp_path: Path) -> None:
    site = Site(httpserver)
    page = communications_page([{"gid": "7", "date": "02/12/2020", "state": "Narnia", "type": "AL",
                                 "ref": "NAR 7/2020", "mandates": ["m"], "summary": "s"}])
    page = page.replace(b"</body>", b"<p><a href='/TMResultsBase/DownLoadPublicCommunicationFile?gId=8'>"
                                    b"stray link</a></p></body>")
    site.put("/sent", page)
    config = write_config(tmp_path / "sources.toml", [{"id": "sp", "kind": "un_communications",
                                                       "locator": site.url("/sent")}])
    result = fetch(config, tmp_path / "archive.db", "sp")
    assert result.exit_code == 1 and "partial" in result.output and "gId=8" in result.output, result.output


def test_a_real_feed_cut_anywhere_never_yields_a_cut_entry(tmp_path: Path) -> None:
    """NASA's YouTube channel feed (15 entries, tests/fixtures/youtube) read as a plain feed and cut
    at every 401st byte and just after each entry: either refused, or every entry it yields is whole
    and removals are not looked for."""
    import re

    import pytest

    from archiver.archive import Archive
    from archiver.models import Request, Source
    from archiver.platforms import ParseError, feed
    from archiver.view import ArchiveView
    from tests.conftest import FIXTURES
    from tests.official_fixtures import exchange

    body = (FIXTURES / "youtube" / "videos_xml_channel_UCLA_DiR1FfKNvjuUpBHmylQ.xml").read_bytes()
    url = "https://www.youtube.com/feeds/videos.xml?channel_id=UCLA_DiR1FfKNvjuUpBHmylQ"
    Archive(tmp_path / "a.db", create=True).close()
    view = ArchiveView(tmp_path / "a.db")
    source = Source(id="nasa", kind="feed", locator=url)
    whole = {post.native_id: post for post in
             feed.parse(source, Request(url), exchange(url, body, content_type="application/atom+xml"),
                        view).observation.posts}
    assert len(whole) == 15
    refused = partial = 0
    try:
        ends = [m.end() for m in re.finditer(rb"</entry>", body)][:-1]
        for cut in sorted({*range(200, len(body) - 1, 401), *ends}):
            try:
                cut_short = exchange(url, body[:cut], content_type="application/atom+xml")
                parsed = feed.parse(source, Request(url), cut_short, view)
            except ParseError as exc:
                assert "not read, nothing inferred" in str(exc) or "not a readable" in str(exc), str(exc)
                refused += 1
                continue
            partial += 1
            assert parsed.problems and "entries missing from it are not looked for" in parsed.problems[0]
            for post in parsed.observation.posts:  # each entry is exactly the whole feed's entry
                original = whole[post.native_id]
                assert (post.versions[0].text, post.versions[0].title) == (original.versions[0].text,
                                                                          original.versions[0].title)
        with pytest.raises(ParseError):
            feed.parse(source, Request(url), exchange(url, body[: body.index(b"</entry>")], content_type="text/xml"),
                       view)
    finally:
        view.close()
    assert refused > 30 and partial >= 14
