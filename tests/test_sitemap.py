"""Sitemaps at the parser level: indexes followed, pages fetched only when new or when their
<lastmod> changed, gzip inflated within limits, filters applied."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.models import Request, Source
from archiver.platforms import ParseError, sitemap
from archiver.view import ArchiveView
from tests.official_fixtures import exchange, sitemap_index, statement_page, urlset

INDEX = "https://gov.example/sitemap.xml"
CHILD = "https://gov.example/sitemap-press.xml"
PAGES = [("https://gov.example/press/1", "2026-06-01T10:00:00+00:00"),
         ("https://gov.example/press/2", "2026-06-02"), ("https://gov.example/about", None)]



def source(**options) -> Source:
    return Source(id="gov", kind="sitemap", locator=INDEX, options=options)


def test_index_children_are_followed_and_remembered_for_when_the_index_is_unchanged(archive: Archive,
                                                                                   view: ArchiveView) -> None:
    body = sitemap_index([(CHILD, "2026-06-02"), ("https://gov.example/sitemap-pages.xml", None)])
    parsed = sitemap.parse(source(), Request(INDEX), exchange(INDEX, body), view)
    children = [CHILD, "https://gov.example/sitemap-pages.xml"]
    assert [(r.url, r.purpose, r.conditional) for r in parsed.follow] == [(u, "listing", True) for u in children]
    archive.record(exchange(INDEX, body), parsed.observation, source_id="gov")
    # the index may answer 304 next time: its children are planned anyway, conditionally
    assert [r.url for r in sitemap.plan(source(), view)] == [INDEX, *children]
    assert not any(r.conditional for r in sitemap.plan(source(recheck=True), view))


def test_only_new_or_changed_pages_are_fetched(archive: Archive, view: ArchiveView) -> None:
    src = source(include="/press/")
    parsed = sitemap.parse(src, Request(CHILD), exchange(CHILD, urlset(PAGES)), view)
    assert [r.url for r in parsed.follow] == [PAGES[0][0], PAGES[1][0]]  # /about filtered out
    archive.record(exchange(CHILD, urlset(PAGES)), parsed.observation, source_id=src.id)
    for request in parsed.follow:
        page = exchange(request.url, statement_page(f"Press release {request.url[-1]}"))
        archive.record(page, sitemap.parse(src, request, page, view).observation, source_id=src.id)
    assert sitemap.parse(src, Request(CHILD), exchange(CHILD, urlset(PAGES)), view).follow == []
    moved = [(PAGES[0][0], "2026-06-05T08:00:00+00:00"), *PAGES[1:]]
    changed = sitemap.parse(src, Request(CHILD), exchange(CHILD, urlset(moved)), view).follow
    assert [(r.url, r.conditional) for r in changed] == [(PAGES[0][0], False)]
    removed = sitemap.parse(src, Request(CHILD), exchange(CHILD, urlset(PAGES[1:])), view).follow
    assert [(r.url, r.purpose) for r in removed] == [(PAGES[0][0], "confirm")]


def test_gzipped_sitemaps_are_read_and_gzip_bombs_refused(view: ArchiveView) -> None:
    parsed = sitemap.parse(source(), Request(CHILD), exchange(CHILD, gzip.compress(urlset(PAGES))), view)
    assert len(parsed.follow) == 3
    bomb = gzip.compress(b"<urlset>" + b" " * (sitemap.MAX_XML + 10) + b"</urlset>")
    assert len(bomb) < 200_000
    with pytest.raises(ParseError, match="inflates beyond"):
        sitemap.parse(source(), Request(CHILD), exchange(CHILD, bomb), view)


def test_sitemap_index_end_to_end_lastmod_edit_and_removal(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import STATEMENT_BODY, Site, fetch, rows, write_config

    site = Site(httpserver)
    press = [(site.url("/press/1"), "2026-06-01"), (site.url("/press/2"), "2026-06-02")]
    site.put("/sitemap.xml", sitemap_index([(site.url("/sitemap-press.xml.gz"), None)]), "application/xml")
    site.put("/sitemap-press.xml.gz", gzip.compress(urlset(press)), "application/gzip")
    site.put("/press/1", statement_page("Press release 1"))
    site.put("/press/2", statement_page("Press release 2"))
    config = write_config(tmp_path / "sources.toml", [
        {"id": "gov", "kind": "sitemap", "locator": site.url("/sitemap.xml"), "options": {"include": "/press/"}}])
    db = tmp_path / "archive.db"
    first = fetch(config, db, "gov")
    assert first.exit_code == 0 and "new 2" in first.output, first.output
    assert rows(db, "SELECT platform, native_id FROM posts ORDER BY id") == [("web", u) for u, _ in press]

    site.hits.clear()
    assert "new 0, edited 0" in fetch(config, db, "gov").output
    assert "/press/1" not in site.hits  # lastmod unchanged: the page is not requested at all

    site.put("/press/1", statement_page("Press release 1", STATEMENT_BODY + "<p>Updated on 5 June.</p>"))
    site.put("/sitemap-press.xml.gz", gzip.compress(urlset([(press[0][0], "2026-06-05")])), "application/gzip")
    site.remove("/press/2")
    third = fetch(config, db, "gov")
    assert "edited 1, deleted 1" in third.output, third.output
    assert rows(db, "SELECT count(*) FROM versions WHERE text LIKE '%Updated on 5 June.%'")[0][0] == 1
    assert rows(db, "SELECT status FROM posts ORDER BY id") == [("live",), ("deleted",)]


def test_an_edit_found_through_the_sitemap_keeps_the_publication_date(archive: Archive, db_path: Path) -> None:
    src = source()
    url = PAGES[0][0]
    view = ArchiveView(db_path)
    try:
        first = exchange(url, statement_page("Press release 1", date="2026-06-01T10:00:00+02:00"))
        request = Request(url, purpose="item", meta=(("sig", "2026-06-01T10:00:00+00:00"),))
        archive.record(first, sitemap.parse(src, request, first, view).observation, source_id=src.id)
        # the page is edited, and its new template carries no date; the sitemap has only <lastmod>
        edited = exchange(url, statement_page("Press release 1", paragraphs="<p>" + "A corrected text. " * 20 + "</p>",
                                              date=None))
        request = Request(url, purpose="item", meta=(("sig", "2026-06-05T08:00:00+00:00"),))
        post, = sitemap.parse(src, request, edited, view).observation.posts
        result = archive.record(edited, sitemap.parse(src, request, edited, view).observation, source_id=src.id)
    finally:
        view.close()
    assert result.edited == 1
    assert (post.published_at, post.published_raw) == ("2026-06-01T08:00:00.000000Z", "2026-06-01T10:00:00+02:00")
    assert post.published_where == "meta[property=article:published_time]"


NEWS = (Path(__file__).parent / "fixtures" / "sitemaps_google_news.xml").read_bytes()


def test_a_news_sitemap_dates_and_titles_the_pages_that_state_neither(httpserver, tmp_path: Path) -> None:
    """The news sitemap of ultimate-sitemap-parser's format reference, served on loopback: a page without a
    date of its own takes the sitemap's `<news:publication_date>` (not its `<lastmod>`, a change), and
    its title when it has none; a page that states its date keeps its own."""
    from tests.official_fixtures import Site, fetch, rows, write_config

    site = Site(httpserver)
    site.put("/news-sitemap.xml", NEWS.replace(b"https://example.org/", site.url("/").encode()), "application/xml")
    site.put("/page1", statement_page("", date=None).replace(b"<title> | Press releases</title>", b"")
             .replace(b'<meta property="og:title" content="">', b""))
    site.put("/page2", statement_page("News Article Two", date="2024-01-01T16:00:00-05:00"))
    config = write_config(tmp_path / "sources.toml", [
        {"id": "news", "kind": "sitemap", "locator": site.url("/news-sitemap.xml")}])
    db = tmp_path / "archive.db"
    first = fetch(config, db, "news")
    assert first.exit_code == 0 and "new 2" in first.output, first.output
    assert rows(db, "SELECT native_id, title, published_at, published_raw, published_where FROM posts ORDER BY id") == [
        (site.url("/page1"), "News Article One", "2024-01-01T00:00:00.000000Z", "2024-01-01",
         "sitemap:news:publication_date [date only]"),
        (site.url("/page2"), "News Article Two", "2024-01-01T21:00:00.000000Z", "2024-01-01T16:00:00-05:00",
         "meta[property=article:published_time]")]
