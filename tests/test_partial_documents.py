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
    assert "read only in part" in result.output and "\n" not in result.output.strip()
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
