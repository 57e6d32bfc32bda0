"""RSS 0.9x/1.0/2.0 and Atom feeds (feedparser, from the bytes the fetch layer captured).

Without `follow_links`, each entry is a post of platform "feed": native_id = the entry's guid/id
(prefixed with the feed URL when it is not a URL or URN, since bare numbers repeat across feeds),
else its link; text = the entry's summary or content as plain text.
With `follow_links = true`, the feed only says which statement pages are new or changed: each is
fetched and becomes a "web" post (see archiver.platforms.pages), the feed entry kept as its raw
fragment. Entries that leave the feed are confirmed with a direct request to their link.

Options: follow_links (bool), recheck (bool: re-read every listed page each run)."""

from __future__ import annotations

import codecs
import json
from typing import Any

import feedparser

from archiver.models import Exchange, PostDraft, Request, Source, VersionDraft
from archiver.platforms import Parsed, ParseError, expect_ok
from archiver.platforms.memory import ArchiveMemory
from archiver.platforms.options import DATES, Option, http_locator, recheck
from archiver.platforms.pages import (
    Listed,
    absolute_http,
    digest,
    follow_listing,
    html_to_text,
    listing_request,
    local_name,
    normalise_date,
    page_state_entry,
    parse_page,
    refuse_entities,
    safe_xml_parser,
    short_title,
    struct_time_utc,
)

EXTRACTOR_VERSION = "1"
PLATFORM = "feed"
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
OPTIONS = (
    Option("follow_links", "bool", False, "fetch each new or changed entry's link and archive the page's main "
           "text (otherwise the entry's summary/content is the text)", example="true"),
    recheck("with `follow_links`, re-read every page the feed lists on each run (conditional GET), to catch "
            "silent edits"),
    *DATES,
)
locator_problem = http_locator


def plan(source: Source, view: ArchiveMemory) -> list[Request]:
    return [listing_request(source)]


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    if request.purpose in ("item", "confirm"):
        return parse_page(source, request, exchange, view)
    expect_ok(exchange)
    assert exchange.body is not None
    entries, version = read_feed(exchange, request.url)
    base = exchange.final_url or request.url
    if source.options.get("follow_links"):
        listed = []
        for entry, raw in entries:
            link = _link(entry)
            if link is None:
                continue
            published_raw, where, _ = entry_date(entry, version)
            listed.append(Listed(link, sig=digest(raw), meta={
                "raw": raw, "title": short_title(html_to_text(entry.get("title"))), "date_raw": published_raw,
                "date_where": where, "tags": json.dumps(_tags(entry)) if _tags(entry) else None}))
        return follow_listing(source, view, base, listed)
    posts = [entry_post(source, entry, raw, version, base) for entry, raw in entries]
    posts = [post for post in posts if post is not None]
    listed = [Listed(post.url) for post in posts if post.url]
    parsed = follow_listing(source, view, base, listed, fetch_pages=False)
    for post in posts:
        if post.url:
            entry_state = page_state_entry(post.url, PLATFORM, post.native_id, None)
            if view.state(source.id, next(iter(entry_state))) != next(iter(entry_state.values())):
                parsed.observation.state.update(entry_state)
    parsed.observation.posts = posts
    return parsed


def read_feed(exchange: Exchange, url: str) -> tuple[list[tuple[Any, str]], str]:
    """The entries of a feed with the raw XML of each, and feedparser's format name."""
    body = exchange.body or b""
    refuse_entities(body, url)
    headers = {}
    content_type = exchange.header("Content-Type")
    if content_type and not body.startswith(_BOMS):
        # the header's charset decides when the XML declaration does not; a byte-order mark beats both
        headers["content-type"] = content_type
    result = feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    entries = list(result.entries)
    if result.bozo and not entries and not result.feed.get("title"):
        problem = result.get("bozo_exception")
        raise ParseError(f"{url}: not a readable RSS/Atom feed ({type(problem).__name__}: {problem})"[:500])
    if not result.get("version") and not entries:
        raise ParseError(f"{url}: not an RSS or Atom feed")
    raws = _raw_fragments(body)
    if len(raws) != len(entries):  # the XML could not be split the way feedparser read it
        raws = [json.dumps(_plain(entry), ensure_ascii=False, default=str) for entry in entries]
    return list(zip(entries, raws, strict=True)), result.get("version") or ""


def _raw_fragments(body: bytes) -> list[str]:
    from lxml import etree

    try:
        root = etree.fromstring(body, parser=safe_xml_parser())
    except (etree.XMLSyntaxError, ValueError):
        return []
    return [etree.tostring(node, encoding="unicode") for node in root.iter()
            if local_name(node.tag) in ("item", "entry")]


def _plain(entry: Any) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if not key.endswith("_parsed")}


def _where(key: str, version: str) -> str:
    """The element a feedparser date key came from, in the feed's own vocabulary."""
    if version.startswith("atom"):
        return f"atom:{key}"
    if key == "published":
        return "dc:date" if version == "rss10" else "rss:pubDate"
    if key == "updated":
        return "dc:date"  # RSS has no "updated": feedparser fills it from dc:date / atom:updated
    return f"{version or 'feed'}:{key}"


def entry_date(entry: Any, version: str) -> tuple[str | None, str | None, str | None]:
    """(raw, where, normalised UTC) of the date the entry claims, preferring publication."""
    for key in ("published", "updated", "created"):
        raw = entry.get(key)
        if raw:
            at = struct_time_utc(entry.get(f"{key}_parsed")) or normalise_date(str(raw))
            return str(raw)[:200], _where(key, version), at
    return None, None, None


def _link(entry: Any) -> str | None:
    link = entry.get("link")
    return absolute_http(link, link) if isinstance(link, str) else None


def _tags(entry: Any) -> list[str]:
    return [str(tag.get("term")).strip() for tag in entry.get("tags", []) or []
            if tag.get("term") and str(tag.get("term")).strip()][:50]


def entry_id(entry: Any, feed_url: str) -> str | None:
    value = entry.get("id") or entry.get("guid")
    if isinstance(value, str) and value.strip():
        value = value.strip()
        return value if ":" in value else f"{feed_url}#{value}"
    return _link(entry)


def entry_text(entry: Any) -> str | None:
    contents = [c.get("value", "") for c in entry.get("content", []) or [] if c.get("value")]
    body = max(contents, key=len) if contents else entry.get("summary")
    text = html_to_text(body)
    return text or None


def entry_post(source: Source, entry: Any, raw: str, version: str, feed_url: str) -> PostDraft | None:
    native_id = entry_id(entry, feed_url)
    if native_id is None:
        return None
    published_raw, where, published_at = entry_date(entry, version)
    title = short_title(html_to_text(entry.get("title")))
    return PostDraft(
        platform=PLATFORM, native_id=native_id[:2000], url=_link(entry),
        versions=[VersionDraft(text=entry_text(entry), title=title, raw=raw)],
        author_id=source.id, author_name=entry.get("author") or source.organisation or source.name,
        kind="statement", published_at=published_at, published_raw=published_raw, published_where=where,
        tags=_tags(entry), publish=source.publish, extractor="feedparser", extractor_version=EXTRACTOR_VERSION)

