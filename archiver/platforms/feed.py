"""RSS 0.9x/1.0/2.0 and Atom feeds, from the bytes the fetch layer captured: one lxml pass
(archiver.platforms.feedtree) for the well-formed feeds it is sure of, feedparser for the rest.

Without `follow_links`, each entry is a post of platform "feed": native_id = the entry's guid/id
(prefixed with the feed URL when it is not a URL or URN, since bare numbers repeat across feeds),
else its link, else (RSS allows items with neither) `<feed URL>#sha256:<digest>` of the entry's
title, date and text, so the same item keeps its identity while those stay the same; text = the
entry's summary or content as plain text.
Relative links are resolved against the feed's xml:base, else its Content-Location, else the URL
it was fetched from. A feed cut short (it ends before its root element closes), or one whose XML
shows a different number of entries than feedparser read, is not read at all: nothing it shows is
recorded, so an item cut off is never taken for an edit or a removal.
With `follow_links = true`, the feed only says which statement pages are new or changed: each is
fetched and becomes a "web" post (see archiver.platforms.statement), the feed entry kept as its raw
fragment. Entries that leave the feed are confirmed with a direct request to their link.

Options: follow_links (bool), recheck (bool: re-read every listed page each run)."""

from __future__ import annotations

import codecs
import json
import re
from collections import Counter
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from archiver.fetch.charset import web_codec
from archiver.models import Exchange, PostDraft, Request, Source, VersionDraft
from archiver.platforms import Parsed, ParseError, expect_ok, feedtree, read_with
from archiver.platforms.dates import NO_HINTS, Hints, read_date, struct_time_utc
from archiver.platforms.listing import Listed, absolute_http, digest, follow_listing, listing_request, page_state_entry
from archiver.platforms.memory import ArchiveMemory
from archiver.platforms.options import DATES, Option, http_locator, recheck
from archiver.platforms.statement import keep_held, parse_page
from archiver.platforms.text import html_to_text, short_title
from archiver.platforms.xmldoc import local_name, read_xml, refuse_entities, safe_xml_parser

# 2: the shared HTML->text rule and date reader (platforms.text, platforms.dates);
# 3: plain-text titles and summaries kept as written, not read as HTML;
# 4: a second summary (itunes:summary, media:description after the description) is not the content
EXTRACTOR_VERSION = read_with("4", "feedparser", "selectolax", "lxml", text_rule=True)
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
_ENTRY_ELEMENTS = ("item", "entry")  # RSS, RDF and CDF items, Atom entries
_DESCRIPTIONS = {"description", f"{{{feedtree.RSS10}}}description"}
_CONTENT_ELEMENTS = {f"{{{feedtree.CONTENT}}}encoded", f"{{{feedtree.ATOM}}}content", "{http://purl.org/atom/ns#}content",
                     "{http://www.w3.org/1999/xhtml}body"}  # Atom 1.0 and 0.3
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>|<(?:[\w.-]+:)?(?:item|entry)\b[^<>]*/>", re.IGNORECASE)


def plan(source: Source, view: ArchiveMemory) -> list[Request]:
    return [listing_request(source)]


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    if request.purpose in ("item", "confirm"):
        return parse_page(source, request, exchange, view)
    expect_ok(exchange)
    assert exchange.body is not None
    entries, version, unclosed = read_feed(exchange, request.url)
    base = exchange.final_url or request.url
    hints = Hints.of(source.options)
    if source.options.get("follow_links"):
        listed = []
        unreadable = []
        for entry, raw in entries:
            link = _link(entry)
            if link is None:
                unreadable.append(f"{request.url}: an entry ({entry_title(entry)!r}) "
                                  "has no link to follow")
                continue
            published_raw, where, _ = entry_date(entry, version, hints)
            listed.append(Listed(link, sig=digest(raw), meta={
                "raw": raw, "title": entry_title(entry), "date_raw": published_raw,
                "date_where": where, "tags": json.dumps(_tags(entry)) if _tags(entry) else None}))
        return follow_listing(source, view, base, listed, unreadable=[*unreadable, *filter(None, [unclosed])])
    posts = [entry_post(source, entry, raw, version, source.locator, hints) for entry, raw in entries]
    _linked_apart(posts, entries, source.locator, view)
    if base != source.locator:
        _keep_held_identities(posts, source.locator, base, view)
    for post in posts:
        keep_held(post, view)
    listed = [Listed(post.url) for post in posts if post.url]
    parsed = follow_listing(source, view, base, listed, fetch_pages=False, unreadable=[unclosed] if unclosed else None)
    for post in posts:
        if post.url:
            entry_state = page_state_entry(post.url, PLATFORM, post.native_id, None)
            if view.state(source.id, next(iter(entry_state))) != next(iter(entry_state.values())):
                parsed.observation.state.update(entry_state)
    parsed.observation.posts = posts
    return parsed


def read_feed(exchange: Exchange, url: str) -> tuple[list[tuple[Any, str]], str, str | None]:
    """The entries of a feed with the raw XML of each, feedparser's format name, and the problem
    when the document does not close (its entries are whole, but others may be missing). One lxml
    pass reads the well-formed feeds it is sure of (archiver.platforms.feedtree), feedparser the rest."""
    body = exchange.body or b""
    refuse_entities(body, url)
    fast = feedtree.read(body, feed_base(exchange, url), exchange.header("Content-Type"))
    if fast is not None:
        return fast[0], fast[1], None
    return read_with_feedparser(exchange, url)


def feed_base(exchange: Exchange, url: str) -> str:
    """What relative links resolve against: Content-Location (itself relative to the URL fetched), else that URL."""
    fetched = exchange.final_url or url
    return urljoin(fetched, exchange.header("Content-Location") or "") or fetched


def read_with_feedparser(exchange: Exchange, url: str) -> tuple[list[tuple[Any, str]], str, str | None]:
    body = exchange.body or b""
    headers = {}
    content_type = exchange.header("Content-Type")
    if content_type and not body.startswith(_BOMS):
        # the header's charset decides when the XML declaration does not; a byte-order mark beats both
        headers["content-type"] = content_type
    headers["content-location"] = feed_base(exchange, url)
    result = feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=True)
    entries = list(result.entries)
    if result.bozo and not entries and not result.feed.get("title"):
        problem = result.get("bozo_exception")
        raise ParseError(f"{url}: not a readable RSS/Atom feed ({type(problem).__name__}: {problem})"[:500])
    if not result.get("version") and not entries:
        raise ParseError(f"{url}: not an RSS or Atom feed")
    read_in = str(result.get("encoding") or "")
    codec = web_codec(read_in) or read_in  # EBCDIC code pages are not the Encoding Standard's
    # The entries' XML is split from the text feedparser read, re-encoded as UTF-8: from the bytes, lxml
    # would follow the XML declaration where feedparser followed the header, read ISO-8859-1 as Latin-1
    # where feedparser reads windows-1252, and know no EBCDIC code page. The bytes themselves when that
    # text is no XML (a feedparser fallback that kept a broken BOM as text).
    as_read = _as_utf8(body, codec) if read_in and codec != "utf-8" else None
    doc = read_xml(as_read) if as_read else None
    if as_read and doc and doc.root is not None:
        body = as_read
    else:
        doc = read_xml(body)
    if doc.root is None:
        raise ParseError(f"{url}: not readable as XML ({doc.error}): not read, nothing inferred"[:500])
    raws = _raw_fragments(doc.root)
    ended = len(_ENTRY_END.findall(body))
    if len(raws) != len(entries) or (doc.error and ended != len(raws)):
        # an entry cut off or lost: its text would read as an edit, its absence as a removal
        raise ParseError(f"{url}: the feed was read only in part (feedparser read {len(entries)} entries, its "
                         f"XML shows {len(raws)}, {ended} of them ended; {doc.error or 'well-formed'}): "
                         "not read, nothing inferred"[:500])
    unclosed = None if doc.closed else (f"{url}: the feed ends before its root element closes ({doc.error}); "
                                        "its entries are read, but entries missing from it are not looked for")
    return list(zip(entries, raws, strict=True)), result.get("version") or "", unclosed


def _as_utf8(body: bytes, encoding: str) -> bytes | None:
    try:
        text = body.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return None
    return re.sub(r"^\ufeff?\s*<\?xml[^>]*\?>", '<?xml version="1.0" encoding="utf-8"?>', text).encode()


def _keep_held_identities(posts: list[PostDraft], feed_url: str, fetched: str, view: ArchiveMemory) -> None:
    """An entry the feed identifies only within itself (a bare guid, or its digest) is prefixed with the
    feed's configured URL, which a redirect does not change: prefixed with the URL fetched, every such
    entry became a new post when the feed moved. Until this rule they were prefixed with the URL fetched;
    an entry the archive already holds that way keeps its identity."""
    for post in posts:
        if post.native_id.startswith(f"{feed_url}#") and view.post(PLATFORM, post.native_id) is None:
            held = fetched + post.native_id[len(feed_url):]
            if view.post(PLATFORM, held) is not None:
                post.native_id = held


def _raw_fragments(root: Any) -> list[str]:
    from lxml import etree

    return [etree.tostring(node, encoding="unicode", with_tail=False) for node in root.iter()
            if local_name(node.tag).lower() in _ENTRY_ELEMENTS]


def _where(key: str, version: str) -> str:
    """The element a feedparser date key came from, in the feed's own vocabulary."""
    if version.startswith("atom"):
        return f"atom:{key}"
    if key == "published":
        return "dc:date" if version == "rss10" else "rss:pubDate"
    if key == "updated":
        return "dc:date"  # RSS has no "updated": feedparser fills it from dc:date / atom:updated
    return f"{version or 'feed'}:{key}"


def entry_date(entry: Any, version: str, hints: Hints = NO_HINTS) -> tuple[str | None, str | None, str | None]:
    """(raw, where, normalised UTC) of the date the entry claims, preferring publication. Read by
    archiver.platforms.dates; feedparser's own reading only when those rules read nothing (it
    knows some historic feed formats), and then marked as such."""
    for key in ("published", "updated", "created"):
        raw = entry.get(key)
        if raw:
            claimed = read_date(str(raw), hints)
            where = claimed.where(_where(key, version))
            if claimed.at is None and claimed.rule is None:
                at = struct_time_utc(entry.get(f"{key}_parsed"))
                if at is not None:
                    return str(raw)[:200], f"{where} [read by feedparser]", at
            return str(raw)[:200], where, claimed.at
    return None, None, None


def _link(entry: Any) -> str | None:
    link = entry.get("link")
    return absolute_http(link, link) if isinstance(link, str) else None


def _tags(entry: Any) -> list[str]:
    return [str(tag.get("term")).strip() for tag in entry.get("tags", []) or []
            if tag.get("term") and str(tag.get("term")).strip()][:50]


def entry_id(entry: Any, feed_url: str) -> str:
    value = entry.get("id") or entry.get("guid")
    if isinstance(value, str) and value.strip():
        value = value.strip()
        return value if ":" in value else f"{feed_url}#{value}"
    link = _link(entry)
    if link is not None:
        # two items of one page (`news.html#a`, `news.html#b`) are two items
        fragment = urlsplit(entry["link"].strip()).fragment
        return f"{link}#{fragment}" if fragment else link
    return _said_id(entry, feed_url)


def _said_id(entry: Any, feed_url: str) -> str:
    """An item known by what it says (RSS allows items with neither guid nor link)."""
    content = entry_text(entry)
    return f"{feed_url}#sha256:{digest(entry.get('title'), entry.get('published') or entry.get('updated'), content)}"


def _linked_apart(posts: list[PostDraft], entries: list[tuple[Any, str]], feed_url: str,
                  view: ArchiveMemory) -> None:
    """Items without a guid are known by their link, but several items of one feed linking to one page
    (the listing, a page of news with no anchors) are not one post, edited back and forth by every
    poll: those are known by what they say. An item whose link gained its anchor in the identity keeps
    the identity the archive holds without it, when no other item of the feed shares that link."""
    linked = [(post, entry) for post, (entry, _) in zip(posts, entries, strict=True)
              if post.url and not (entry.get("id") or entry.get("guid"))]
    shared = Counter(post.native_id for post, _ in linked)
    pages = Counter(post.url for post, _ in linked)
    for post, entry in linked:
        if shared[post.native_id] > 1:
            post.native_id = _said_id(entry, feed_url)
        elif post.native_id != post.url and pages[post.url] == 1 and view.post(PLATFORM, post.native_id) is None \
                and view.post(PLATFORM, post.url) is not None:
            post.native_id = post.url


def entry_text(entry: Any, raw: str | None = None) -> str | None:
    """The entry's content, else its summary. Given the entry's XML, feedparser's `content` counts only
    when the entry has a content element: feedparser files a second summary there (an itunes:summary or
    media:description after the description), often a shortened blurb of what the description says."""
    contents = [c for c in entry.get("content", []) or [] if c.get("value")]
    if contents and raw is not None and isinstance(entry, feedparser.FeedParserDict) \
            and (described := _description(raw)) is not None:
        # feedparser's summary is the first summary it met: the description is the one that reads as it
        candidates = [_readable(entry.get("summary"), entry.get("summary_detail")),
                      *(_readable(c["value"], c) for c in contents)]
        return next((text for text in candidates if text == described), candidates[0]) or None
    if contents:
        longest = max(contents, key=lambda c: len(c["value"]))
        return _readable(longest["value"], longest) or None
    return _readable(entry.get("summary"), entry.get("summary_detail")) or None


def _description(raw: str) -> str | None:
    """For an entry without a content element, its RSS description's text ("" if it has none); None
    when it has a content element or its XML is not read (feedparser's reading stands)."""
    from lxml import etree

    try:
        entry = etree.fromstring(raw.encode(), parser=safe_xml_parser())
    except etree.XMLSyntaxError:
        return None
    children = [node for node in entry if isinstance(node.tag, str)]
    if any(node.tag in _CONTENT_ELEMENTS for node in children):
        return None
    described = next((node for node in children if node.tag in _DESCRIPTIONS), None)
    return html_to_text(described.text) if described is not None else ""


def entry_title(entry: Any) -> str | None:
    return short_title(_readable(entry.get("title"), entry.get("title_detail")))


def _readable(value: str | None, detail: Any) -> str:
    """A feed field's text: HTML read as HTML, plain text (Atom's type="text", an RSS title feedparser
    does not take for HTML) as it is: read as HTML, "Why <script> tags matter" was archived as "Why"."""
    if value and isinstance(detail, dict) and detail.get("type") == "text/plain":
        return value.strip()
    return html_to_text(value)


def entry_post(source: Source, entry: Any, raw: str, version: str, feed_url: str,
               hints: Hints = NO_HINTS) -> PostDraft:
    native_id = entry_id(entry, feed_url)
    published_raw, where, published_at = entry_date(entry, version, hints)
    title = entry_title(entry)
    return PostDraft(
        platform=PLATFORM, native_id=native_id[:2000], url=_link(entry),
        versions=[VersionDraft(text=entry_text(entry, raw), title=title, raw=raw)],
        author_id=source.id, author_name=entry.get("author") or source.organisation or source.name,
        kind="statement", published_at=published_at, published_raw=published_raw, published_where=where,
        tags=_tags(entry), publish=source.publish, extractor="feedparser", extractor_version=EXTRACTOR_VERSION)

