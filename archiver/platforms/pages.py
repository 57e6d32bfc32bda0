"""What the official-statement kinds (feed, webpage, sitemap, UN communications) share: reading a
statement page into a post, deciding which listed pages to fetch, confirming removals, and the
date and XML hygiene every one of them needs.

Identity of a statement page: platform "web", native_id = the page's canonical URL (its
`<link rel="canonical">` when it points to the same host, else the final URL without fragment).
The same page reached from a feed (with `follow_links`), a listing page or a sitemap is therefore
one post, whichever source saw it first.

Per-source state written here (source_state):
    page:<url>     JSON {"p": platform, "id": native_id, "sig": listing signature} for a listed
                   URL that was archived (sig = feed-entry digest, sitemap lastmod, row digest);
    listed:<url>   JSON list of the URLs a listing showed last time, to notice removals.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from archiver.models import Exchange, Gone, Observation, PostDraft, Request, Source, VersionDraft, format_time
from archiver.platforms import Parsed, ParseError, expect_ok
from archiver.platforms.memory import ArchiveMemory

EXTRACTOR_VERSION = "1"
WEB = "web"
GONE_STATUSES = (404, 410)
MAX_TITLE = 1000  # longer titles are cut (the raw fragment and the payload keep them whole)
MAX_HTML = 5 * 1024 * 1024  # extraction takes ~1 s per MB: larger pages would stall a run

# Earliest date a statement can plausibly claim; "1970-01-01T00:00:00" is an unset Unix clock.
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FUTURE_SLACK = dt.timedelta(days=2)  # embargoed releases are sometimes dated a little ahead
_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_NOT_STATEMENT = ["//nav", "//footer", "//body/header", "//*[@role='navigation']"]
_BLOCK_END = re.compile(r"<br\s*/?>|</(?:p|div|li|h[1-6]|tr|blockquote|ul|ol|table)\s*>", re.IGNORECASE)


# -- dates ---------------------------------------------------------------------------------------

def plausible(moment: dt.datetime) -> bool:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return _EARLIEST <= moment <= dt.datetime.now(dt.UTC) + _FUTURE_SLACK and moment != _EPOCH


def normalise_date(raw: str | None) -> str | None:
    """A claimed date as archive time (UTC), or None when it is missing, unreadable or absurd.
    A date without a zone is taken as UTC (the raw string is kept beside it)."""
    if not raw or not raw.strip() or len(raw) > 100:
        return None
    text = raw.strip()
    moment: dt.datetime | None = None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            moment = None
        if moment is None:
            if not _YEAR.search(text):
                return None  # free-form parsing would read "1" or "May" as a day of this year
            from dateutil import parser as dateparser

            try:
                moment = dateparser.parse(text, fuzzy=False)
            except (ValueError, OverflowError, TypeError):
                return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return format_time(moment) if plausible(moment) else None
    except (OverflowError, ValueError):
        return None


def struct_time_utc(value: time.struct_time | None) -> str | None:
    """feedparser's parsed dates (UTC struct_time) as archive time, None when absurd."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return format_time(moment) if plausible(moment) else None


# -- XML hygiene -------------------------------------------------------------------------------

def refuse_entities(body: bytes, where: str) -> None:
    """Refuse documents that declare entities: the only use in a feed or sitemap is expansion
    bombs ("billion laughs") or reading local files, and no real publisher needs them."""
    if _ENTITY.search(body[:1_000_000]):
        raise ParseError(f"{where}: the document declares XML entities (refused: entity expansion)")


def safe_xml_parser() -> Any:
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                           recover=False, remove_comments=True)


def local_name(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# -- HTML helpers ------------------------------------------------------------------------------

def html_to_text(fragment: str | None) -> str:
    """Plain text of an HTML fragment (feed summaries, table cells), block breaks kept as lines."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return fragment.strip()
    # block ends become line breaks; inline markup (<b>, <a>) joins its text as written
    tree = LexborHTMLParser(_BLOCK_END.sub(lambda m: m.group(0) + "\n", f"<div>{fragment}</div>"))
    node = tree.body
    text = node.text(separator="") if node is not None else ""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def short_title(title: str | None) -> str | None:
    if title is None:
        return None
    title = " ".join(title.split())
    if not title:
        return None
    return title if len(title) <= MAX_TITLE else title[:MAX_TITLE - 1] + "…"


def absolute_http(base: str, href: str | None) -> str | None:
    if not href or not href.strip():
        return None
    url = urljoin(base, href.strip())
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()[:32]


# -- statement pages ---------------------------------------------------------------------------

@dataclass
class PageFacts:
    canonical: str
    title: str | None
    text: str | None
    published_raw: str | None
    published_where: str | None
    language: str | None


_DATE_PLACES = (
    ("meta[property='article:published_time']", "content", "meta[property=article:published_time]"),
    ("meta[name='article:published_time']", "content", "meta[name=article:published_time]"),
    ("meta[itemprop='datePublished']", "content", "meta[itemprop=datePublished]"),
    ("meta[name='dcterms.date']", "content", "meta[name=dcterms.date]"),
    ("meta[name='DC.date']", "content", "meta[name=DC.date]"),
    ("meta[name='date']", "content", "meta[name=date]"),
    ("meta[name='publication_date']", "content", "meta[name=publication_date]"),
)


def read_page(url: str, html: str) -> PageFacts:
    """The facts of a statement page: canonical URL, title, main text, its own date and where."""
    if len(html) > MAX_HTML:
        raise ParseError(f"{url}: page of {len(html)} characters is too large for text extraction")
    tree = LexborHTMLParser(html)
    canonical = _canonical(url, tree)
    title = _first_attr(tree, "meta[property='og:title']", "content")
    if not title:
        node = tree.css_first("title") or tree.css_first("h1")
        title = node.text() if node is not None else None
    published_raw, where = _page_date(tree)
    language = None
    html_node = tree.css_first("html")
    if html_node is not None:
        language = (html_node.attributes.get("lang") or "").strip() or None
    text = _main_text(html, url)
    return PageFacts(canonical, short_title(title), text, published_raw, where, language)


def _main_text(html: str, url: str) -> str | None:
    import trafilatura

    # trafilatura falls back to any text it finds; site navigation and footers are never the
    # statement, so they are pruned first and a page of nothing else has no main text
    text = trafilatura.extract(html, url=url, include_comments=False, include_tables=True,
                               favor_precision=True, deduplicate=False, prune_xpath=_NOT_STATEMENT)
    return text.strip() if text and text.strip() else None


def _canonical(url: str, tree: LexborHTMLParser) -> str:
    base = absolute_http(url, url) or url
    for node in tree.css("link[rel]"):
        rels = (node.attributes.get("rel") or "").lower().split()
        if "canonical" in rels:
            candidate = absolute_http(base, node.attributes.get("href"))
            if candidate and urlsplit(candidate).hostname == urlsplit(base).hostname:
                return candidate
            break
    return base


def _first_attr(tree: LexborHTMLParser, selector: str, attribute: str) -> str | None:
    node = tree.css_first(selector)
    if node is None:
        return None
    value = node.attributes.get(attribute)
    return value.strip() if value and value.strip() else None


def _page_date(tree: LexborHTMLParser) -> tuple[str | None, str | None]:
    for selector, attribute, where in _DATE_PLACES:
        value = _first_attr(tree, selector, attribute)
        if value:
            return value[:200], where
    for script in tree.css("script[type='application/ld+json']"):
        found = _json_ld_date(script.text())
        if found:
            return found[:200], "json-ld:datePublished"
    node = tree.css_first("time[datetime]")
    if node is not None and (node.attributes.get("datetime") or "").strip():
        return (node.attributes.get("datetime") or "").strip()[:200], "time[datetime]"
    return None, None


def _json_ld_date(text: str) -> str | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    stack: list[Any] = [data]
    steps = 0
    while stack and steps < 1000:  # bounded: JSON-LD can be large and deeply nested
        steps += 1
        item = stack.pop()
        if isinstance(item, dict):
            value = item.get("datePublished")
            if isinstance(value, str) and value.strip():
                return value.strip()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def statement_post(source: Source, facts: PageFacts, *, raw: str | None, fallback_title: str | None,
                   fallback_date: tuple[str | None, str | None], tags: list[str] | None = None) -> PostDraft:
    """The post for a statement page. The page's own date wins; the listing's date is the fallback."""
    published_raw, where = facts.published_raw, facts.published_where
    published_at = normalise_date(published_raw)
    if published_at is None and fallback_date[0]:
        fallback_at = normalise_date(fallback_date[0])
        if fallback_at is not None or published_raw is None:
            published_raw, where, published_at = fallback_date[0], fallback_date[1], fallback_at
    return PostDraft(
        platform=WEB, native_id=facts.canonical, url=facts.canonical,
        versions=[VersionDraft(text=facts.text, title=facts.title or short_title(fallback_title), raw=raw)],
        author_id=source.id, author_name=source.organisation or source.name, kind="statement",
        published_at=published_at, published_raw=published_raw, published_where=where,
        language=facts.language, tags=tags or [], publish=source.publish,
        extractor="trafilatura", extractor_version=EXTRACTOR_VERSION)


# -- listings: which pages to fetch, which removals to confirm ---------------------------------

@dataclass
class Listed:
    """One entry of a listing (feed item, listing row, sitemap <url>) pointing at a page."""

    url: str
    sig: str | None = None  # changes when the listing says the page changed
    meta: dict[str, Any] = field(default_factory=dict)  # handed to the page's parser


def listing_request(source: Source) -> Request:
    """The first request of a listing source. With `recheck` it is unconditional: an unchanged
    listing must still lead to its pages, whose edits do not show in the listing."""
    return Request(source.locator, purpose="listing", conditional=not source.options.get("recheck", False))


# Listings that continue on further pages (options `next` and `max_pages`): later pages hold older
# entries; an entry that moves off the first page is confirmed with a direct request, as any entry
# leaving the listing is.
def listing_page_number(request: Request) -> int:
    return int(request.meta_dict().get("page", 1))


def next_listing(source: Source, request: Request, tree: LexborHTMLParser, base: str) -> Request | None:
    """The request for the listing's next page, while the source's `max_pages` allows one."""
    page = listing_page_number(request)
    selector = source.options.get("next")
    if not selector or page >= int(source.options.get("max_pages", 1)):
        return None
    node = tree.css_first(str(selector))
    url = absolute_http(base, node.attributes.get("href")) if node is not None else None
    return Request(url, purpose="listing", meta=(("page", page + 1),)) if url else None


def page_state(view: ArchiveMemory, source: Source, url: str) -> dict[str, Any] | None:
    return load_dict(view.state(source.id, f"page:{url}")) or None


def page_state_entry(url: str, platform: str, native_id: str, sig: str | None) -> dict[str, str]:
    return {f"page:{url}": json.dumps({"p": platform, "id": native_id, "sig": sig}, ensure_ascii=False)}


def follow_listing(source: Source, view: ArchiveMemory, listing_url: str, items: Iterable[Listed], *,
                   fetch_pages: bool = True, detect_removals: bool = True) -> Parsed:
    """Item requests for new, changed (and with `recheck`, all listed) pages; confirm requests for
    pages the previous listing showed and this one does not."""
    parsed = Parsed()
    recheck = bool(source.options.get("recheck", False))
    current: list[str] = []
    for item in items:
        if item.url in current:
            continue
        current.append(item.url)
        if not fetch_pages:
            continue
        known = page_state(view, source, item.url)
        changed = known is None or (item.sig is not None and known.get("sig") != item.sig)
        if not changed and known is not None:
            post = view.post(str(known.get("p")), str(known.get("id")))
            changed = post is None or post.status != "live"
        if changed or recheck:
            meta = {**item.meta, "sig": item.sig}
            # a page the listing says changed must be read even if the server claims 304
            parsed.follow.append(Request(item.url, purpose="item", conditional=not changed,
                                         meta=tuple(sorted(meta.items()))))
    if detect_removals:
        key = f"listed:{listing_url}"
        previous = load_list(view.state(source.id, key))
        if previous != current:
            parsed.observation.state[key] = json.dumps(current, ensure_ascii=False)
        present = set(current)
        for url in previous:
            if url in present:
                continue
            known = page_state(view, source, url)
            if known is None:
                continue
            post = view.post(str(known.get("p")), str(known.get("id")))
            if post is not None and post.status == "live":
                parsed.follow.append(Request(url, purpose="confirm", conditional=False,
                                             meta=(("native_id", post.native_id), ("platform", post.platform))))
    return parsed


def load_dict(value: str | None) -> dict[str, Any]:
    """A JSON object kept in source_state; {} for none, or for a value that is not one."""
    if not value:
        return {}
    try:
        loaded = json.loads(value)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def load_list(value: str | None) -> list[str]:
    if not value:
        return []
    try:
        loaded = json.loads(value)
    except ValueError:
        return []
    return [str(item) for item in loaded] if isinstance(loaded, list) else []


def parse_page(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    """An "item" or "confirm" exchange for a statement page (platform "web")."""
    meta = request.meta_dict()
    known = page_state(view, source, request.url)
    gone_id = (meta.get("platform"), meta.get("native_id")) if request.purpose == "confirm" else (
        (known.get("p"), known.get("id")) if known else (None, None))
    if exchange.status in GONE_STATUSES and exchange.error is None and gone_id[1]:
        reason = f"HTTP {exchange.status} for {request.url}"
        if request.purpose == "confirm":
            reason += " after it left the listing"
        return Parsed(Observation(gone=[Gone(str(gone_id[0]), str(gone_id[1]), True, reason)]))
    expect_ok(exchange)
    if request.purpose == "confirm" and gone_id[0] != WEB:
        return Parsed()  # still answers; a feed entry cannot be re-read from its page
    facts = read_page(exchange.final_url or request.url, exchange.text())
    if facts.text is None:
        if request.purpose == "confirm" and gone_id[1]:
            # left the listing and now answers with no statement on it (a "soft 404")
            return Parsed(Observation(gone=[Gone(WEB, str(gone_id[1]), False,
                                                 f"{request.url} left the listing and shows no statement")]))
        raise ParseError(f"{request.url}: no main text found on the page")
    post = statement_post(source, facts, raw=meta.get("raw"), fallback_title=meta.get("title"),
                          fallback_date=(meta.get("date_raw"), meta.get("date_where")),
                          tags=json.loads(meta["tags"]) if meta.get("tags") else None)
    state = page_state_entry(request.url, WEB, facts.canonical, meta.get("sig", known.get("sig") if known else None))
    return Parsed(Observation(posts=[post], state=state))


def node_text(node: LexborNode | None) -> str:
    return node.text(separator=" ").strip() if node is not None else ""
