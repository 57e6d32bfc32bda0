"""Listings (feeds with `follow_links`, listing pages, sitemaps, the UN table): which listed pages
to fetch and which removals to confirm, and what is remembered between runs to decide it.

Per-source state written here (source_state):
    page:<url>     JSON {"p": platform, "id": native_id, "sig": listing signature} for a listed
                   URL that was archived (sig = feed-entry digest, sitemap lastmod, row digest);
    listed:<url>   JSON list of the URLs a listing showed last time, to notice removals.

A listing read only in part (some entries unreadable, a document cut short) is never compared with
the previous one: an entry it fails to show has not left it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

from archiver.models import Request, Source
from archiver.platforms import Parsed
from archiver.platforms.memory import ArchiveMemory

GONE_STATUSES = (404, 410)
# A server that cannot keep a session in a cookie (the archiver sends none) writes a new session id
# into every link of every page: Java servlets `;jsessionid=…`, ASP.NET `/(S(…))/`, PHP `?PHPSESSID=…`.
# Left in, each poll would name every statement anew (a false "new" for each) and refetch every page.
_SESSION_IN_PATH = re.compile(r";jsessionid=[^/;?#]*|/\((?:[a-z]\([a-z0-9]+\))+\)(?=/)", re.IGNORECASE)
_SESSION_PARAMS = ("jsessionid", "phpsessid")
_SESSION_QUERY = re.compile(rf"(?:^|&)(?:{'|'.join(_SESSION_PARAMS)})=", re.IGNORECASE)
_INDEX_FILE = re.compile(r"^(index|default)\.[a-z]{2,5}$", re.IGNORECASE)
_VIEWS = ("amp", "print")  # a page's other views, sent back to it
_LOCALE = re.compile(r"^[a-z]{2}([-_][a-z]{2,4})?$", re.IGNORECASE)  # `en`, `pt-br`, `zh-hans`


def absolute_http(base: str, href: str | None) -> str | None:
    """The http(s) address a link names, without its fragment or a server session id (see below)."""
    if not href or not href.strip():
        return None
    url = urljoin(base, href.strip())
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    path, query = _SESSION_IN_PATH.sub("", parts.path) or "/", parts.query
    if query and _SESSION_QUERY.search(query):
        query = "&".join(pair for pair in query.split("&")
                         if pair.split("=", 1)[0].lower() not in _SESSION_PARAMS)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def document_base(url: str, tree: LexborHTMLParser) -> str:
    """What a page's relative links resolve against, as a browser resolves them: its first `<base href>`
    (itself resolved against the page's URL), else the page's URL. CMSs such as SPIP, Contao and TYPO3
    write `<base href="https://site/">` and links relative to it."""
    node = tree.css_first("base[href]")
    return (absolute_http(url, node.attributes.get("href")) if node is not None else None) or url


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def is_home(url: str) -> bool:
    """Whether an address is a site's home page: `/`, or a language's (`/en/`, `/pt-br/`), with no query
    (`/?p=959` is a WordPress post)."""
    parts = urlsplit(url)
    path = _segments(parts.path)
    return not parts.query and (not path or (len(path) == 1 and bool(_LOCALE.match(path[0]))))


def _same_address(url: str, other: str) -> bool:
    return url.rstrip("/") == other.rstrip("/")


def names_an_index(other: str, page: str, listing: str | None) -> bool:
    """Whether `other`, named by `page` (its redirect, its canonical link), is the site's home or the
    source's listing while `page` is neither: never the page itself, nor a move of it."""
    return (is_home(other) and not is_home(page)) or bool(
        listing and _same_address(other, listing) and not _same_address(page, listing))


def redirected_to_index(requested: str, final: str | None, listing: str) -> bool:
    """Whether a page's address was redirected to the site's home (`/`, `/en/`, from `/?p=5` too), to the
    source's listing, or to a page above it (`/en/statements/x` -> `/en/statements/`): what a CMS does
    with a page it removed. Such a page is never the one asked for, nor a move of it; a redirect to a
    sibling, to the same path without its query (tracking parameters dropped) or to another site's
    same path (a move) is not one."""
    if not final or final == requested:
        return False
    if names_an_index(final, requested, listing):
        return True
    asked, landed = _segments(urlsplit(requested).path), _segments(urlsplit(final).path)
    if asked and (_INDEX_FILE.match(asked[-1]) or asked[-1].lower() in _VIEWS):
        asked.pop()  # `/x/index.html`, `/x/amp` -> `/x/` is the same page
    return len(landed) < len(asked) and asked[:len(landed)] == landed


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()[:32]


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
                   fetch_pages: bool = True, detect_removals: bool = True,
                   unreadable: list[str] | None = None) -> Parsed:
    """Item requests for new, changed (and with `recheck`, all listed) pages; confirm requests for
    pages the previous listing showed and this one does not. `unreadable` names the entries that
    could not be read: they are the parse's problems, and removals are then not looked for."""
    parsed = Parsed(problems=list(unreadable or []))
    detect_removals = detect_removals and not parsed.problems
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
