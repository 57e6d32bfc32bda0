"""The feed reader over feeds as real sites publish them (tests/fixtures/real_feeds and the YouTube
channel feed, licences in SOURCES.txt): no crash, every item kept (counted independently by lxml),
relative links resolved against the feed's URL, dates read exactly or left empty with the raw string."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from archiver.models import Request, Source
from archiver.platforms import feed
from archiver.platforms.dates import read_date
from tests.official_fixtures import exchange

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL = sorted([*(FIXTURES / "real_feeds").glob("*.*"), *(FIXTURES / "youtube").glob("*.xml")])
WHERE = {  # where each feed was published, so relative links have their real base
    "github_releases_gulp.atom": "https://github.com/gulpjs/gulp/releases.atom",
    "podcast_narro.rss": "http://on.narro.co/f",
    "videos_xml_channel_UCLA_DiR1FfKNvjuUpBHmylQ.xml":
        "https://www.youtube.com/feeds/videos.xml?channel_id=UCLA_DiR1FfKNvjuUpBHmylQ",
}


def _items(body: bytes) -> list:
    root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    return [node for node in root.iter() if isinstance(node.tag, str)
            and etree.QName(node).localname in ("item", "entry")]


@pytest.mark.parametrize("path", REAL, ids=lambda path: path.name)
def test_a_real_feed_is_read_whole(path: Path, view) -> None:
    url = WHERE[path.name]
    body = path.read_bytes()
    parsed = feed.parse(Source(id="real", kind="feed", locator=url), Request(url),
                        exchange(url, body, content_type="application/xml", charset=None), view)
    posts = parsed.observation.posts
    items = _items(body)
    assert len(posts) == len(items) > 0
    assert len({post.native_id for post in posts}) == len(posts)
    for post, item in zip(posts, items, strict=True):
        assert post.url and post.url.startswith(("http://", "https://")), post.native_id
        href = next((link.get("href") or link.text for link in item if etree.QName(link).localname == "link"), None)
        assert href and post.url.endswith(href.strip().split("://")[-1])
        assert post.versions[0].raw.startswith(("<item", "<entry"))
        claimed = read_date(post.published_raw)
        assert post.published_at == claimed.at  # read by the shared rules, or empty with its raw string kept
        assert post.published_raw and post.published_at


def test_a_pubdate_in_utc_keeps_its_time(view) -> None:
    """narro's feed (written by gopod with Go's time.RFC1123) dates items `… 09:51:15 UTC`: an exact
    time, which was kept as its date alone, marked as if the feed had given no time zone."""
    url = WHERE["podcast_narro.rss"]
    body = (FIXTURES / "real_feeds" / "podcast_narro.rss").read_bytes()
    post, = feed.parse(Source(id="narro", kind="feed", locator=url), Request(url),
                       exchange(url, body, content_type="application/rss+xml", charset=None), view).observation.posts
    assert (post.published_at, post.published_raw, post.published_where) == (
        "2015-02-20T09:51:15.000000Z", "Fri, 20 Feb 2015 09:51:15 UTC", "rss:pubDate")


def test_github_release_links_resolve_against_the_feed_url(view) -> None:
    path = FIXTURES / "real_feeds" / "github_releases_gulp.atom"
    url = WHERE[path.name]
    posts = feed.parse(Source(id="gh", kind="feed", locator=url), Request(url),
                       exchange(url, path.read_bytes(), content_type="application/atom+xml", charset=None),
                       view).observation.posts
    assert len(posts) == 10
    assert posts[0].url == "https://github.com/gulpjs/gulp/releases/tag/v3.9.0"
    assert posts[0].native_id == "tag:github.com,2008:Repository/11167738/v3.9.0"
    assert (posts[0].published_at, posts[0].published_where) == ("2015-06-01T21:49:41.000000Z", "atom:updated")


def test_a_second_summary_is_not_taken_for_the_content(httpserver, tmp_path: Path, view) -> None:
    """feedparser files a second summary-like element (itunes:summary, media:description,
    dc:description) under `content`, as its own test item_description_and_summary.xml expects. narro's
    real item has a description and a shortened itunes:summary: the blurb was archived as its text,
    and which of the two won depended on their order."""
    from tests.official_fixtures import Site, fetch, rows, write_config

    body = (FIXTURES / "real_feeds" / "podcast_narro.rss").read_bytes()
    description = re.search(rb"<description>Listen.*?</description>", body).group(0)
    summary = re.search(rb"<itunes:summary>Listen.*?</itunes:summary>", body).group(0)
    expected = ("Listen to your reading list anywhere. Narro will take your bookmarked articles and read them "
                "back to you as a podcast.\nhttp://www.narro.co/faq")
    site = Site(httpserver)
    config = write_config(tmp_path / "sources.toml", [{"id": "narro", "kind": "feed", "locator": site.url("/f")}])
    db = tmp_path / "archive.db"
    swapped = body.replace(description, b"\0").replace(summary, description).replace(b"\0", summary)
    for served in (body, swapped):  # the blurb after the description, then before it
        site.put("/f", served, content_type="application/rss+xml")
        result = fetch(config, db, "narro")
        assert result.exit_code == 0 and "edited 0" in result.output, result.output
        assert rows(db, "SELECT text FROM posts") == [(expected,)]
    corpus = FIXTURES / "feedparser" / "wellformed" / "rss" / "item_description_and_summary.xml"
    url = "http://example.org/feed"
    post, = feed.parse(Source(id="fp", kind="feed", locator=url), Request(url),
                       exchange(url, corpus.read_bytes(), content_type="application/rss+xml", charset=None),
                       view).observation.posts
    assert post.versions[0].text == "Example description"
