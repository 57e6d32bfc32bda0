"""Sitemaps (`<urlset>`) and sitemap indexes (`<sitemapindex>`, children followed), plain or
gzipped. Each listed page whose `<lastmod>` differs from the one recorded when it was last archived
(or that is new) is fetched and read as a statement page (archiver.platforms.statement); a news
sitemap's `<news:publication_date>` and `<news:title>` stand in for a page that states neither. Child
sitemaps are asked for on every run with conditional GET (unchanged ones answer 304).

Parsed with lxml with entity expansion, DTD loading and network access off, after refusing any
document that declares entities; gzip is inflated to at most 50 MB (the sitemap protocol's limit).

Options: include / exclude (regular expressions on page URLs), recheck (bool)."""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from archiver.models import Exchange, Request, Source
from archiver.platforms import Parsed, ParseError, expect_ok
from archiver.platforms.listing import Listed, absolute_http, follow_listing, listing_request, load_list
from archiver.platforms.memory import ArchiveMemory
from archiver.platforms.options import DATES, Option, http_locator, recheck
from archiver.platforms.statement import parse_page
from archiver.platforms.xmldoc import local_name, refuse_entities, safe_xml_parser

EXTRACTOR_VERSION = "1"
MAX_XML = 50 * 1024 * 1024
MAX_URLS = 50_000
OPTIONS = (
    Option("include", "regex", None, "only page URLs this regular expression finds (re.search)",
           example='"/en/(press-releases|statements)/"'),
    Option("exclude", "regex", None, "leave out page URLs this regular expression finds", example='"/archive/"'),
    recheck(),
    *DATES,
)
locator_problem = http_locator


def plan(source: Source, view: ArchiveMemory) -> list[Request]:
    # The children known from the last read of the index are asked for too (conditionally): an
    # index that answers 304 says nothing about whether its children changed.
    first = listing_request(source)
    children = load_list(view.state(source.id, f"children:{source.locator}"))
    return [first, *(Request(url, purpose="listing", conditional=first.conditional) for url in children)]


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    if request.purpose in ("item", "confirm"):
        return parse_page(source, request, exchange, view)
    expect_ok(exchange)
    base = exchange.final_url or request.url
    root = read_xml(exchange.body or b"", request.url)
    kind = local_name(root.tag)
    if kind == "sitemapindex":
        return _index(source, request, view, root, base)
    if kind != "urlset":
        raise ParseError(f"{request.url}: not a sitemap (root element <{kind or '?'}>)")
    items = []
    include = re.compile(source.options["include"]) if source.options.get("include") else None
    exclude = re.compile(source.options["exclude"]) if source.options.get("exclude") else None
    for loc, lastmod, raw, news in _entries(root, "url", base):
        if (include and not include.search(loc)) or (exclude and exclude.search(loc)):
            continue
        items.append(Listed(loc, sig=lastmod, meta={"raw": raw, **news}))
    return follow_listing(source, view, base, items)


def _index(source: Source, request: Request, view: ArchiveMemory, root: Any, base: str) -> Parsed:
    """Every child sitemap, asked for conditionally: an unchanged child answers 304 and costs nothing
    (many sites never update an index's <lastmod>, so it is not trusted to skip a child)."""
    parsed = Parsed()
    children = [loc for loc, _, _, _ in _entries(root, "sitemap", base)]
    parsed.follow = [Request(loc, purpose="listing", conditional=request.conditional) for loc in children]
    key = f"children:{request.url}"
    if load_list(view.state(source.id, key)) != children:
        parsed.observation.state[key] = json.dumps(children, ensure_ascii=False)
    return parsed


def _entries(root: Any, element: str, base: str) -> list[tuple[str, str | None, str, dict[str, str]]]:
    """(loc, lastmod, the entry's XML, what a news sitemap's <news:news> says) of each entry. A news
    sitemap's publication date and title are the publisher's own claims, read as a listing's are:
    they stand in when the page states none (`lastmod` is a change, not a publication)."""
    from lxml import etree

    found = []
    for node in root:
        if local_name(node.tag) != element:
            continue
        loc = lastmod = None
        news: dict[str, str] = {}
        for child in node:
            name = local_name(child.tag)
            if name == "loc":
                loc = absolute_http(base, (child.text or "").strip())
            elif name == "lastmod":
                lastmod = (child.text or "").strip()[:100] or None
            elif name == "news":
                for field in child:
                    value = " ".join((field.text or "").split())
                    if local_name(field.tag) == "publication_date" and value:
                        news.update(date_raw=value[:200], date_where="sitemap:news:publication_date")
                    elif local_name(field.tag) == "title" and value:
                        news["title"] = value
        if loc is not None:
            found.append((loc, lastmod, etree.tostring(node, encoding="unicode"), news))
        if len(found) >= MAX_URLS:
            break
    return found


def read_xml(body: bytes, url: str) -> Any:
    from lxml import etree

    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body, url)
    if not body.strip():
        raise ParseError(f"{url}: empty sitemap")
    refuse_entities(body, url)
    try:
        root = etree.fromstring(body, parser=safe_xml_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ParseError(f"{url}: not well-formed XML: {exc}") from exc
    if root is None:
        raise ParseError(f"{url}: no XML document")
    return root


def _gunzip(body: bytes, url: str) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, MAX_XML + 1)
    except zlib.error as exc:
        raise ParseError(f"{url}: broken gzip: {exc}") from exc
    if len(data) > MAX_XML:
        raise ParseError(f"{url}: gzipped sitemap inflates beyond {MAX_XML} bytes (refused)")
    return data


