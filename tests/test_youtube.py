"""YouTube channel feeds: the real NASA feed fixture read into video posts."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest

from archiver.archive import Archive
from archiver.models import Request, Source
from archiver.platforms import ParseError, youtube
from archiver.view import ArchiveView
from tests.conftest import FIXTURES
from tests.official_fixtures import exchange, rss

FEED = "https://www.youtube.com/feeds/videos.xml?channel_id=UCLA_DiR1FfKNvjuUpBHmylQ"
BODY = (FIXTURES / "youtube" / "videos_xml_channel_UCLA_DiR1FfKNvjuUpBHmylQ.xml").read_bytes()


@pytest.fixture
def view(archive: Archive, db_path: Path):
    opened = ArchiveView(db_path)
    yield opened
    opened.close()


def test_channel_feed_videos_with_entry_level_channel_id(view: ArchiveView) -> None:
    src = Source(id="nasa", kind="youtube", locator=FEED)
    posts = youtube.parse(src, Request(FEED), exchange(FEED, BODY, content_type="application/atom+xml"),
                          view).observation.posts
    assert len(posts) == BODY.count(b"<entry>")
    first = posts[0]
    assert (first.platform, first.native_id, first.kind) == ("youtube", "I_GUQdY01b0", "video")
    assert first.author_id == "UCLA_DiR1FfKNvjuUpBHmylQ"  # the feed-level id lacks "UC"
    assert first.author_name == "NASA"
    assert first.url == "https://www.youtube.com/watch?v=I_GUQdY01b0"
    assert first.versions[0].title == "Special Event Announcement (Aug. 14, 2026)"
    assert "Kennedy Space Center" in first.versions[0].text
    assert (first.published_at, first.published_raw, first.published_where) == (
        "2026-08-14T19:14:36.000000Z", "2026-08-14T19:14:36+00:00", "atom:published")
    assert first.media == [{"type": "thumbnail", "url": "https://i2.ytimg.com/vi/I_GUQdY01b0/hqdefault.jpg"}]
    assert "<yt:videoId>I_GUQdY01b0</yt:videoId>" in first.versions[0].raw
    assert "66195" not in str(first.versions[0].extra)  # view counts are not content


def test_a_non_atom_feed_is_refused(view: ArchiveView) -> None:
    src = Source(id="nasa", kind="youtube", locator=FEED)
    body = rss([("1", "https://x.example/1", "t", "Tue, 02 Jun 2026 14:30:00 GMT", "d")])
    with pytest.raises(ParseError, match="YouTube feed is Atom"):
        youtube.parse(src, Request(FEED), exchange(FEED, body), view)


def _entries() -> tuple[bytes, list[bytes], bytes]:
    head, _, rest = BODY.partition(b" <entry>")
    parts = (b" <entry>" + rest).split(b" <entry>")[1:]
    entries = [b" <entry>" + part.split(b"</feed>")[0] for part in parts]
    return head, entries, b"</feed>\n"


def _new_video(template: bytes, video_id: str, published: str) -> bytes:
    old_id = re.search(rb"<yt:videoId>([^<]+)</yt:videoId>", template).group(1)
    entry = template.replace(old_id, video_id.encode())
    return re.sub(rb"<published>[^<]+</published>", f"<published>{published}</published>".encode(), entry)


def test_removed_and_private_videos_are_told_apart_from_videos_that_aged_out(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import Site, fetch, rows, write_config

    site = Site(httpserver)
    head, entries, tail = _entries()
    assert len(entries) == youtube.WINDOW
    ids = [re.search(rb"<yt:videoId>([^<]+)</yt:videoId>", e).group(1).decode() for e in entries]
    feed_path = "/feeds/videos.xml?channel_id=UCLA_DiR1FfKNvjuUpBHmylQ"
    site.put(feed_path, head + b"".join(entries) + tail, content_type="application/atom+xml")
    config = write_config(tmp_path / "sources.toml", [
        {"id": "nasa", "kind": "youtube", "locator": site.url(feed_path), "options": {"oembed": site.url("/oembed")}}])
    db = tmp_path / "archive.db"
    first = fetch(config, db, "nasa")
    assert first.exit_code == 0 and f"new {youtube.WINDOW}" in first.output, first.output

    # three new videos push the oldest out of the window; ids[1] was deleted, ids[2] made private
    newer = [_new_video(entries[0], f"newvideo{n:03d}", f"2026-08-2{n}T10:00:00+00:00") for n in range(3)]
    site.put(feed_path, head + b"".join([*newer, entries[0], *entries[3:14]]) + tail,
             content_type="application/atom+xml")

    def oembed(video_id: str) -> str:
        query = urlencode({"url": f"https://www.youtube.com/watch?v={video_id}", "format": "json"})
        return f"/oembed?{query}"

    site.put(oembed(ids[2]), b"Unauthorized", content_type="text/html", status=401)  # ids[1]: 404, not put
    second = fetch(config, db, "nasa")
    assert "new 3, edited 0, deleted 1" in second.output, second.output
    checked = [hit for hit in site.hits if hit.startswith("/oembed")]
    assert sorted(checked) == sorted([oembed(ids[1]), oembed(ids[2])])  # not the one that aged out
    assert rows(db, "SELECT p.native_id, e.type, c.status, json_extract(e.details, '$.reason') FROM events e "
                    "JOIN posts p ON p.id = e.post_id JOIN captures c ON c.id = e.capture_id "
                    "WHERE e.type IN ('deleted', 'missing') ORDER BY p.native_id") == sorted([
        (ids[1], "deleted", 404, "oEmbed HTTP 404: the video was removed"),
        (ids[2], "missing", 401, "oEmbed HTTP 401: the video is private, or public with embedding disabled")])
    assert rows(db, "SELECT status FROM posts WHERE native_id = ?", ids[14]) == [("live",)]

    third = fetch(config, db, "nasa")  # resolved candidates are not asked about again
    assert "deleted 0" in third.output and len([h for h in site.hits if h.startswith("/oembed")]) == 2


def test_a_failed_check_is_made_again_next_run(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import Site, fetch, rows, write_config

    site = Site(httpserver)
    head, entries, tail = _entries()
    feed_path = "/feeds/videos.xml?channel_id=UCLA_DiR1FfKNvjuUpBHmylQ"
    site.put(feed_path, head + b"".join(entries) + tail, content_type="application/atom+xml")
    config = write_config(tmp_path / "sources.toml", [
        {"id": "nasa", "kind": "youtube", "locator": site.url(feed_path), "options": {"oembed": site.url("/oembed")}}])
    db = tmp_path / "archive.db"
    fetch(config, db, "nasa")
    site.put(feed_path, head + b"".join(entries[:1] + entries[2:]) + tail, content_type="application/atom+xml")
    gone = re.search(rb"<yt:videoId>([^<]+)</yt:videoId>", entries[1]).group(1).decode()
    query = urlencode({"url": f"https://www.youtube.com/watch?v={gone}", "format": "json"})
    site.put(f"/oembed?{query}", b"busy", content_type="text/plain", status=503)
    second = fetch(config, db, "nasa")
    assert "deleted 0" in second.output and "HTTP 503" in second.output, second.output
    site.remove(f"/oembed?{query}")
    third = fetch(config, db, "nasa")
    assert "deleted 1" in third.output, third.output
    assert rows(db, "SELECT status FROM posts WHERE native_id = ?", gone) == [("deleted",)]


def _described(entry: bytes, description: bytes) -> bytes:
    return re.sub(rb"<media:description>.*?</media:description>",
                  b"<media:description>" + description + b"</media:description>", entry, flags=re.S)


def test_a_description_reads_the_same_whichever_reader_reads_the_feed(httpserver, tmp_path: Path) -> None:
    """media:description is plain text. feedparser, which reads a feed the fast path is unsure of, took
    it for HTML: "Q&amp;A" came back with its entity and "a &lt;b" swallowed the words after it, so a
    new video with one odd character turned every described video into a false edit."""
    from tests.official_fixtures import Site, fetch, rows, write_config

    site = Site(httpserver)
    head, entries, tail = _entries()
    said = b'Q&amp;A at 3pm: a &lt;b "x" Tom &amp; Jerry &lt;i&gt;live&lt;/i&gt; https://www.nasa.gov/?a=1&amp;b=2'
    entries[0] = _described(entries[0], said)
    feed_path = "/feeds/videos.xml?channel_id=UCLA_DiR1FfKNvjuUpBHmylQ"
    site.put(feed_path, head + b"".join(entries) + tail, content_type="application/atom+xml")
    config = write_config(tmp_path / "sources.toml", [
        {"id": "nasa", "kind": "youtube", "locator": site.url(feed_path), "options": {"oembed": site.url("/oembed")}}])
    db = tmp_path / "archive.db"
    assert f"new {youtube.WINDOW}" in fetch(config, db, "nasa").output
    # a newer video whose description holds a C1 character (doubly encoded text) sends the whole feed to
    # feedparser, which repairs such text
    newer = _described(_new_video(entries[1], "newvideo001", "2026-08-20T10:00:00+00:00"), "It\u0092s live".encode())
    site.put(feed_path, head + newer + b"".join(entries[:-1]) + tail, content_type="application/atom+xml")
    second = fetch(config, db, "nasa")
    assert "new 1, edited 0" in second.output, second.output
    video = re.search(rb"<yt:videoId>([^<]+)</yt:videoId>", entries[0]).group(1).decode()
    assert rows(db, "SELECT text FROM posts WHERE native_id = ?", video) == [
        ('Q&A at 3pm: a <b "x" Tom & Jerry <i>live</i> https://www.nasa.gov/?a=1&b=2',)]
    src = Source(id="nasa", kind="youtube", locator=FEED)
    view = ArchiveView(db)
    try:  # read alone by each reader, the same text
        for body in (head + entries[0] + tail, head + newer + entries[0] + tail):
            posts = youtube.parse(src, Request(FEED), exchange(FEED, body, content_type="application/atom+xml"),
                                  view).observation.posts
            assert posts[-1].versions[0].text == rows(db, "SELECT text FROM posts WHERE native_id = ?", video)[0][0]
    finally:
        view.close()
