"""YouTube channel and playlist feeds (`/feeds/videos.xml?channel_id=` or `?playlist_id=`): Atom,
the latest 15 videos, no paging. A video is a post of platform "youtube", native_id = yt:videoId,
author = the ENTRY's yt:channelId (the feed-level one lacks the "UC" prefix). Title and description
are the content; view and rating counts change constantly and are not kept as content.

Removals. The feed is a window of the latest videos, so a video that leaves it may only have aged
out. A video the previous poll listed is a removal candidate when it is absent although it is newer
than the oldest video the feed now shows (or the feed shows fewer than a full window). Each candidate
is checked with YouTube's oEmbed endpoint: 404 confirms the removal (`deleted`); 401/403 is
`missing`, named for what it can mean (oEmbed refuses a private video and, as well, a public one whose
owner disabled embedding, so it is no proof the video went private); 200 means it is still public. A
candidate is checked on every run until a check resolves it or it ages out of the window.

Options: oembed (the oEmbed endpoint, default YouTube's own; tests point it at a local server)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from lxml import etree

from archiver.models import Exchange, Gone, Observation, PostDraft, Request, Source, VersionDraft
from archiver.platforms import Parsed, ParseError, expect_ok, read_with
from archiver.platforms.feed import entry_date, read_feed
from archiver.platforms.feedtree import MEDIA
from archiver.platforms.listing import GONE_STATUSES, load_dict
from archiver.platforms.memory import ArchiveMemory
from archiver.platforms.options import Option, http_locator
from archiver.platforms.text import short_title
from archiver.platforms.window import departed
from archiver.platforms.xmldoc import safe_xml_parser

# 2: the description read as Media RSS's plain text from the entry's XML (feedparser took it for HTML)
EXTRACTOR_VERSION = read_with("2", "feedparser", "lxml")
PLATFORM = "youtube"
WINDOW = 15  # videos a channel feed lists
OEMBED = "https://www.youtube.com/oembed"
NOT_PUBLIC = (401, 403)
OPTIONS = (
    Option("oembed", "url", OEMBED, "the oEmbed endpoint that checks removals; `?url=…&format=json` is appended",
           example='"http://127.0.0.1:8080/oembed"'),
)
locator_problem = http_locator


def plan(source: Source, view: ArchiveMemory) -> list[Request]:
    # candidates still unresolved are checked even when the feed answers 304
    pending = sorted(_load(view.state(source.id, _pending_key(source))))
    return [Request(source.locator, purpose="listing"),
            *(_check(source, video_id) for video_id in pending if _live(view, video_id))]


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    if request.purpose == "confirm":
        return _confirm(request, exchange)
    expect_ok(exchange)
    entries, version, unclosed = read_feed(exchange, request.url)
    if unclosed:  # videos missing from a cut-off feed would be taken for deletions
        raise ParseError(unclosed)
    if entries and not version.startswith("atom"):
        raise ParseError(f"{request.url}: a YouTube feed is Atom, this is {version or 'unknown'}")
    posts = [post for entry, raw in entries if (post := video(source, entry, raw, version)) is not None]
    parsed = Parsed(Observation(posts=posts))
    key = f"listed:{request.url}"
    listed = {post.native_id: post.published_at for post in posts}
    previous = _load(view.state(source.id, key))
    dates = [at for at in listed.values() if at]
    # a full feed covers [its oldest video, now): older ones aged out; a short one shows everything
    oldest = min(dates) if len(listed) >= WINDOW and dates else None
    candidates = {}
    for video_id in departed(previous.items(), set(listed), oldest, None):
        if _live(view, video_id):
            candidates[video_id] = previous[video_id]
            parsed.follow.append(_check(source, video_id))
    # a candidate stays until a check resolves it or it ages out of the window, so a check that fails
    # (5xx, 429) or finds the video still public (e.g. made unlisted) is made again next run
    state = {**listed, **candidates}
    if previous != state:
        parsed.observation.state[key] = json.dumps(state, sort_keys=True)
    if _load(view.state(source.id, _pending_key(source))) != candidates:
        parsed.observation.state[_pending_key(source)] = json.dumps(candidates, sort_keys=True)
    return parsed


def _pending_key(source: Source) -> str:
    """Where the candidates a run could not resolve wait for the next one (plan reads, parse writes)."""
    return f"pending:{source.locator}"


def _live(view: ArchiveMemory, video_id: str) -> bool:
    post = view.post(PLATFORM, video_id)
    return post is not None and post.status == "live"


def _check(source: Source, video_id: str) -> Request:
    watch = f"https://www.youtube.com/watch?v={video_id}"
    url = f"{source.options.get('oembed', OEMBED)}?{urlencode({'url': watch, 'format': 'json'})}"
    return Request(url, purpose="confirm", conditional=False, meta=(("native_id", video_id),))


def _confirm(request: Request, exchange: Exchange) -> Parsed:
    video_id = str(request.meta_dict()["native_id"])
    status = exchange.status
    if status in GONE_STATUSES:
        gone = Gone(PLATFORM, video_id, confirmed=True, reason=f"oEmbed HTTP {status}: the video was removed")
    elif status in NOT_PUBLIC:
        gone = Gone(PLATFORM, video_id, confirmed=False,
                    reason=f"oEmbed HTTP {status}: the video is private, or public with embedding disabled")
    else:
        expect_ok(exchange)  # a 5xx or 429 says nothing about the video: a failed check
        return Parsed()  # still public: it left the feed for another reason (e.g. made unlisted)
    return Parsed(Observation(gone=[gone]))


def _description(raw: str, video_id: str) -> str | None:
    """media:description, plain text by Media RSS's default, from the entry's own XML. feedparser reads
    it as HTML: "Q&amp;A" came back with the entity, "a <b" swallowed the words after it, and a feed
    read by feedparser (not the fast path) made every such video a false edit."""
    try:
        entry = etree.fromstring(raw.encode(), parser=safe_xml_parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"video {video_id}: its entry is no XML to read the description from ({exc})") from exc
    node = entry.find(f"{{{MEDIA}}}group/{{{MEDIA}}}description")
    return (node.text or "").strip() or None if node is not None else None


def _load(value: str | None) -> dict[str, str | None]:
    """video id → claimed publication time, as kept in source_state."""
    return {str(k): (str(v) if v else None) for k, v in load_dict(value).items()}


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
        versions=[VersionDraft(text=_description(raw, video_id),
                               title=short_title(entry.get("title")), raw=raw)],
        author_id=channel_id, author_name=author.get("name") or source.organisation, kind="video",
        published_at=published_at, published_raw=published_raw, published_where=where, media=thumbnails,
        publish=source.publish, extractor="feedparser", extractor_version=EXTRACTOR_VERSION)
