"""Statement pages without a feed, at the parser level: the listing read with configured CSS
selectors, each statement page's main text and its own date with where it was found."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.models import Request, Source
from archiver.platforms import ParseError, webpage
from archiver.view import ArchiveView
from tests.official_fixtures import STATEMENT_BODY, exchange, listing_page, statement_page

LISTING = "https://party.example/en/statements"
OPTIONS = {"item": "div.views-row", "link": "h3 a", "title": "h3", "date": "time"}
ROWS = [("/en/statements/ceasefire-now", "Ceasefire now", "2026-06-01T09:00:00Z"),
        ("https://party.example/en/statements/on-the-elections", "On the elections", "2026-05-28T12:00:00Z")]


@pytest.fixture
def view(archive: Archive, db_path: Path):
    opened = ArchiveView(db_path)
    yield opened
    opened.close()


def source(**extra) -> Source:
    return Source(id="party", kind="webpage", locator=LISTING, organisation="Example Party",
                  options={**OPTIONS, **extra})


def test_listing_rows_become_item_requests_with_their_row(view: ArchiveView) -> None:
    parsed = webpage.parse(source(), Request(LISTING), exchange(LISTING, listing_page(ROWS)), view)
    assert [r.url for r in parsed.follow] == ["https://party.example/en/statements/ceasefire-now",
                                              "https://party.example/en/statements/on-the-elections"]
    meta = parsed.follow[0].meta_dict()
    assert meta["title"] == "Ceasefire now"
    assert (meta["date_raw"], meta["date_where"]) == ("2026-06-01T09:00:00Z", "listing:time[datetime]")
    assert meta["raw"].startswith('<div class="views-row">')


@pytest.mark.parametrize(("place", "where"), [("meta", "meta[property=article:published_time]"),
                                              ("json-ld", "json-ld:datePublished"), ("time", "time[datetime]")])
def test_statement_page_date_comes_from_the_page_with_its_place(view: ArchiveView, place: str, where: str) -> None:
    item = webpage.parse(source(), Request(LISTING), exchange(LISTING, listing_page(ROWS)), view).follow[0]
    page = statement_page("Ceasefire now", date="2026-06-01T11:00:00+02:00", date_place=place,
                          canonical="/en/statements/ceasefire-now")
    post, = webpage.parse(source(), item, exchange(item.url, page), view).observation.posts
    assert (post.published_at, post.published_raw, post.published_where) == (
        "2026-06-01T09:00:00.000000Z", "2026-06-01T11:00:00+02:00", where)
    assert (post.platform, post.native_id, post.kind) == ("web", item.url, "statement")
    assert post.versions[0].title == "Ceasefire now"
    assert "International Covenant on Civil and Political Rights" in post.versions[0].text
    assert "About us" not in post.versions[0].text
    assert post.language == "en" and post.author_name == "Example Party"


def test_listing_date_is_the_fallback_and_says_so(view: ArchiveView) -> None:
    item = webpage.parse(source(), Request(LISTING), exchange(LISTING, listing_page(ROWS)), view).follow[0]
    post, = webpage.parse(source(), item, exchange(item.url, statement_page("C", date=None)), view).observation.posts
    assert (post.published_at, post.published_where) == ("2026-06-01T09:00:00.000000Z", "listing:time[datetime]")


def test_recheck_reads_known_pages_again_and_an_edit_is_a_new_version(archive: Archive, view: ArchiveView) -> None:
    src = source(recheck=True)
    listing = webpage.parse(src, Request(LISTING), exchange(LISTING, listing_page(ROWS)), view)
    archive.record(exchange(LISTING, listing_page(ROWS)), listing.observation, source_id=src.id)
    item = listing.follow[0]
    first = webpage.parse(src, item, exchange(item.url, statement_page("Ceasefire now")), view)
    archive.record(exchange(item.url, statement_page("Ceasefire now")), first.observation, source_id=src.id)
    again = webpage.parse(src, Request(LISTING), exchange(LISTING, listing_page(ROWS)), view).follow
    assert again[0].url == item.url and again[0].conditional  # re-read, cheaply (ETag) when unchanged
    edited = statement_page("Ceasefire now", STATEMENT_BODY.replace("without delay", "immediately"))
    result = archive.record(exchange(item.url, edited),
                            webpage.parse(src, again[0], exchange(item.url, edited), view).observation,
                            source_id=src.id)
    assert result.edited == 1
    gone = webpage.parse(src, again[0], exchange(item.url, b"gone", status=410), view)
    assert [(g.native_id, g.confirmed) for g in gone.observation.gone] == [(item.url, True)]


def test_a_listing_that_matches_nothing_is_a_clear_failure(view: ArchiveView) -> None:
    with pytest.raises(ParseError, match=r"no entries for selector 'div\.views-row'"):
        webpage.parse(source(), Request(LISTING), exchange(LISTING, b"<html><body>redesigned</body></html>"), view)


def test_options_are_validated() -> None:
    assert "option `item`: required" in webpage.validate_options({})[0]
    assert any("not a CSS selector" in p for p in webpage.validate_options({"item": "div[["}))
    assert webpage.validate_options(OPTIONS) == []
