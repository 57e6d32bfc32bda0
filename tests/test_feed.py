"""Feeds at the parser level: identity, dates and where they were found, raw fragments, following
links to statement pages, noticing entries that leave the feed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from archiver.archive import Archive
from archiver.models import Observation, Request, Source
from archiver.platforms import feed, feedtree
from archiver.view import ArchiveView
from tests.official_fixtures import STATEMENT_BODY, atom, exchange, rss, statement_page

FIXTURES = Path(__file__).parent / "fixtures"
FEED = "https://news.example.org/feed/rss.xml"
ITEMS = [("news-101", "https://news.example.org/story/101", "Expert urges release of journalists",
          "Tue, 02 Jun 2026 14:30:00 GMT", "<p>The expert <b>urged</b> the release.</p>"),
         ("https://news.example.org/?p=102", "https://news.example.org/story/102", "Council adopts resolution",
          "Wed, 03 Jun 2026 09:00:00 +0200", "Adopted by 30 votes.")]



def source(**options) -> Source:
    return Source(id="un-news", kind="feed", locator=FEED, organisation="United Nations", options=options)


def test_rss_items_become_posts_with_claimed_dates_and_raw_items(view: ArchiveView) -> None:
    parsed = feed.parse(source(), Request(FEED), exchange(FEED, rss(ITEMS), content_type="application/rss+xml"),
                        view)
    first, second = parsed.observation.posts
    assert (first.platform, first.native_id) == ("feed", f"{FEED}#news-101")  # a bare guid is scoped to its feed
    assert second.native_id == "https://news.example.org/?p=102"
    assert first.url == "https://news.example.org/story/101"
    assert first.versions[0].title == "Expert urges release of journalists"
    assert first.versions[0].text == "The expert urged the release."
    assert first.versions[0].raw.startswith("<item") and "news-101" in first.versions[0].raw
    assert (first.published_at, first.published_raw, first.published_where) == (
        "2026-06-02T14:30:00.000000Z", "Tue, 02 Jun 2026 14:30:00 GMT", "rss:pubDate")
    assert second.published_at == "2026-06-03T07:00:00.000000Z"  # normalised to UTC
    assert first.tags == ["Human rights"]
    assert parsed.follow == []


def test_entry_dates_the_shared_rules_refuse_are_kept_unread_and_not_guessed(view: ArchiveView) -> None:
    """Dates from feedparser's own date tests. Before: the first made the whole feed a failed page (a
    ValueError); feedparser's fallback read the second a day later than it could be, the third as
    2003-12-31 at midnight (its time dropped, not marked) and the fourth as an exact 1 January. Google's
    extra zero is a historic form only feedparser reads: still read by it, and marked so."""
    dates = ["Thu, 01 Jan 2004 24:48:21 GMT", "2003-12-31T25:14:55Z", "20031231T101455Z", "2003",
             "2003-012-31T10:14:55+00:00", "Thu, 01 Jan 2004 19:48:21 GMT"]
    items = [(f"d-{n}", f"https://news.example.org/story/{n}", f"Statement {n}", date, "Text.")
             for n, date in enumerate(dates)]
    posts = feed.parse(source(), Request(FEED), exchange(FEED, rss(items), content_type="application/rss+xml"),
                       view).observation.posts
    assert [(p.published_raw, p.published_at, p.published_where) for p in posts] == [
        (dates[0], None, "rss:pubDate [not read: a field is out of range]"),
        (dates[1], None, "rss:pubDate [not read: a field is out of range]"),
        (dates[2], "2003-12-31T10:14:55.000000Z", "rss:pubDate"),
        (dates[3], None, "rss:pubDate [not read: an ISO 8601 form these rules do not read]"),
        (dates[4], "2003-12-31T10:14:55.000000Z", "rss:pubDate [read by feedparser]"),
        (dates[5], "2004-01-01T19:48:21.000000Z", "rss:pubDate")]


def test_atom_entries_use_their_id_and_atom_published(view: ArchiveView) -> None:
    body = atom([("tag:ministry.example,2026:statement-7", "https://ministry.example/s/7", "Statement on talks",
                  "2026-06-01T08:00:00+03:00", "The minister said talks would resume.")])
    post, = feed.parse(source(), Request(FEED), exchange(FEED, body), view).observation.posts
    assert post.native_id == "tag:ministry.example,2026:statement-7"
    assert (post.published_at, post.published_where) == ("2026-06-01T05:00:00.000000Z", "atom:published")
    assert post.versions[0].raw.startswith("<entry")


def test_declared_encoding_is_honoured() -> None:
    body = ('<?xml version="1.0" encoding="windows-1252"?><rss version="2.0"><channel><title>Ministère</title>'
            "<item><guid>https://x.example/1</guid><title>Déclaration du ministère – été</title>"
            "</item></channel></rss>").encode("cp1252")
    entries, version, _ = feed.read_feed(exchange(FEED, body, content_type="application/xml", charset=None), FEED)
    assert version == "rss20"
    assert entries[0][0]["title"] == "Déclaration du ministère – été"



@pytest.mark.parametrize(("declared", "content_type", "codec"), [
    ("ISO-8859-1", "application/rss+xml", "cp1252"),  # windows-1252 bytes declared Latin-1, the usual case
    ("utf-8", "application/rss+xml; charset=windows-1251", "cp1251"),  # the header outranks a stale declaration
])
def test_an_item_s_raw_xml_is_read_in_the_encoding_its_text_was(declared: str, content_type: str, codec: str,
                                                                view: ArchiveView) -> None:
    """The raw fragment kept beside each version was split by lxml from the bytes: it followed the XML
    declaration where feedparser followed the header, and read ISO-8859-1 as Latin-1 where feedparser
    reads windows-1252, so one version's raw item said \\x93 where its text said “."""
    title = "“Заявление” — an answer of 5 €" if codec == "cp1251" else "“Déclaration” — réponse de 5 €"
    body = (f'<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel><title>T</title><item>'
            f"<guid>https://x.example/1</guid><title>{title}</title><description>{title}</description>"
            "</item></channel></rss>").encode(codec)
    parsed = feed.parse(source(), Request(FEED), exchange(FEED, body, content_type=content_type, charset=codec), view)
    version = parsed.observation.posts[0].versions[0]
    assert version.title == title and f"<title>{title}</title>" in version.raw

def test_follow_links_asks_for_new_pages_and_reads_them_as_web_posts(archive: Archive, view: ArchiveView) -> None:
    src = source(follow_links=True)
    parsed = feed.parse(src, Request(FEED), exchange(FEED, rss(ITEMS)), view)
    assert parsed.observation.posts == []  # the pages, not the feed summaries, are the posts
    assert [r.url for r in parsed.follow] == [i[1] for i in ITEMS]
    assert all(r.purpose == "item" and not r.conditional for r in parsed.follow)
    archive.record(exchange(FEED, rss(ITEMS)), parsed.observation, source_id=src.id)

    page = statement_page("Expert urges release of journalists", canonical="https://news.example.org/story/101",
                          date="2026-06-02T16:30:00+02:00")
    item = parsed.follow[0]
    result = feed.parse(src, item, exchange(item.url + "?utm_source=rss", page), view)
    post, = result.observation.posts
    assert (post.platform, post.native_id) == ("web", "https://news.example.org/story/101")
    assert "release the detained journalists" in post.versions[0].text
    assert "Privacy" not in post.versions[0].text  # main text only, no footer
    assert (post.published_at, post.published_where) == ("2026-06-02T14:30:00.000000Z",
                                                          "meta[property=article:published_time]")
    assert post.versions[0].raw.startswith("<item")  # the feed item that led to the page
    assert post.tags == ["Human rights"]
    archive.record(exchange(item.url, page), result.observation, source_id=src.id)

    again = feed.parse(src, Request(FEED), exchange(FEED, rss(ITEMS)), view)
    assert [r.url for r in again.follow] == [ITEMS[1][1]]  # 101 is archived and unchanged
    edited = [(*ITEMS[0][:4], "<p>Corrected summary.</p>"), ITEMS[1]]
    changed = feed.parse(src, Request(FEED), exchange(FEED, rss(edited)), view)
    assert ITEMS[0][1] in [r.url for r in changed.follow]


def test_page_without_own_date_takes_the_feed_date(archive: Archive, view: ArchiveView) -> None:
    src = source(follow_links=True)
    item = feed.parse(src, Request(FEED), exchange(FEED, rss(ITEMS)), view).follow[0]
    post, = feed.parse(src, item, exchange(item.url, statement_page("T", date=None)), view).observation.posts
    assert (post.published_raw, post.published_where) == (ITEMS[0][3], "rss:pubDate")


def test_a_page_dated_by_its_atom_entry_s_updated_keeps_the_first_when_edited(archive: Archive,
                                                                             view: ArchiveView) -> None:
    """A linked page without a date of its own takes its entry's: from Atom's `updated` alone, the
    date an edit moves. Re-read after the edit, the page keeps the claim the archive holds."""
    src = source(follow_links=True)
    link = "https://news.example.org/story/101"

    def entry(updated: str) -> bytes:
        return atom([("tag:news.example.org,2026:101", link, "Expert urges release", updated, "Now.")]).replace(
            f"<published>{updated}</published>".encode(), b"")

    def read(updated: str, text: str) -> Observation:
        item = feed.parse(src, Request(FEED), exchange(FEED, entry(updated)), view).follow[0]
        page = statement_page("Expert urges release", STATEMENT_BODY.replace("without delay", text), date=None)
        return feed.parse(src, item, exchange(item.url, page), view).observation

    first = read("2026-06-02T14:30:00Z", "without delay")
    assert (first.posts[0].published_at, first.posts[0].published_where) == ("2026-06-02T14:30:00.000000Z",
                                                                           "atom:updated")
    archive.record(exchange(link, b"page"), first, source_id=src.id)
    edited = read("2026-06-09T08:00:00Z", "immediately")
    assert (edited.posts[0].published_at, edited.posts[0].published_raw) == ("2026-06-02T14:30:00.000000Z",
                                                                             "2026-06-02T14:30:00Z")


def test_entries_leaving_the_feed_are_confirmed_by_a_direct_request(archive: Archive, view: ArchiveView) -> None:
    src = source()
    first = feed.parse(src, Request(FEED), exchange(FEED, rss(ITEMS)), view)
    archive.record(exchange(FEED, rss(ITEMS)), first.observation, source_id=src.id)
    second = feed.parse(src, Request(FEED), exchange(FEED, rss(ITEMS[1:])), view)
    confirm, = second.follow
    assert (confirm.url, confirm.purpose) == (ITEMS[0][1], "confirm")
    assert json.loads(second.observation.state[f"listed:{FEED}"]) == [ITEMS[1][1]]
    gone = feed.parse(src, confirm, exchange(confirm.url, b"Not found", status=404), view)
    assert [(g.platform, g.native_id, g.confirmed) for g in gone.observation.gone] == [
        ("feed", f"{FEED}#news-101", True)]
    still = feed.parse(src, confirm, exchange(confirm.url, statement_page("still here")), view)
    assert still.observation == Observation()  # answers: not deleted, and a feed entry is not re-read




# -- end to end: `archiver fetch` against a loopback site ----------------------------------------

def test_rss_feed_two_polls_edit_delete_and_an_unchanged_feed(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import Site, fetch, rows, write_config

    site = Site(httpserver)
    link = [site.url("/story/101"), site.url("/story/102")]
    items = [("news-101", link[0], "Expert urges release", "Tue, 02 Jun 2026 14:30:00 GMT", "Release them now."),
             ("news-102", link[1], "Council adopts resolution", "Wed, 03 Jun 2026 09:00:00 GMT", "Adopted.")]
    site.put("/rss.xml", rss(items), "application/rss+xml; charset=utf-8")
    site.put("/story/101", statement_page("Expert urges release"))
    site.put("/story/102", statement_page("Council adopts resolution"))
    config = write_config(tmp_path / "sources.toml", [
        {"id": "un-news", "kind": "feed", "locator": site.url("/rss.xml"), "organisation": "United Nations",
         "verified": "loopback"}])
    db = tmp_path / "archive.db"

    first = fetch(config, db, "un-news")
    assert first.exit_code == 0, first.output
    assert "un-news: run 1 ok" in first.output and "new 2" in first.output
    posts = rows(db, "SELECT platform, native_id, title, published_at, published_where, status FROM posts "
                     "ORDER BY id")
    assert posts == [
        ("feed", f"{site.url('/rss.xml')}#news-101", "Expert urges release", "2026-06-02T14:30:00.000000Z",
         "rss:pubDate", "live"),
        ("feed", f"{site.url('/rss.xml')}#news-102", "Council adopts resolution", "2026-06-03T09:00:00.000000Z",
         "rss:pubDate", "live")]
    provenance = rows(db, "SELECT c.requested_url, c.status, c.payload_sha256 IS NOT NULL, v.raw LIKE '<item%' "
                          "FROM versions v JOIN captures c ON c.id = v.capture_id")
    assert provenance == [(site.url("/rss.xml"), 200, 1, 1)] * 2

    # between polls: the first statement is corrected, the second withdrawn
    edited = [(*items[0][:4], "Release them now, unconditionally.")]
    site.put("/rss.xml", rss(edited), "application/rss+xml; charset=utf-8")
    site.remove("/story/102")
    second = fetch(config, db, "un-news")
    assert second.exit_code == 0, second.output
    assert "edited 1, deleted 1" in second.output
    versions = rows(db, "SELECT v.number, v.text FROM versions v JOIN posts p ON p.id = v.post_id "
                        "WHERE p.native_id LIKE '%news-101' ORDER BY v.number")
    assert versions == [(1, "Release them now."), (2, "Release them now, unconditionally.")]
    events = rows(db, "SELECT e.type, p.native_id LIKE '%news-10' || '1', c.requested_url, c.status "
                      "FROM events e JOIN posts p ON p.id = e.post_id JOIN captures c ON c.id = e.capture_id "
                      "WHERE e.type != 'first_seen' ORDER BY e.id")
    assert events == [("edited", 1, site.url("/rss.xml"), 200), ("deleted", 0, link[1], 404)]
    assert rows(db, "SELECT status FROM posts ORDER BY id") == [("live",), ("deleted",)]

    payloads = rows(db, "SELECT count(*) FROM payloads")[0][0]
    third = fetch(config, db, "un-news")
    assert third.exit_code == 0, third.output
    assert "not_modified" in third.output
    assert rows(db, "SELECT count(*) FROM payloads")[0][0] == payloads
    assert rows(db, "SELECT count(*) FROM versions")[0][0] == 3
    last = rows(db, "SELECT status, revisit_of IS NOT NULL, payload_sha256 IS NOT NULL FROM captures "
                    "ORDER BY id DESC LIMIT 1")
    assert last == [(304, 1, 1)]
    assert rows(db, "SELECT outcome FROM runs WHERE kind = 'fetch' ORDER BY id") == [
        ("ok",), ("ok",), ("not_modified",)]


def test_atom_feed_following_links_archives_the_pages(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import STATEMENT_BODY, Site, fetch, rows, write_config

    site = Site(httpserver)
    links = [site.url("/en/statements/7"), site.url("/en/statements/8")]
    entries = [("tag:ministry.example,2026:7", links[0], "On the talks", "2026-06-01T08:00:00+03:00", "Talks."),
               ("tag:ministry.example,2026:8", links[1], "On the border", "2026-06-02T08:00:00+03:00", "Border.")]
    site.put("/atom.xml", atom(entries), "application/atom+xml")
    site.put("/en/statements/7", statement_page("On the talks", canonical="/en/statements/7",
                                                date="2026-06-01T07:55:00+03:00"))
    site.put("/en/statements/8", statement_page("On the border"))
    config = write_config(tmp_path / "sources.toml", [
        {"id": "ministry", "kind": "feed", "locator": site.url("/atom.xml"), "options": {"follow_links": True}}])
    db = tmp_path / "archive.db"
    assert fetch(config, db, "ministry").exit_code == 0
    posts = rows(db, "SELECT platform, native_id, published_at, published_where FROM posts ORDER BY id")
    assert posts[0] == ("web", links[0], "2026-06-01T04:55:00.000000Z", "meta[property=article:published_time]")
    assert posts[1][:2] == ("web", links[1])
    text, raw, page_url = rows(db, "SELECT v.text, v.raw, c.requested_url FROM versions v "
                                   "JOIN captures c ON c.id = v.capture_id ORDER BY v.id LIMIT 1")[0]
    assert "release the detained journalists" in text and raw.startswith("<entry") and page_url == links[0]

    entries[0] = (*entries[0][:3], "2026-06-04T08:00:00+03:00", "Talks (updated).")
    site.put("/atom.xml", atom(entries[:1]), "application/atom+xml")
    site.put("/en/statements/7", statement_page("On the talks", STATEMENT_BODY.replace("closely", "very closely"),
                                                canonical="/en/statements/7"))
    site.remove("/en/statements/8")
    second = fetch(config, db, "ministry")
    assert "edited 1, deleted 1" in second.output, second.output
    assert rows(db, "SELECT count(*) FROM versions WHERE text LIKE '%very closely%'")[0][0] == 1
    assert rows(db, "SELECT p.native_id, c.status FROM events e JOIN posts p ON p.id = e.post_id "
                    "JOIN captures c ON c.id = e.capture_id WHERE e.type = 'deleted'") == [(links[1], 404)]


def _served_at_rss_xml(site: Any, items: list[tuple[str, str, str, str, str]], tmp_path: Path) -> tuple[Path, Path]:
    """The loopback site serves `items` at /rss.xml; (a sources file with that feed, the archive's path)."""
    from tests.official_fixtures import write_config

    site.put("/rss.xml", rss(items), "application/rss+xml; charset=utf-8")
    config = write_config(tmp_path / "sources.toml", [
        {"id": "un-news", "kind": "feed", "locator": site.url("/rss.xml"), "verified": "loopback"}])
    return config, tmp_path / "archive.db"


def test_a_feed_with_an_out_of_range_date_is_archived_whole_with_that_date_unread(httpserver, tmp_path: Path) -> None:
    """Over HTTP into SQLite: the entry whose date cannot be read no longer fails the feed's run (it did,
    every poll, with a ValueError), and no reading stands in for its date."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    items = [("bad", site.url("/story/1"), "Statement one", "Thu, 01 Jan 2004 24:48:21 GMT", "First."),
             ("good", site.url("/story/2"), "Statement two", "Thu, 01 Jan 2004 19:48:21 GMT", "Second.")]
    config, db = _served_at_rss_xml(site, items, tmp_path)
    result = fetch(config, db, "un-news")
    assert result.exit_code == 0, result.output
    assert "un-news: run 1 ok" in result.output and "new 2" in result.output
    assert rows(db, "SELECT title, published_raw, published_at, published_where FROM posts ORDER BY id") == [
        ("Statement one", items[0][3], None, "rss:pubDate [not read: a field is out of range]"),
        ("Statement two", items[1][3], "2004-01-01T19:48:21.000000Z", "rss:pubDate")]


def test_a_feed_that_moves_keeps_its_entries_identity(httpserver, tmp_path: Path) -> None:
    """An item's bare guid (or, lacking guid and link, its digest) is unique within its feed, so it was
    prefixed with the feed's URL: the URL fetched, after redirects. A feed that moved (a redirect to https,
    to a new path) then made every such item a new post, archived twice with a second first sighting."""
    from tests.official_fixtures import Site, fetch, rows

    site = Site(httpserver)
    items = [("news-101", site.url("/story/101"), "Expert urges release", "Tue, 02 Jun 2026 14:30:00 GMT", "Now."),
             ("102", site.url("/story/102"), "Council adopts resolution", "Wed, 03 Jun 2026 09:00:00 GMT", "30.")]
    config, db = _served_at_rss_xml(site, items, tmp_path)
    assert "new 2" in fetch(config, db, "un-news").output
    newer = ("103", site.url("/story/103"), "Rapporteur's letter", "Thu, 04 Jun 2026 09:00:00 GMT", "Letter.")
    site.put("/feeds/rss.xml", rss([newer, *items]), "application/rss+xml; charset=utf-8")
    site.move("/rss.xml", "/feeds/rss.xml")
    moved = fetch(config, db, "un-news")
    assert moved.exit_code == 0 and "new 1, edited 0, deleted 0" in moved.output, moved.output
    assert rows(db, "SELECT native_id FROM posts ORDER BY id") == [
        (f"{site.url('/rss.xml')}#news-101",), (f"{site.url('/rss.xml')}#102",), (f"{site.url('/rss.xml')}#103",)]


def test_an_entry_held_under_the_url_it_was_fetched_from_keeps_that_identity(archive: Archive,
                                                                            view: ArchiveView) -> None:
    """Before the configured URL was the prefix, a feed fetched through a redirect was keyed by the URL it
    ended at: what the archive holds that way is still the same post, and a new entry takes the new rule."""
    moved_to = "https://news.example.org/feeds/rss.xml"
    held = feed.parse(source(), Request(FEED), exchange(moved_to, rss(ITEMS[:1]), content_type="application/rss+xml"),
                      view).observation
    held.posts[0].native_id = f"{moved_to}#news-101"  # as the rule before keyed it
    archive.record(exchange(moved_to, rss(ITEMS[:1])), held, source_id="un-news")
    newer = ("news-103", "https://news.example.org/story/103", "Letter", "Thu, 04 Jun 2026 09:00:00 GMT", "Text.")
    parsed = feed.parse(source(), Request(FEED), exchange(FEED, rss([newer, *ITEMS[:1]]), final_url=moved_to,
                                                          content_type="application/rss+xml"), view)
    assert [post.native_id for post in parsed.observation.posts] == [f"{FEED}#news-103", f"{moved_to}#news-101"]


def test_plain_text_fields_keep_their_brackets(view: ArchiveView) -> None:
    """A plain-text title or summary (Atom's type="text", an RSS title feedparser does not take for HTML)
    was read as HTML: feedparser's own 'History of the <blink> tag' lost its <blink>, and 'Why <script>
    tags matter' was archived as 'Why'. Both readers (lxml's fast path and feedparser) now keep it."""
    suite = FIXTURES / "feedparser" / "wellformed" / "atom10" / "entry_title_text_plain_brackets.xml"
    atom_text = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
                 b"<id>tag:x,2026:f</id><updated>2026-06-03T10:00:00Z</updated><entry><id>tag:x,2026:1</id>"
                 b'<title type="text">Why &lt;script&gt; tags &amp; AT&amp;T matter</title>'
                 b"<updated>2026-06-03T10:00:00Z</updated>"
                 b'<summary type="text">A &lt;b&gt;bold&lt;/b&gt; claim, 3 &lt; 4</summary></entry></feed>')
    rss_title = rss([("1", "https://x.example/1", "Why <script> tags & AT&T matter", "Tue, 02 Jun 2026 14:30:00 GMT",
                      "<p>Read <b>this</b>.</p>")])
    read = {name: feed.parse(source(), Request(FEED), exchange(FEED, body, content_type="application/xml"),
                             view).observation.posts[0].versions[0]
            for name, body in (("suite", suite.read_bytes()), ("atom", atom_text), ("rss", rss_title))}
    assert read["suite"].title == "History of the <blink> tag"
    assert (read["atom"].title, read["atom"].text) == ("Why <script> tags & AT&T matter", "A <b>bold</b> claim, 3 < 4")
    assert (read["rss"].title, read["rss"].text) == ("Why <script> tags & AT&T matter", "Read this.")
    for body in (atom_text, rss_title):  # the fast path reads the same, or leaves the entry to feedparser
        fast = feedtree.read(body, FEED, "application/xml")
        assert fast is None or feed.entry_title(fast[0][0][0]) == "Why <script> tags & AT&T matter"


def test_a_title_read_anew_with_its_brackets_is_a_re_reading_never_an_edit(archive: Archive,
                                                                          view: ArchiveView) -> None:
    body = (FIXTURES / "feedparser" / "wellformed" / "atom10" / "entry_title_text_plain_brackets.xml").read_bytes()
    parsed = feed.parse(source(), Request(FEED), exchange(FEED, body, content_type="application/xml"), view)
    post = parsed.observation.posts[0]
    old = copy.deepcopy(post)
    old.extractor_version, old.versions[0].title = "2", "History of the tag"  # as the archive read it before
    archive.record(exchange(FEED, body), Observation(posts=[old]), source_id="un-news")
    result = archive.record(exchange(FEED, body), Observation(posts=[post]), source_id="un-news")
    assert (result.edited, result.reextracted) == (0, 1)


def test_a_latin1_atom_feed_with_plain_text_and_12_hour_dates_end_to_end(httpserver, tmp_path: Path) -> None:
    """Over HTTP into SQLite: a feed declared ISO-8859-1 whose bytes are windows-1252, with a plain-text
    title holding brackets and dates written the ways these fixes read: each version's raw XML says what
    its text says, the brackets stay, no 12-hour time is read as UTC and no day and month are guessed."""
    from tests.official_fixtures import Site, fetch, rows, write_config

    def entry(number: int, title: str, date: str) -> str:
        return (f'<entry><id>tag:ministry.example,2026:{number}</id><title type="text">{title}</title>'
                f'<link href="https://ministry.example/s/{number}"/><published>{date}</published>'
                f"<updated>{date}</updated><summary>\u201cWe call for an inquiry\u201d \u2014 #{number}</summary>"
                "</entry>")

    body = ('<?xml version="1.0" encoding="ISO-8859-1"?><feed xmlns="http://www.w3.org/2005/Atom"><title>M</title>'
            "<id>tag:ministry.example,2026:f</id><updated>2026-06-03T10:00:00Z</updated>"
            + entry(1, "History of the &lt;blink&gt; tag", "February 16, 2024, 3:00 PM EST")
            + entry(2, "Second", "02.06.2026 14:30 GMT") + "</feed>").encode("cp1252")
    site = Site(httpserver)
    site.put("/atom.xml", body, "application/atom+xml")
    config = write_config(tmp_path / "sources.toml", [
        {"id": "ministry", "kind": "feed", "locator": site.url("/atom.xml"), "verified": "loopback"}])
    db = tmp_path / "archive.db"
    result = fetch(config, db, "ministry")
    assert result.exit_code == 0 and "new 2" in result.output, result.output
    stored = rows(db, "SELECT p.title, p.published_at, p.published_where, v.text, v.raw FROM posts p "
                      "JOIN versions v ON v.post_id = p.id ORDER BY p.id")
    assert [(title, at, where) for title, at, where, _, _ in stored] == [
        ("History of the <blink> tag", "2024-02-16T00:00:00.000000Z",
         "atom:published [read by dateparser; date only: time zone 'EST' not known, time dropped]"),
        ("Second", None,
         "atom:published [day and month order ambiguous: not read without the date_order or languages option]")]
    for _, _, _, text, raw in stored:
        assert text.startswith("\u201cWe call for an inquiry\u201d \u2014") and "\u201cWe call" in raw


def test_an_edit_that_moves_atom_updated_keeps_the_publication_claim_held(httpserver, tmp_path: Path) -> None:
    """GitHub's real releases feed dates its entries with `<updated>` alone. Over HTTP into SQLite, one
    release's notes are edited and its `<updated>` moves to the edit: the edit is a version, and the post's
    publication claim stays the one first seen (the edit's time is no publication date)."""
    from tests.official_fixtures import Site, fetch, rows, write_config

    site = Site(httpserver)
    real = (FIXTURES / "real_feeds" / "github_releases_gulp.atom").read_bytes()
    site.put("/releases.atom", real, "application/atom+xml; charset=utf-8")
    config = write_config(tmp_path / "sources.toml", [
        {"id": "gulp", "kind": "feed", "locator": site.url("/releases.atom"), "verified": "loopback"}])
    db = tmp_path / "archive.db"
    first = fetch(config, db, "gulp")
    assert first.exit_code == 0, first.output
    release = "tag:github.com,2008:Repository/11167738/v3.9.0"
    held = rows(db, "SELECT published_at, published_raw, published_where FROM posts WHERE native_id = ?", release)
    assert held == [("2015-06-01T21:49:41.000000Z", "2015-06-01T23:49:41+02:00", "atom:updated")]
    entry = real[real.index(b"<entry>"):real.index(b"</entry>")]  # v3.9.0, the newest release
    edited = real.replace(entry, entry.replace(b"2015-06-01T23:49:41+02:00", b"2016-02-01T10:00:00+01:00").replace(
        b"&lt;p&gt;3.9.0&lt;/p&gt;", b"&lt;p&gt;3.9.0, with a security note&lt;/p&gt;"))
    assert edited != real
    site.put("/releases.atom", edited, "application/atom+xml; charset=utf-8")
    second = fetch(config, db, "gulp")
    assert "new 0, edited 1" in second.output, second.output
    assert rows(db, "SELECT published_at, published_raw, published_where, text FROM posts WHERE native_id = ?",
                release) == [(*held[0], "3.9.0, with a security note")]


def _narro_items(links: list[tuple[str, str]]) -> bytes:
    """narro's real feed (tests/fixtures/real_feeds), its one item copied once per (link, title), without
    its guid: items known by their link."""
    import re

    body = (Path(__file__).parent / "fixtures" / "real_feeds" / "podcast_narro.rss").read_bytes()
    held = re.search(rb"<item>.*</item>", body, re.S).group(0)
    item = re.sub(rb"<guid>[^<]*</guid>", b"", held)
    copies = [re.sub(rb"<title>[^<]*</title>", b"<title>" + title.encode() + b"</title>",
                     re.sub(rb"<link>[^<]*</link>", b"<link>" + link.encode() + b"</link>", item))
              for link, title in links]
    return body.replace(held, b"".join(copies))


def test_items_without_a_guid_sharing_a_page_are_not_one_post(httpserver, tmp_path: Path) -> None:
    """Items are known by their link when they have no guid. Links were taken without their anchor, so
    the items of a page of news (`news.html#a`, `#b`), and items that all link to the listing, were one
    post, which every poll recorded as edited back and forth between them."""
    from tests.official_fixtures import Site, fetch, rows, write_config

    site = Site(httpserver)
    config = write_config(tmp_path / "sources.toml", [{"id": "narro", "kind": "feed", "locator": site.url("/f")}])
    db = tmp_path / "archive.db"
    news, listing = site.url("/news.html"), site.url("/all")
    site.put("/f", _narro_items([(f"{news}#a", "Statement A"), (f"{news}#b", "Statement B"),
                                 (listing, "Statement C"), (listing, "Statement D")]), "application/rss+xml")
    assert "new 4, edited 0" in fetch(config, db, "narro").output
    again = fetch(config, db, "narro")
    assert again.exit_code == 0 and "new 0, edited 0" in again.output, again.output
    ids = [native_id for native_id, in rows(db, "SELECT native_id FROM posts ORDER BY id")]
    assert ids[:2] == [f"{news}#a", f"{news}#b"] and all(i.startswith(f"{site.url('/f')}#sha256:") for i in ids[2:])
    assert rows(db, "SELECT DISTINCT url FROM posts WHERE native_id LIKE '%#sha256:%'") == [(listing,)]

    # an item held under its link without the anchor keeps that identity when the anchor appears
    site.put("/f", _narro_items([(site.url("/one.html"), "Statement E")]), "application/rss+xml")
    assert "new 1" in fetch(config, db, "narro").output
    site.put("/f", _narro_items([(site.url("/one.html#main"), "Statement E")]), "application/rss+xml")
    held = fetch(config, db, "narro")
    assert "new 0, edited 0" in held.output, held.output
    assert rows(db, "SELECT count(*) FROM posts WHERE native_id LIKE ?", f"{site.url('/one.html')}%") == [(1,)]


def test_table_cells_and_html5_blocks_keep_their_words_apart(httpserver, tmp_path: Path) -> None:
    """`<td>France</td><td>12</td>` was read "France12", and the same table written over several lines
    "France 12": the archive recorded a CMS re-indenting its markup as an edit of the statement, and
    figure captions, rules and HTML5's sectioning elements ran into the words beside them."""
    from tests.official_fixtures import Site, fetch, rows, write_config

    compact = ("&lt;table&gt;&lt;tr&gt;&lt;th&gt;Country&lt;/th&gt;&lt;th&gt;Cases&lt;/th&gt;&lt;/tr&gt;&lt;tr&gt;"
               "&lt;td&gt;France&lt;/td&gt;&lt;td&gt;12&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;figure&gt;&lt;img "
               "src=x&gt;&lt;figcaption&gt;Map&lt;/figcaption&gt;&lt;/figure&gt;Source&lt;hr&gt;"
               "&lt;header&gt;Note&lt;/header&gt;&lt;main&gt;Body&lt;/main&gt;")
    pretty = compact.replace("&lt;tr&gt;", "\n  &lt;tr&gt;\n    ").replace("&lt;/td&gt;&lt;td&gt;",
                                                                         "&lt;/td&gt;\n    &lt;td&gt;")
    site = Site(httpserver)
    config = write_config(tmp_path / "sources.toml", [{"id": "narro", "kind": "feed", "locator": site.url("/f")}])
    db = tmp_path / "archive.db"
    for description in (compact, pretty):
        body = _narro_items([(site.url("/stats"), "Figures")])
        site.put("/f", body.replace(b"<description>Listen", b"<description>" + description.encode() + b" Listen"),
                 "application/rss+xml")
        result = fetch(config, db, "narro")
        assert result.exit_code == 0 and "edited 0" in result.output, result.output
    (text,), = rows(db, "SELECT text FROM posts")
    assert text.startswith("Country\tCases\nFrance\t12\n\nMap\n\nSource\nNote\nBody\nListen"), text
    assert rows(db, "SELECT count(*) FROM versions") == [(1,)]
