"""Statement pages without a feed, at the parser level: the listing read with configured CSS
selectors, each statement page's main text and its own date with where it was found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.models import Request, Source
from archiver.platforms import ParseError, statement, webpage
from archiver.view import ArchiveView
from tests.official_fixtures import PARTY_OPTIONS, STATEMENT_BODY, exchange, listing_page, party_source, statement_page

FIXTURES = Path(__file__).parent / "fixtures"
LISTING = "https://party.example/en/statements"
OPTIONS = PARTY_OPTIONS
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
                                              ("json-ld", "json-ld:datePublished"), ("time", "article time[datetime]")])
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


def test_the_next_listing_page_is_followed_up_to_max_pages(view: ArchiveView) -> None:
    page = listing_page(ROWS, next_href="/en/statements?page=1")
    paged = source(next="nav.pager a[rel=next]", max_pages=2)
    first = webpage.parse(paged, Request(LISTING), exchange(LISTING, page), view).follow
    assert (first[-1].url, first[-1].purpose, first[-1].meta_dict()) == (
        "https://party.example/en/statements?page=1", "listing", {"page": 2})
    second = webpage.parse(paged, first[-1], exchange(first[-1].url, page), view).follow
    assert all(r.purpose == "item" for r in second)  # page 2 of 2: no further listing page
    assert all(r.purpose == "item" for r in webpage.parse(source(), Request(LISTING),
                                                          exchange(LISTING, page), view).follow)
    empty = webpage.parse(paged, first[-1], exchange(first[-1].url, listing_page([])), view)
    assert empty.follow == []  # an empty later page ends the listing; only the first must show entries


def test_listing_page_end_to_end_with_recheck_edit_and_removal(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    cards = [("/en/statements/ceasefire-now", "Ceasefire now", "2026-06-01T09:00:00Z"),
             ("/en/statements/on-the-elections", "On the elections", "2026-05-28T12:00:00Z")]
    site.put("/en/statements", listing_page(cards))
    site.put("/en/statements/ceasefire-now", statement_page("Ceasefire now", date=None))
    site.put("/en/statements/on-the-elections", statement_page("On the elections", date="2026-05-28T14:00:00+02:00"))
    config, db = party_source(site, tmp_path, {**OPTIONS, "recheck": True})

    first = fetch(config, db, "party")
    assert first.exit_code == 0 and "new 2" in first.output, first.output
    posts = rows(db, "SELECT native_id, author_name, published_at, published_where FROM posts ORDER BY id")
    assert posts == [
        (site.url("/en/statements/ceasefire-now"), "Example Party", "2026-06-01T09:00:00.000000Z",
         "listing:time[datetime]"),
        (site.url("/en/statements/on-the-elections"), "Example Party", "2026-05-28T12:00:00.000000Z",
         "meta[property=article:published_time]")]
    assert rows(db, "SELECT count(*) FROM versions WHERE raw LIKE '<div class=\"views-row\">%'")[0][0] == 2

    unchanged = fetch(config, db, "party")  # recheck: the pages answer 304, nothing new
    assert "new 0, edited 0, deleted 0" in unchanged.output, unchanged.output

    # an edit that does not show in the listing: recheck still reads the page
    site.put("/en/statements/ceasefire-now",
             statement_page("Ceasefire now", STATEMENT_BODY.replace("without delay", "immediately"), date=None))
    third = fetch(config, db, "party")
    assert "new 0, edited 1, deleted 0" in third.output, third.output
    site.put("/en/statements", listing_page(cards[:1]))
    site.remove("/en/statements/on-the-elections")
    fourth = fetch(config, db, "party")
    assert "edited 0, deleted 1" in fourth.output, fourth.output
    texts = [t for (t,) in rows(db, "SELECT v.text FROM versions v JOIN posts p ON p.id = v.post_id "
                                    "WHERE p.native_id LIKE '%ceasefire-now' ORDER BY v.number")]
    assert len(texts) == 2 and "without delay" in texts[0] and "immediately" in texts[1]
    assert rows(db, "SELECT e.type, c.requested_url, c.status FROM events e JOIN captures c ON c.id = e.capture_id "
                    "WHERE e.type IN ('edited', 'deleted') ORDER BY e.id") == [
        ("edited", site.url("/en/statements/ceasefire-now"), 200),
        ("deleted", site.url("/en/statements/on-the-elections"), 404)]


def test_a_paged_listing_end_to_end_with_a_loop_and_entries_moving_to_page_two(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    cards = [(f"/en/statements/s{n}", f"Statement {n}", f"2026-06-{n:02d}T09:00:00Z") for n in range(9, 0, -1)]
    for href, title, _ in cards:
        site.put(href, statement_page(title, date=None))

    def publish(newest_first: list[tuple[str, str, str]]) -> None:
        # three entries a page; the last page's "next" points back at the first (a pager bug seen in the wild)
        pages = [newest_first[i:i + 3] for i in range(0, len(newest_first), 3)]
        for number, entries in enumerate(pages):
            following = f"/en/statements?page={number + 1}" if number + 1 < len(pages) else "/en/statements"
            site.put("/en/statements" + (f"?page={number}" if number else ""), listing_page(entries, following))

    publish(cards[1:])  # s8 … s1 on three pages
    config, db = party_source(site, tmp_path, {**OPTIONS, "next": "nav.pager a[rel=next]", "max_pages": 5})
    first = fetch(config, db, "party")
    assert first.exit_code == 0 and "new 8" in first.output, first.output
    assert site.hits.count("/en/statements") == 1  # the loop back to page 1 is not followed again

    publish(cards)  # s9 is published: s6 moves from page 1 to page 2, s3 from page 2 to page 3
    second = fetch(config, db, "party")
    assert "new 1, edited 0, deleted 0" in second.output, second.output
    assert rows(db, "SELECT count(*) FROM events WHERE type IN ('missing', 'deleted')") == [(0,)]
    assert rows(db, "SELECT count(*), min(status) FROM posts") == [(9, "live")]


def test_a_page_that_left_the_listing_and_shows_no_statement_is_missing(archive: Archive, view: ArchiveView) -> None:
    src = source()
    listing = webpage.parse(src, Request(LISTING), exchange(LISTING, listing_page(ROWS)), view)
    archive.record(exchange(LISTING, listing_page(ROWS)), listing.observation, source_id=src.id)
    item = listing.follow[0]
    page = exchange(item.url, statement_page("Ceasefire now"))
    archive.record(page, webpage.parse(src, item, page, view).observation, source_id=src.id)
    confirm, = webpage.parse(src, Request(LISTING), exchange(LISTING, listing_page(ROWS[1:])), view).follow[-1:]
    assert (confirm.url, confirm.purpose) == (item.url, "confirm")
    soft_404 = exchange(item.url, b"<html><body><nav><a href='/'>Home</a></nav></body></html>",
                        final_url="https://party.example/en/statements")
    gone = webpage.parse(src, confirm, soft_404, view).observation.gone
    assert [(g.platform, g.native_id, g.confirmed) for g in gone] == [("web", item.url, False)]
    result = archive.record(soft_404, webpage.parse(src, confirm, soft_404, view).observation, source_id=src.id)
    assert result.missing == 1
    back = webpage.parse(src, confirm, page, view).observation
    assert archive.record(page, back, source_id=src.id).restored == 1


def test_a_listing_with_unreadable_entries_looks_for_no_removals(archive: Archive, view: ArchiveView) -> None:
    src = source()
    listing = webpage.parse(src, Request(LISTING), exchange(LISTING, listing_page(ROWS)), view)
    archive.record(exchange(LISTING, listing_page(ROWS)), listing.observation, source_id=src.id)
    for item in listing.follow:
        page = exchange(item.url, statement_page(item.meta_dict()["title"]))
        archive.record(page, webpage.parse(src, item, page, view).observation, source_id=src.id)
    # the second card lost its link in a half-rendered page: it has not left the listing
    broken = listing_page(ROWS).replace(b'<a href="https://party.example/en/statements/on-the-elections">', b"<span>")
    parsed = webpage.parse(src, Request(LISTING), exchange(LISTING, broken), view)
    assert [r.purpose for r in parsed.follow] == []
    assert parsed.problems == [f"{LISTING}: 1 of 2 entries have no link to a page (selector 'h3 a')"]
    assert parsed.observation.state == {}  # the remembered listing is not replaced by a partial one


_RELATED = {"@type": "ItemList", "itemListElement": [
    {"@type": "ListItem", "item": {"@type": "NewsArticle", "datePublished": "2026-05-01T09:00:00Z"}}]}


@pytest.mark.parametrize(("blocks", "expected"), [
    # Yoast's graph: the site, the page, the article, then related articles; the article's date wins
    ([{"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "name": "Ministry"}, {"@type": "WebPage", "datePublished": "2026-06-03T08:00:00Z"},
        {"@type": "NewsArticle", "datePublished": "2026-06-03T10:00:00+02:00"}, _RELATED]}],
     "2026-06-03T10:00:00+02:00"),
    # a page whose own entity has no date: a review's or a related article's is not the page's
    ([{"@type": "Recipe", "review": [{"@type": "Review", "datePublished": "2017-12-10"}]}, _RELATED], None),
    # several blocks: the first that dates the page, its kind given as a URL and in a list
    ([{"@type": "BreadcrumbList"}, [{"@type": ["https://schema.org/Report"], "datePublished": "2026-06-02"}]],
     "2026-06-02"),
    ([{"@type": "WebPage", "mainEntity": {"@type": "PressRelease", "datePublished": "2026-06-01"}}], "2026-06-01"),
])
def test_the_json_ld_date_is_the_page_s_own_entity_s(blocks: list, expected: str | None) -> None:
    """JSON-LD was searched depth first, last value first: a related article's or a review's date could
    be taken for the statement's when it came later in the block or the page's own entity had none."""
    scripts = "".join(f'<script type="application/ld+json">{json.dumps(block)}</script>' for block in blocks)
    page = statement_page("Statement", date=None).decode().replace("</head>", scripts + "</head>")
    facts = statement.read_page("https://ministry.example/en/statement", page)
    if expected:
        assert (facts.published_raw, facts.published_where) == (expected, "json-ld:datePublished")
    else:
        assert facts.published_where != "json-ld:datePublished"  # (htmldate, the marked last resort, may guess)


def test_links_resolve_against_the_page_s_base_as_a_browser_resolves_them(view: ArchiveView) -> None:
    """A real SPIP page (la-bas.org, from htmldate's test pages) writes `<base href="https://la-bas.org/">`
    and links relative to it. Resolved against the page's own URL, every one pointed at a page that
    does not exist (…/chroniques/la-bas-magazine/…), so no statement it lists was ever archived."""
    import gzip

    html = gzip.decompress((FIXTURES / "htmldate" / "pages" / "la-bas.org.porte.html.gz").read_bytes())
    url = "https://la-bas.org/la-bas-magazine/chroniques/Didier-Porte-souhaite-la-Sante-a-Balkany"
    src = Source(id="labas", kind="webpage", locator=url, options={"item": "a.wrap[rel=bookmark]", "link": ""})
    followed = [request.url for request in webpage.parse(src, Request(url), exchange(url, html), view).follow]
    assert "https://la-bas.org/la-bas-magazine/chroniques/didier-porte-speciale-balkany" in followed
    assert len(followed) == 20 and not [u for u in followed if "/chroniques/la-bas-magazine/" in u]


def test_a_listing_written_relative_to_its_base_is_archived_end_to_end(httpserver, tmp_path: Path) -> None:
    """Over HTTP into SQLite: a Contao-style listing (`<base href>` at the site's root, links and the
    pager relative to it) archives its statements and reads its second page."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    based = f'<head><base href="{site.url("/")}">'
    first = listing_page([("en/statements/ceasefire-now", "Ceasefire now", "2026-06-01T09:00:00Z")],
                         next_href="en/statements/index.html?page=2")
    site.put("/en/statements/index.html", first.decode().replace("<head>", based).encode())
    second = listing_page([("en/statements/on-the-elections", "On the elections", "2026-05-28T12:00:00Z")])
    site.put("/en/statements/index.html?page=2", second.decode().replace("<head>", based).encode())
    site.put("/en/statements/ceasefire-now", statement_page("Ceasefire now", date=None))
    site.put("/en/statements/on-the-elections", statement_page("On the elections", date=None))
    config, db = party_source(site, tmp_path, {**OPTIONS, "next": "nav.pager a[rel=next]", "max_pages": 2},
                              path="/en/statements/index.html")
    result = fetch(config, db, "party")
    assert result.exit_code == 0 and "new 2" in result.output, result.output
    assert rows(db, "SELECT native_id FROM posts ORDER BY id") == [
        (site.url("/en/statements/ceasefire-now"),), (site.url("/en/statements/on-the-elections"),)]


def test_page_dates_from_json_ld_and_from_htmldate_end_to_end(httpserver, tmp_path: Path) -> None:
    """Over HTTP into SQLite: a statement whose JSON-LD graph lists a related article after it, and one
    dated only by its footer's copyright year. The first keeps its own date; the second keeps the year,
    unread, not an invented 1 January."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    cards = [("/en/statements/graph", "Graph", "2026-06-01T09:00:00Z"),
             ("/en/statements/footer", "Footer", "2026-05-28T12:00:00Z")]
    site.put("/en/statements", listing_page(cards))
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "name": "Ministry"}, {"@type": "NewsArticle", "datePublished": "2026-06-03T10:00:00Z"},
        _RELATED]}
    with_graph = statement_page("Graph", date=None).decode().replace(
        "</head>", f'<script type="application/ld+json">{json.dumps(graph)}</script></head>')
    site.put("/en/statements/graph", with_graph.encode())
    site.put("/en/statements/footer", statement_page("Footer", date=None))
    config, db = party_source(site, tmp_path, {"item": "div.views-row", "link": "h3 a", "title": "h3"})
    result = fetch(config, db, "party")
    assert result.exit_code == 0 and "new 2" in result.output, result.output
    assert rows(db, "SELECT title, published_at, published_raw, published_where FROM posts ORDER BY id") == [
        ("Graph", "2026-06-03T10:00:00.000000Z", "2026-06-03T10:00:00Z", "json-ld:datePublished"),
        ("Footer", None, "2026", "htmldate [not read: an ISO 8601 form these rules do not read]")]


def test_a_related_posts_date_in_the_page_is_not_the_statements_end_to_end(httpserver, tmp_path: Path) -> None:
    """Over HTTP into SQLite: a real blog post (htmldate's mediapart test page) whose <main> holds an
    <aside> of related posts, each with its <time>; the listing dates it as htmldate's tests do."""
    import gzip

    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    site.put("/en/statements", listing_page([("/en/statements/violences", "Violences", "2019-06-27")]))
    site.put("/en/statements/violences", gzip.decompress(
        (FIXTURES / "htmldate" / "pages" / "mediapart.fr.violences.html.gz").read_bytes()), "text/html; charset=utf-8")
    config, db = party_source(site, tmp_path, {"item": "div.views-row", "link": "h3 a", "title": "h3", "date": "time"})
    result = fetch(config, db, "party")
    assert result.exit_code == 0 and "new 1" in result.output, result.output
    (published, where), = rows(db, "SELECT published_at, published_where FROM posts")
    assert published.startswith("2019-06-27") and where.startswith(("listing:", "htmldate")), where


def test_a_us_sites_numeric_date_is_read_month_first_end_to_end(httpserver, tmp_path: Path) -> None:
    """Over HTTP into SQLite: a statement dated only in its text, all-numeric (htmldate's test line
    "Stand: 03.04.2019"), from a source that states `date_order = "MDY"`: 4 March, not htmldate's 3 April."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    site.put("/en/statements", listing_page([("/en/statements/stand", "Stand", "")]))  # no date: none is read
    page = statement_page("Stand", date=None).decode().replace("</article>", "<p>Stand: 03.04.2019</p></article>")
    site.put("/en/statements/stand", page.encode())
    config, db = party_source(site, tmp_path, {"item": "div.views-row", "link": "h3 a", "title": "h3",
                                               "date_order": "MDY"})
    result = fetch(config, db, "party")
    assert result.exit_code == 0 and "new 1" in result.output, result.output
    assert rows(db, "SELECT published_at, published_raw FROM posts") == [("2019-03-04T00:00:00.000000Z", "03.04.2019")]


@pytest.mark.parametrize(("asked", "final", "index"), [
    ("https://gov.example/en/statements/x", "https://gov.example/", True),
    ("https://gov.example/en/statements/x", "https://gov.example/en/", True),
    ("https://gov.example/en/statements/x", "https://gov.example/en/statements/", True),
    ("https://gov.example/en/statements/x", "https://gov.example/en/statements?page=1", True),  # the listing
    ("https://gov.example/story/101?utm_source=rss", "https://gov.example/story/101", False),  # tracking dropped
    ("https://gov.example/en/statements/x/amp", "https://gov.example/en/statements/x", False),
    ("https://old.example/en/statements/x", "https://new.example/", True),
    ("https://gov.example/en/statements/x", None, False),
    ("https://gov.example/en/statements/x", "https://gov.example/en/statements/x", False),
    ("https://gov.example/en/statements/x", "https://gov.example/en/statements/x-renamed", False),  # a move
    ("https://gov.example/en/statements/x/index.html", "https://gov.example/en/statements/x/", False),
    ("https://gov.example/en/statements/x/", "https://gov.example/en/statements/x", False),
    ("https://old.example/en/statements/x", "https://new.example/en/statements/x", False),  # a domain move
    ("https://gov.example/statements/x", "https://gov.example/en/statements/x", False),  # a locale prefix
    ("https://gov.example/node/5", "https://gov.example/en/statements/ceasefire", False),
    ("https://gov.example/?p=123", "https://gov.example/2026/06/ceasefire/", False),  # a WordPress short link
    ("https://gov.example/?p=123", "https://gov.example/", True),
])
def test_a_redirect_to_the_home_page_or_a_listing_is_told_from_a_move(asked: str, final: str | None,
                                                                     index: bool) -> None:
    from archiver.platforms.listing import redirected_to_index

    assert redirected_to_index(asked, final, "https://gov.example/en/statements?page=1") is index


def test_a_removed_statement_redirected_home_is_missing_and_the_home_page_no_statement(httpserver,
                                                                                       tmp_path: Path) -> None:
    """Over loopback into SQLite: two statements leave the listing, one now redirected (301) to the home
    page, one to the listing. Neither target is archived as a statement; both are `missing` (a redirect
    is no confirmation), and a listed entry that redirects home is a problem line, not a post."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    cards = [("/en/statements/ceasefire-now", "Ceasefire now", "2026-06-01T09:00:00Z"),
             ("/en/statements/on-the-elections", "On the elections", "2026-05-28T12:00:00Z"),
             ("/en/statements/on-the-budget", "On the budget", "2026-05-20T12:00:00Z")]
    site.put("/", statement_page("Welcome to the Example Party", date=None))
    site.put("/en/statements", listing_page(cards))
    for href, title, _ in cards:
        site.put(href, statement_page(title, date=None))
    config, db = party_source(site, tmp_path)
    first = fetch(config, db, "party")
    assert first.exit_code == 0 and "new 3" in first.output, first.output

    site.put("/en/statements", listing_page([*cards[:1], ("/en/statements/renamed", "Renamed", "2026-05-19")]))
    site.move("/en/statements/on-the-elections", "/")
    site.move("/en/statements/on-the-budget", "/en/statements")
    site.move("/en/statements/renamed", "/")
    second = fetch(config, db, "party")
    assert "new 0, edited 0, deleted 0" in second.output and "partial" in second.output, second.output
    assert "renamed redirects to" in second.output and "no statement to archive" in second.output
    assert rows(db, "SELECT native_id, status FROM posts ORDER BY id") == [
        (site.url(href), status) for (href, _, _), status in zip(cards, ("live", "missing", "missing"),
                                                                strict=True)]
    assert rows(db, "SELECT json_extract(e.details, '$.reason') FROM events e WHERE e.type = 'missing' "
                    "ORDER BY e.id") == [
        (f"{site.url('/en/statements/on-the-elections')} redirects to {site.url('/')} after it left the listing",),
        (f"{site.url('/en/statements/on-the-budget')} redirects to {site.url('/en/statements')} after it left "
         "the listing",)]


def test_session_ids_servers_write_into_links_are_no_part_of_a_statement_s_identity(httpserver,
                                                                                   tmp_path: Path) -> None:
    """The archiver keeps no cookies, so a Java servlet writes a new `;jsessionid=` into every link of every
    listing it serves (ASP.NET a `/(S(…))/`, PHP a `PHPSESSID`). Over loopback into SQLite, two polls whose
    listings carry different session ids archive each statement once, under its address without the id."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    paths = ["/en/statements/ceasefire-now.jsp", "/en/statements/on-the-elections.jsp", "/en/statements/budget.php"]
    for path, title in zip(paths, ("Ceasefire now", "On the elections", "On the budget"), strict=True):
        site.put(path, statement_page(title, date="2026-06-01T09:00:00Z"))

    def listing(session: str) -> bytes:
        return listing_page([(f"{paths[0]};jsessionid={session}", "Ceasefire now", "2026-06-01T09:00:00Z"),
                             (f"/(S({session.lower()}))/{paths[1].lstrip('/')}", "On the elections", "2026-05-28"),
                             (f"{paths[2]}?PHPSESSID={session}", "On the budget", "2026-05-20")])

    site.put("/en/statements", listing("0A1B2C3D4E5F60718293A4B5C6D7E8F9"))
    config, db = party_source(site, tmp_path)
    first = fetch(config, db, "party")
    assert first.exit_code == 0 and "new 3" in first.output, first.output
    site.put("/en/statements", listing("F9E8D7C6B5A4938271605F4E3D2C1B0A"))
    second = fetch(config, db, "party")
    assert second.exit_code == 0 and "new 0, edited 0, deleted 0" in second.output, second.output
    assert rows(db, "SELECT native_id FROM posts ORDER BY id") == [(site.url(path),) for path in paths]
    assert [hit for hit in site.hits if "statements/" in hit] == paths  # each page read once, on the first poll


@pytest.mark.parametrize(("href", "url"), [
    ("/en/news;jsessionid=0A1B2C3D4E5F?id=5", "https://gov.example/en/news?id=5"),
    ("/en/item.jsp;JSESSIONID=ABC.node1#top", "https://gov.example/en/item.jsp"),
    ("/(S(lit3py55t21z5v55vlm25s55))/news/page.aspx?id=2", "https://gov.example/news/page.aspx?id=2"),
    ("/(X(1)S(lit3py55t21z5v55vlm25s55))/news.aspx", "https://gov.example/news.aspx"),
    ("/news.php?PHPSESSID=abc123&id=7", "https://gov.example/news.php?id=7"),
    ("/news?id=7&sid=4", "https://gov.example/news?id=7&sid=4"),  # not known to be a session: kept
    ("/a(b)/c;type=a?utm_source=rss", "https://gov.example/a(b)/c;type=a?utm_source=rss"),
])
def test_a_link_s_address_leaves_out_server_session_ids_only(href: str, url: str) -> None:
    from archiver.platforms.listing import absolute_http

    assert absolute_http("https://gov.example/", href) == url


def test_a_canonical_link_to_the_home_page_or_the_listing_does_not_merge_statements(httpserver,
                                                                                    tmp_path: Path) -> None:
    """A CMS template writing one `<link rel=canonical>` for every page (the site's home, the listing)
    made every statement one post, each an `edited` of the one before. Over loopback into SQLite: three
    statements so served are three posts under their own addresses, with no edit; a canonical to another
    page of the site still names the post, and the home page's own canonical is its own."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    cards = [("/en/statements/ceasefire-now", "Ceasefire now", "2026-06-01T09:00:00Z"),
             ("/en/statements/on-the-elections", "On the elections", "2026-05-28T12:00:00Z"),
             ("/en/statements/on-the-budget", "On the budget", "2026-05-20T12:00:00Z"),
             ("/en/statements/print/budget-2", "On the budget, printable", "2026-05-20T12:00:00Z")]
    canonicals = [site.url("/"), site.url("/en/"), site.url("/en/statements"), "/en/statements/on-the-budget-2"]
    site.put("/en/statements", listing_page(cards))
    for (href, title, _), canonical in zip(cards, canonicals, strict=True):
        site.put(href, statement_page(title, STATEMENT_BODY.replace("journalists", title), canonical=canonical))
    config, db = party_source(site, tmp_path)
    first = fetch(config, db, "party")
    assert first.exit_code == 0 and "new 4, edited 0" in first.output, first.output
    assert rows(db, "SELECT native_id FROM posts ORDER BY id") == [
        (site.url(href),) for href, _, _ in cards[:3]] + [(site.url("/en/statements/on-the-budget-2"),)]
    assert rows(db, "SELECT count(*) FROM events WHERE type = 'edited'") == [(0,)]
    home = statement.read_page(site.url("/en/"), statement_page("Welcome", canonical=site.url("/en/")).decode(),
                               site.url("/en/statements"))
    assert home.canonical == site.url("/en/")


def translated_page(title: str, body: str, lang: str | None, canonical: str, alternates: dict[str, str]) -> bytes:
    """A statement of a multilingual site: its `<html lang>`, its canonical link and its `hreflang`
    alternates, as multilingual CMS plugins write them."""
    page = statement_page(title, body, date=None, canonical=canonical).decode()
    links = "".join(f'<link rel="alternate" hreflang="{language}" href="{href}">'
                    for language, href in alternates.items())
    page = page.replace("</head>", links + "</head>", 1)
    return page.replace('<html lang="en">', f'<html lang="{lang}">' if lang else "<html>", 1).encode()


@pytest.mark.parametrize("order", [("en", "fr"), ("fr", "en")])
def test_a_translation_naming_the_original_as_canonical_is_its_own_statement(httpserver, tmp_path: Path,
                                                                             order: tuple[str, str]) -> None:
    """Over loopback into SQLite: a ministry's English statement and its French translation, both listed;
    the translation's canonical link names the English page (a multilingual plugin's mistake), while its
    `hreflang` alternates say which page is in which language. Whichever is read first, they are two
    statements, and neither is an edit of the other."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    pages = {"en": ("/en/statements/ceasefire-now", "Ceasefire now", STATEMENT_BODY),
             "fr": ("/fr/declarations/cessez-le-feu", "Cessez-le-feu",
                    "<p>Le ministère appelle à un cessez-le-feu immédiat et à la protection des civils, "
                    "des journalistes et des travailleurs humanitaires dans toute la région.</p>" * 3)}
    alternates = {language: site.url(href) for language, (href, _, _) in pages.items()}
    site.put("/en/statements", listing_page([(pages[language][0], pages[language][1], "2026-06-01")
                                             for language in order]))
    for language, (href, title, body) in pages.items():
        site.put(href, translated_page(title, body, language, alternates["en"], alternates))
    config, db = party_source(site, tmp_path)
    first = fetch(config, db, "party")
    assert first.exit_code == 0 and "new 2, edited 0" in first.output, first.output
    assert sorted(rows(db, "SELECT native_id, version_count FROM posts")) == sorted(
        (alternates[language], 1) for language in pages)


@pytest.mark.parametrize(("lang", "alternates", "taken"), [
    ("fr", {"en": "https://m.example/en/s", "fr": "https://m.example/fr/s"}, False),
    (None, {"en-GB": "https://m.example/en/s", "fr-FR": "https://m.example/fr/s"}, False),  # its own alternate's
    ("fr", {"x-default": "https://m.example/en/s", "fr": "https://m.example/fr/s"}, True),  # x-default: no language
    ("en-US", {"en-GB": "https://m.example/en/s", "fr": "https://m.example/fr/s"}, True),  # one language
    ("fr", {}, True),  # no alternates: nothing says the canonical is another language's
])
def test_a_canonical_is_refused_only_where_the_alternates_name_it_another_language(
        lang: str | None, alternates: dict[str, str], taken: bool) -> None:
    page = translated_page("Cessez-le-feu", STATEMENT_BODY, lang, "https://m.example/en/s", alternates).decode()
    canonical = statement.read_page("https://m.example/fr/s", page).canonical
    assert canonical == ("https://m.example/en/s" if taken else "https://m.example/fr/s")


@pytest.mark.parametrize("file", ["austria.info.radfahren", "viehbacher.com.steuerrecht", "reuters.com.parasite",
                                  "vice.com.amazon", "viehbacher.com.forderungsbetreibung", "psl.eu.luniversite"])
def test_real_multilingual_pages_keep_their_canonical(file: str) -> None:
    """Real pages of the trafilatura and htmldate sets that write `hreflang` alternates: reached by
    another link of their site, each is still known by its canonical URL."""
    from urllib.parse import urlsplit

    from selectolax.lexbor import LexborHTMLParser

    from tests.test_statement_eval import FIXTURES, _html

    path = next(FIXTURES.glob(f"*/pages/{file}.html.gz"))
    html = _html(path)
    canonical = LexborHTMLParser(html).css_first("link[rel=canonical]").attributes["href"]
    parts = urlsplit(canonical)
    assert statement.read_page(f"{parts.scheme}://{parts.netloc}/reached/by/another/link", html).canonical == canonical


@pytest.mark.parametrize(("page", "canonical", "taken"), [
    ("https://ministry.example/en/s/1", "https://www.ministry.example/en/s/1", True),  # the site's www name
    ("https://www.ministry.example/en/s/1", "http://ministry.example/en/s/1", True),
    ("https://ministry.example/en/s/1", "https://ministry.example/en/s/1?lang=en", True),
    ("https://ministry.example/en/s/1", "https://news.ministry.example/en/s/1", False),  # another host
    ("https://ministry.example/en/s/1", "https://mirror.example/en/s/1", False),
])
def test_a_canonical_link_is_taken_on_the_page_s_own_site(page: str, canonical: str, taken: bool) -> None:
    """A site served under `www.host` and `host` names one of them canonical (archiver.sites): that is
    the page's own address; another host's is a claim the archive does not take."""
    html = statement_page("Ceasefire now", canonical=canonical).decode()
    assert statement.read_page(page, html).canonical == (canonical if taken else page)


@pytest.mark.parametrize(("furniture", "left_out"), [
    ("3 hours ago", True), ("Posted 12 minutes ago", True), ("- an hour ago", True), ("5d ago", True),
    ("just now", True), ("il y a 2 jours", True), ("vor 5 Minuten", True), ("hace 3 horas", True),
    ("há 2 dias", True), ("3 ore fa", True), ("2 часа назад", True),
    ("| Heute | 29 |\n| Gestern | 21 |\n| Woche | 29 |\n| Monat | 220 |\n| Total | 77776 |", True),
    ("Today's visitors: 12\nTotal visitors: 1,234", True),
    ("3 hours ago, the minister met the envoy.", False), ("Hier", False), ("Ten years ago", False),
    ("| Total | 77776 |", False),  # a total alone is a table's, not a counter's
    ("| Revenue | 100 |\n| Total | 200 |", False), ("| Week | 3 |\n| Month | 12 |", False),
])
def test_page_furniture_that_changes_by_itself_is_left_out_and_nothing_else(furniture: str, left_out: bool) -> None:
    """A relative time, which a re-read a day later says otherwise, and a block of visitor statistics,
    which every visit moves, would make every re-read an edit; text that only looks like them stays."""
    body = f"{STATEMENT_BODY}<p>{furniture.replace(chr(10), '</p><p>')}</p>" if "|" not in furniture else (
        STATEMENT_BODY + "<table>" + "".join(
            "<tr>" + "".join(f"<td>{cell.strip()}</td>" for cell in row.strip("| ").split("|")) + "</tr>"
            for row in furniture.split("\n")) + "</table>")
    text = statement.read_page("https://ministry.example/s/1", statement_page("Ceasefire now", body).decode()).text
    plain = statement.read_page("https://ministry.example/s/1", statement_page("Ceasefire now").decode()).text
    first = furniture.split("\n")[0].strip("|- ").split("|")[0].strip()
    assert (text == plain) is left_out and (first not in text) is left_out, text


def test_a_re_read_page_whose_relative_time_moved_is_no_edit(httpserver, tmp_path: Path) -> None:
    """Over loopback into SQLite, with `recheck`: the page says how long ago it was posted; a day later
    it says so otherwise, which is no edit; a changed sentence is."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    site.put("/en/statements", listing_page([("/en/statements/ceasefire-now", "Ceasefire now", "2026-06-01")]))

    def page(ago: str, body: str = STATEMENT_BODY) -> bytes:
        return statement_page("Ceasefire now", f'<p><span class="posted">{ago}</span></p>{body}')

    site.put("/en/statements/ceasefire-now", page("3 hours ago"))
    config, db = party_source(site, tmp_path, {**OPTIONS, "recheck": True})
    assert "new 1" in fetch(config, db, "party").output
    site.put("/en/statements/ceasefire-now", page("1 day ago"))
    assert "new 0, edited 0" in fetch(config, db, "party").output
    site.put("/en/statements/ceasefire-now", page("2 days ago", STATEMENT_BODY.replace("without delay", "at once")))
    edited = fetch(config, db, "party")
    assert "new 0, edited 1" in edited.output, edited.output
    assert "ago" not in rows(db, "SELECT text FROM posts")[0][0]
    assert rows(db, "SELECT json_extract(details, '$.changed') FROM events WHERE type = 'edited'") == [('["text"]',)]


JOOMLA_HITS = ('<dl class="article-info muted"><dt class="article-info-term">Details</dt><dd class="createdby">'
               'Written by Press Office</dd><dd class="hits"><span class="fa fa-eye-o" aria-hidden="true"></span>'
               '<meta itemprop="interactionCount" content="UserPageVisits:{n}">Hits: {n}</dd></dl>')
COUNTERS = {  # the markup of Joomla's own hits layout and of WordPress's Post Views Counter plugin
    "joomla": lambda n: statement_page("Ceasefire now").decode().replace("<h1>", JOOMLA_HITS.format(n=n) + "<h1>"),
    "wordpress": lambda n: statement_page("Ceasefire now").decode().replace(
        "</article>", '<div class="post-views content-post post-123 entry-meta"><span class="post-views-icon '
                      'dashicons dashicons-chart-bar"></span><span class="post-views-label">Post Views:</span> '
                      f'<span class="post-views-count">{n:,}</span></div></article>'),
    "a news-views class": lambda n: statement_page("Ceasefire now").decode().replace(
        "</article>", f'<div class="news-detail-views">Просмотров: {n}</div></article>'),
}


@pytest.mark.parametrize("cms", COUNTERS)
def test_a_page_view_counter_is_no_part_of_a_statement_s_text(cms: str) -> None:
    first = statement.read_page("https://ministry.example/en/s", COUNTERS[cms](1234)).text
    again = statement.read_page("https://ministry.example/en/s", COUNTERS[cms](1290)).text
    assert first == again and "1234" not in first and "1,234" not in first
    assert "release the detained journalists" in first


def test_an_element_of_a_counter_class_with_more_than_a_count_is_kept() -> None:
    said = ("The committee's views: 12 of the 15 recommendations made in 2024 remain unimplemented, "
            "and the Government has not answered the letter of 3 March.")
    page = statement_page("Ceasefire now", STATEMENT_BODY + f'<p class="views">{said}</p>').decode()
    assert said in statement.read_page("https://ministry.example/en/s", page).text


def test_rechecks_of_a_page_whose_hit_counter_moved_record_no_edit(httpserver, tmp_path: Path) -> None:
    """Over loopback into SQLite, with `recheck`: a Joomla statement page whose "Hits: N" grows between
    polls, then a real edit of its text. Only the edit is recorded."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    site.put("/en/statements", listing_page([("/en/statements/ceasefire-now", "Ceasefire now", "2026-06-01")]))
    site.put("/en/statements/ceasefire-now", COUNTERS["joomla"](1234).encode())
    config, db = party_source(site, tmp_path, {**OPTIONS, "recheck": True})
    assert "new 1" in fetch(config, db, "party").output
    site.put("/en/statements/ceasefire-now", COUNTERS["joomla"](1290).encode())
    counted = fetch(config, db, "party")
    assert "new 0, edited 0" in counted.output, counted.output
    site.put("/en/statements/ceasefire-now",
             COUNTERS["joomla"](1301).replace("without delay", "immediately").encode())
    edited = fetch(config, db, "party")
    assert "new 0, edited 1" in edited.output, edited.output
    assert rows(db, "SELECT count(*) FROM versions") == [(2,)]


@pytest.mark.parametrize(("body", "reading"), [
    (STATEMENT_BODY.replace("without delay", "when conditions allow"), "whose text differs from the archived one"),
    (STATEMENT_BODY, "which reads as the archived text"),
])
def test_a_statement_whose_address_redirects_to_another_is_missing_and_says_where(
        httpserver, tmp_path: Path, body: str, reading: str) -> None:
    """Over loopback into SQLite: the site is rebuilt under new addresses; the listing names the new one
    and the old one answers 301 to it, the text edited on the way or not. The archived statement is
    `missing`, its reason naming where its address leads and whether the page there reads as its text;
    that page is its own post; nothing is an edit, nothing deleted, and verify agrees."""
    from click.testing import CliRunner

    from archiver.cli import main
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    old, new = "/news/2026/06/ceasefire-now.html", "/en/news/ceasefire-now"
    site.put("/en/statements", listing_page([(old, "Ceasefire now", "2026-06-01")]))
    site.put(old, statement_page("Ceasefire now", date=None))
    config, db = party_source(site, tmp_path)
    assert "new 1" in fetch(config, db, "party").output
    site.put("/en/statements", listing_page([(new, "Ceasefire now", "2026-06-01")]))
    site.remove(old)
    site.move(old, new)
    site.put(new, statement_page("Ceasefire now", body, date=None))
    moved = fetch(config, db, "party")
    assert moved.exit_code == 0 and "new 1, edited 0, deleted 0" in moved.output, moved.output
    assert rows(db, "SELECT native_id, status, version_count FROM posts ORDER BY id") == [
        (site.url(old), "missing", 1), (site.url(new), "live", 1)]
    assert rows(db, "SELECT post_id, type, json_extract(details, '$.reason') FROM events "
                "WHERE type != 'first_seen'") == [
        (1, "missing", f"{site.url(old)} redirects to {site.url(new)} after it left the listing, archived as the "
                       f"statement {site.url(new)}, {reading}")]
    assert "new 0, edited 0, deleted 0" in fetch(config, db, "party").output
    assert rows(db, "SELECT count(*) FROM events") == [(3,)]
    assert CliRunner().invoke(main, ["verify", "--db", str(db)]).exit_code == 0


def test_a_site_that_adds_a_trailing_slash_to_its_addresses_keeps_each_statement(httpserver, tmp_path: Path) -> None:
    """Over loopback into SQLite: the CMS now writes every address with a trailing `/` (the listing's
    links, each page's canonical) and answers 301 from the old ones. Each statement keeps its post: an
    edit made meanwhile is an edit of it, nothing is missing and nothing new."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    cards = [("/en/statements/ceasefire-now", "Ceasefire now", "2026-06-01"),
             ("/en/statements/on-the-elections", "On the elections", "2026-05-28")]
    site.put("/en/statements", listing_page(cards))
    for href, title, _ in cards:
        site.put(href, statement_page(title, date=None, canonical=site.url(href)))
    config, db = party_source(site, tmp_path)
    assert "new 2" in fetch(config, db, "party").output
    held = rows(db, "SELECT id, native_id FROM posts ORDER BY id")
    site.put("/en/statements", listing_page([(f"{href}/", title, day) for href, title, day in cards]))
    for (href, title, _), body in zip(cards, (STATEMENT_BODY.replace("without delay", "at once"), STATEMENT_BODY),
                                      strict=True):
        site.remove(href)
        site.move(href, f"{href}/")
        site.put(f"{href}/", statement_page(title, body, date=None, canonical=site.url(f"{href}/")))
    moved = fetch(config, db, "party")
    assert moved.exit_code == 0 and "new 0, edited 1, deleted 0" in moved.output, moved.output
    assert rows(db, "SELECT id, native_id FROM posts ORDER BY id") == held
    assert rows(db, "SELECT status, version_count FROM posts ORDER BY id") == [("live", 2), ("live", 1)]
    assert rows(db, "SELECT count(*) FROM events WHERE type = 'missing'") == [(0,)]


def test_a_site_moving_between_http_and_https_keeps_each_statement_s_identity(httpserver, tmp_path: Path) -> None:
    """Over loopback into SQLite: statements archived under their `https://` canonical, then served with
    `http://` ones (the loopback site speaks http; moving the other way is the same rule). Each keeps its
    post and history, now at the address it is read from; an edit is an edit of that post."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    cards = [("/en/statements/ceasefire-now", "Ceasefire now", "2026-06-01"),
             ("/en/statements/on-the-elections", "On the elections", "2026-05-28")]
    secure = {href: site.url(href).replace("http://", "https://") for href, _, _ in cards}
    site.put("/en/statements", listing_page(cards))
    for href, title, _ in cards:
        site.put(href, statement_page(title, date=None, canonical=secure[href]))
    config, db = party_source(site, tmp_path, {**OPTIONS, "recheck": True})
    assert "new 2" in fetch(config, db, "party").output
    assert [native for (native,) in rows(db, "SELECT native_id FROM posts ORDER BY id")] == list(secure.values())
    site.put(cards[0][0], statement_page(cards[0][1], STATEMENT_BODY.replace("without delay", "immediately"),
                                         date=None, canonical=site.url(cards[0][0])))
    site.put(cards[1][0], statement_page(cards[1][1], date=None, canonical=site.url(cards[1][0])))
    moved = fetch(config, db, "party")
    assert "new 0, edited 1, deleted 0" in moved.output, moved.output
    assert rows(db, "SELECT native_id, url, version_count FROM posts ORDER BY id") == [
        (secure[cards[0][0]], site.url(cards[0][0]), 2), (secure[cards[1][0]], secure[cards[1][0]], 1)]


@pytest.mark.parametrize("counted", [1, 4], ids=["comments", "visitors"])
def test_rechecks_of_a_real_page_whose_count_moved_record_no_edit(httpserver, tmp_path: Path, counted: int) -> None:
    """Over loopback into SQLite, with `recheck`: greenpeace.org's real page (htmldate's test set) lists
    blog entries each with its comment count, hundeverein-querfurt.de's shows its visitor statistics; a
    reader comments or visits, and the re-read page is no edit."""
    from tests.official_fixtures import Site, fetch, rows
    from tests.test_statement_eval import COUNTED, FIXTURES, _html

    folder, file, before, after = COUNTED[counted]
    html = _html(FIXTURES / folder / "pages" / f"{file}.gz")
    site = Site(httpserver)
    site.put("/en/statements", listing_page([("/en/statements/forests", "Forests", "2017-02-21")]))
    site.put("/en/statements/forests", html.encode())
    config, db = party_source(site, tmp_path, {**OPTIONS, "recheck": True})
    assert "new 1" in fetch(config, db, "party").output
    site.put("/en/statements/forests", html.replace(before, after, 1).encode())
    counted = fetch(config, db, "party")
    assert counted.exit_code == 0 and "new 0, edited 0" in counted.output, counted.output
    assert rows(db, "SELECT count(*) FROM versions") == [(1,)]
