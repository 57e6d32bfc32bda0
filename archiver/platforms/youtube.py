"""YouTube channel and playlist feeds (`/feeds/videos.xml?channel_id=` or `?playlist_id=`): Atom,
the latest 15 videos, no paging. A video is a post of platform "youtube", native_id = yt:videoId,
author = the ENTRY's yt:channelId (the feed-level one lacks the "UC" prefix). Title and description
are the content; view and rating counts change constantly and are not kept as content.

Videos that leave the feed are not treated as removed: the feed is a window of the latest 15."""

from __future__ import annotations

from typing import Any

from archiver.models import Exchange, Observation, PostDraft, Request, Source, VersionDraft
from archiver.platforms import Parsed, ParseError, expect_ok
from archiver.platforms.feed import entry_date, read_feed
from archiver.platforms.pages import check_options, short_title
from archiver.view import ArchiveView

EXTRACTOR_VERSION = "1"
PLATFORM = "youtube"


def validate_options(options: dict[str, Any]) -> list[str]:
    return check_options(options, {})


def plan(source: Source, view: ArchiveView) -> list[Request]:
    return [Request(source.locator, purpose="listing")]


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveView) -> Parsed:
    expect_ok(exchange)
    entries, version = read_feed(exchange, request.url)
    if entries and not version.startswith("atom"):
        raise ParseError(f"{request.url}: a YouTube feed is Atom, this is {version or 'unknown'}")
    posts = [post for entry, raw in entries if (post := video(source, entry, raw, version)) is not None]
    return Parsed(Observation(posts=posts))


def video(source: Source, entry: Any, raw: str, version: str) -> PostDraft | None:
    video_id = str(entry.get("yt_videoid") or "").strip()
    if not video_id:
        return None
    channel_id = str(entry.get("yt_channelid") or "").strip() or None
    published_raw, where, published_at = entry_date(entry, version)
    thumbnails = [{"type": "thumbnail", "url": t.get("url")} for t in entry.get("media_thumbnail", []) or []
                  if t.get("url")]
    author = entry.get("author_detail") or {}
    return PostDraft(
        platform=PLATFORM, native_id=video_id, url=entry.get("link") or f"https://www.youtube.com/watch?v={video_id}",
        versions=[VersionDraft(text=(entry.get("summary") or "").strip() or None,
                               title=short_title(entry.get("title")), raw=raw)],
        author_id=channel_id, author_name=author.get("name") or source.organisation, kind="video",
        published_at=published_at, published_raw=published_raw, published_where=where, media=thumbnails,
        publish=source.publish, extractor="feedparser", extractor_version=EXTRACTOR_VERSION)
