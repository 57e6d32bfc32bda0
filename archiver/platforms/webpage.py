"""A statements page without a feed: the listing page read with CSS selectors from the source's
options, then each statement page fetched and its main text extracted (archiver.platforms.statement).

Options: item (CSS selector of one entry, required), link (selector of the entry's link inside it,
default "a"; "" when the entry is the link itself), title and date (selectors inside the entry;
the date is read from a `datetime` attribute when there is one, else the text), recheck (bool:
re-read every listed page each run, to see edits), next and max_pages (the selector of the link to
the listing's next page, and how many listing pages one run reads; default 1). The page's own date
wins over the listing's. Removals are judged on the first listing page only: later pages are where
entries go as they age, not a complete list."""

from __future__ import annotations

from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from archiver.models import Exchange, Request, Source
from archiver.platforms import Parsed, ParseError, expect_ok
from archiver.platforms.listing import (
    Listed,
    absolute_http,
    document_base,
    follow_listing,
    listing_page_number,
    listing_request,
    next_listing,
)
from archiver.platforms.memory import ArchiveMemory
from archiver.platforms.options import DATES, Option, http_locator, max_pages, recheck
from archiver.platforms.statement import parse_page
from archiver.platforms.text import node_text, short_title

EXTRACTOR_VERSION = "1"
OPTIONS = (
    Option("item", "selector", None, "the CSS selector of one entry of the listing", required=True,
           example='"div.views-row"'),
    Option("link", "selector", "a", 'the selector of the entry\'s link inside it; `""` when the entry is the link',
           example='"h3 a"'),
    Option("title", "selector", None, "the selector of the entry's title inside it (default: the link's text)",
           example='"h3"'),
    Option("date", "selector", None, "the selector of the entry's date inside it (its `datetime` attribute, else "
           "its text); only a fallback for the page's own date", example='"time"'),
    recheck(),
    max_pages(1, "listing pages one run reads, following `next`"),
    Option("next", "selector", None, "the selector of the link to the listing's next page",
           example='"li.pager__item--next a"'),
    *DATES,
)
locator_problem = http_locator


def plan(source: Source, view: ArchiveMemory) -> list[Request]:
    return [listing_request(source)]


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    if request.purpose in ("item", "confirm"):
        return parse_page(source, request, exchange, view)
    expect_ok(exchange)
    url = exchange.final_url or request.url
    tree = LexborHTMLParser(exchange.text())
    base = document_base(url, tree)
    items, unreadable = listing_items(source.options, base, tree)
    first = listing_page_number(request) == 1
    if not items and first:
        raise ParseError(f"{request.url}: the listing shows no entries for selector "
                         f"{source.options.get('item')!r} (has the page changed its layout?)")
    problems = [f"{request.url}: {count} of {count + len(items)} entries have no link to a page "
                f"(selector {source.options.get('link', 'a')!r})"] if (count := len(unreadable)) else None
    parsed = follow_listing(source, view, url, items, detect_removals=first, unreadable=problems)
    following = next_listing(source, request, tree, base)
    if following is not None:
        parsed.follow.append(following)
    return parsed


def listing_items(options: dict[str, Any], base: str, tree: LexborHTMLParser) -> tuple[list[Listed], list[str]]:
    """The entries with a link to a page, and the HTML of those without one (unreadable)."""
    items: list[Listed] = []
    unreadable: list[str] = []
    for node in tree.css(str(options["item"])):
        link_selector = options.get("link", "a")
        link = node if not link_selector else node.css_first(link_selector)
        url = absolute_http(base, link.attributes.get("href")) if link is not None else None
        if url is None:
            unreadable.append(node.html or "")
            continue
        title = _select(node, options.get("title")) if options.get("title") else node_text(link)
        date_raw, date_where = _date(node, options.get("date"))
        items.append(Listed(url, meta={"raw": node.html, "title": short_title(title),
                                       "date_raw": date_raw, "date_where": date_where}))
    return items, unreadable


def _select(node: LexborNode, selector: str) -> str:
    return node_text(node.css_first(selector))


def _date(node: LexborNode, selector: str | None) -> tuple[str | None, str | None]:
    if not selector:
        return None, None
    found = node.css_first(selector)
    if found is None:
        return None, None
    attribute = (found.attributes.get("datetime") or "").strip()
    if attribute:
        return attribute[:200], f"listing:{selector}[datetime]"
    text = node_text(found)
    return (text[:200], f"listing:{selector}") if text else (None, None)
