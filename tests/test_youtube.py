"""YouTube channel feeds: the real NASA feed fixture read into video posts."""

from __future__ import annotations

from pathlib import Path

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
