"""The statement-page reader every official kind shares: a fetched page becomes a "web" post with
its canonical URL, title, main text (trafilatura) and its own date, and a page that answers 404/410
or no longer shows a statement after leaving its listing is recorded as gone.

Identity of a statement page: platform "web", native_id = the page's canonical URL (its
`<link rel="canonical">` when it points to the same host, else the final URL without fragment).
The same page reached from a feed (with `follow_links`), a listing page or a sitemap is therefore
one post, whichever source saw it first.

Main text: see main_text (trafilatura's defaults; navigation is pruned only while that leaves a
statement, since some pages keep theirs inside `<header>` or `<nav>`).
Page date: see page_date. htmldate's reading is recorded as such in `published_where`; the
listing's date, when there is one, is preferred to it, and on a re-read so is the date the archive
already holds (an edit never erases a publication date)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from archiver.canonical import content_digest
from archiver.models import Exchange, Gone, Observation, PostDraft, Request, Source, VersionDraft
from archiver.platforms import Parsed, ParseError, expect_ok, read_with
from archiver.platforms.dates import Hints, read_date
from archiver.platforms.furniture import COUNTERS, without_furniture
from archiver.platforms.listing import (
    GONE_STATUSES,
    absolute_http,
    names_an_index,
    page_state,
    page_state_entry,
    redirected_to_index,
)
from archiver.platforms.memory import ArchiveMemory, KnownPost
from archiver.platforms.text import short_title
from archiver.sites import other_spellings, site_of

# 2: trafilatura defaults, navigation pruned only while a statement remains, htmldate;
# 3: the page's charset read as browsers read it (archiver.fetch.charset); 4: page-view counters left out;
# 5: a page claimed UTF-8 stays UTF-8 despite a few stray bytes; 6: comment and rating counts left out;
# 7: relative times, visitor statistics and who-is-online counts left out
EXTRACTOR_VERSION = read_with("7", "trafilatura", "lxml")
WEB = "web"
MAX_HTML = 5 * 1024 * 1024  # extraction takes ~1 s per MB: larger pages would stall a run
MIN_TEXT = 150  # below this many characters the page is read again without pruning navigation
_NOT_STATEMENT = ["//nav", "//footer", "//body/header", "//*[@role='navigation']"]
# a block of these names around a <time> holds another text than the statement (WordPress's comment-body,
# related-posts); not "sidebar" or "widget", which themes also give the column the article stands in
_ANOTHER_TEXT = re.compile(r"comment|related", re.IGNORECASE)
HTMLDATE = "htmldate"
MODIFIED = "atom:updated"  # where a claim is the time of the last change, not of publication


@dataclass
class PageFacts:
    canonical: str
    title: str | None
    text: str | None
    published_raw: str | None
    published_where: str | None
    language: str | None
    written: str | None = None  # htmldate's day as the page writes it, when the order of its numbers is open


# schema.org's Article and the kinds of it (NewsArticle, Report, BlogPosting, ...), as a name or a URL
_ARTICLE = re.compile(r"(Article|Report|Posting)$")
_DATE_PLACES = (
    ("meta[property='article:published_time']", "content", "meta[property=article:published_time]"),
    ("meta[name='article:published_time']", "content", "meta[name=article:published_time]"),
    ("meta[itemprop='datePublished']", "content", "meta[itemprop=datePublished]"),
    ("meta[name='dcterms.date']", "content", "meta[name=dcterms.date]"),
    ("meta[name='DC.date']", "content", "meta[name=DC.date]"),
    ("meta[name='date']", "content", "meta[name=date]"),
    ("meta[name='publication_date']", "content", "meta[name=publication_date]"),
)


def read_page(url: str, html: str, listing: str | None = None) -> PageFacts:
    """The facts of a statement page: canonical URL, title, main text, its own date and where. `listing`
    is the address that listed the page, which its canonical link cannot name."""
    if len(html) > MAX_HTML:
        raise ParseError(f"{url}: page of {len(html)} characters is too large for text extraction")
    tree = LexborHTMLParser(html)
    canonical = _canonical(url, tree, listing)
    title = _first_attr(tree, "meta[property='og:title']", "content")
    if not title:
        node = tree.css_first("title") or tree.css_first("h1")
        title = node.text() if node is not None else None
    published_raw, where = page_date(url, html, tree)
    language = None
    html_node = tree.css_first("html")
    if html_node is not None:
        language = (html_node.attributes.get("lang") or "").strip() or None
    text = main_text(html, url)
    written = _as_written(html, published_raw) if where == HTMLDATE and published_raw else None
    return PageFacts(canonical, short_title(title), text, published_raw, where, language, written)


def page_date(url: str, html: str, tree: LexborHTMLParser | None = None) -> tuple[str | None, str | None]:
    """(raw, where) of the date the page claims: its metadata, a <time> in its article, htmldate's
    reading, any <time>, in that order."""
    tree = tree or LexborHTMLParser(html)
    found = _page_date(tree)
    if found[0] is None:
        found = _first_time(tree, "article time[datetime], main time[datetime]")
    if found[0] is None:
        found = _htmldate(html, url)
    if found[0] is None:
        found = _first_time(tree, "time[datetime]")
    return found


def main_text(html: str, url: str) -> str | None:
    """The statement's text: trafilatura's balanced defaults with site navigation pruned first; when
    that finds little, the page is read again with navigation and favouring recall, and the longer
    text is taken if it is long enough to be a statement (a page of menus alone still has none).
    Page furniture that changes by itself (archiver.platforms.furniture) is left out of every reading."""
    import trafilatura

    def extract(**how: Any) -> str:
        text = trafilatura.extract(html, url=url, include_comments=False, include_tables=True,
                                   deduplicate=False, **how)
        return text.strip() if text else ""

    found = extract(prune_xpath=_NOT_STATEMENT + COUNTERS)
    if len(found) < MIN_TEXT:
        for how in ({}, {"favor_recall": True}):
            unpruned = extract(prune_xpath=COUNTERS, **how)
            if len(unpruned) >= MIN_TEXT and len(unpruned) > len(found):
                found = unpruned
                break
    return without_furniture(found) or None


def _canonical(url: str, tree: LexborHTMLParser, listing: str | None) -> str:
    """The page's `<link rel=canonical>` on its own site (archiver.sites), else its address. Two kinds of
    canonical are a template's mistake, and taken would make two statements one post, each an "edit" of
    the other: one naming the site's home or the listing from a page that is neither (a CMS writing one
    for every page), and one naming the page's translation into another language (a multilingual site
    whose French page names the English one), which the page's own `hreflang` alternates show."""
    base = absolute_http(url, url) or url
    for node in tree.css("link[rel]"):
        rels = (node.attributes.get("rel") or "").lower().split()
        if "canonical" in rels:
            candidate = absolute_http(base, node.attributes.get("href"))
            if candidate is None or not _same_site(candidate, base):
                break
            if names_an_index(candidate, base, listing) or _names_a_translation(candidate, base, tree):
                break
            return candidate
    return base


def _names_a_translation(candidate: str, base: str, tree: LexborHTMLParser) -> bool:
    """Whether the page's `hreflang` alternates give `candidate` another language than the page's own
    (its `<html lang>`, else the language its alternates give its own address); `x-default` is none."""
    languages: dict[str, str] = {}
    for node in tree.css("link[hreflang][href]"):
        if "alternate" in (node.attributes.get("rel") or "").lower().split():
            address = absolute_http(base, node.attributes.get("href"))
            tag = (node.attributes.get("hreflang") or "").strip().lower()
            language = _primary_language(tag) if tag != "x-default" else None
            if address and language:
                languages.setdefault(address, language)
    html_node = tree.css_first("html")
    own = _primary_language(html_node.attributes.get("lang") if html_node is not None else None) or languages.get(base)
    other = languages.get(candidate)
    return bool(own and other and other != own)


def _primary_language(tag: str | None) -> str | None:
    """The primary subtag of a BCP 47 language tag, in lower case (`de-AT`, `de_DE` -> `de`)."""
    primary = (tag or "").strip().lower().replace("_", "-").split("-")[0]
    return primary or None


def _same_site(url: str, other: str) -> bool:
    """Whether a canonical URL names the page's own site: its host, or another origin of its site."""
    site = site_of(url)
    return urlsplit(url).hostname == urlsplit(other).hostname or (site is not None and site == site_of(other))


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
    return None, None


def _guessed(where: str | None) -> bool:
    return bool(where) and str(where).startswith(HTMLDATE)


def keep_held(post: PostDraft, view: ArchiveMemory) -> None:
    """What a new reading of a statement or feed item must not lose of what the archive holds of it: its
    identity (_keep_held_identity) and its publication claim (_keep_held_date), from one lookup."""
    held = view.post(post.platform, post.native_id)
    if held is None:
        held = _keep_held_identity(post, view)
    _keep_held_date(post, held)


def _keep_held_identity(post: PostDraft, view: ArchiveMemory) -> KnownPost | None:
    """A site that moved (to https, between `www.host` and `host`, to addresses ending in `/`) names each
    statement or feed item anew where its identity is its address (a canonical URL, a link, a guid that
    is a URL): one the archive holds under another spelling of that address (archiver.sites) keeps that
    identity, and its history; the draft's `url` says where it is read now (the post's, with its next
    version). Returns what the archive holds under the identity kept, if anything."""
    for spelling in other_spellings(post.native_id):
        if (held := view.post(post.platform, spelling)) is not None:
            post.native_id = spelling
            return held
    return None


def _keep_held_date(post: PostDraft, held: KnownPost | None) -> None:
    """A re-read that finds no stated date (a sitemap lists none; the page dropped its meta), only a
    guess, or only a modification time (Atom's `updated`, which an edit moves) keeps the publication
    claim the archive holds (`held`): an edit never erases it, nor replaces it with a guess or with its
    own time."""
    if post.published_at is not None and not _guessed(post.published_where) and not str(
            post.published_where or "").startswith(MODIFIED):
        return
    if held is not None and held.published_at is not None and not (
            _guessed(held.published_where) and post.published_at is not None):
        post.published_at, post.published_raw, post.published_where = (
            held.published_at, held.published_raw, held.published_where)


def _first_time(tree: LexborHTMLParser, selector: str) -> tuple[str | None, str | None]:
    """The first <time datetime> the selector finds that is not another text's: one in an <aside> or
    <nav> (related posts, even inside <main>), in an article inside the article, or in a block named
    for comments or related posts dates something else than the statement."""
    for node in tree.css(selector):
        claimed = (node.attributes.get("datetime") or "").strip()
        if claimed and not _dates_another_text(node):
            return claimed[:200], selector.split(",")[0].strip()
    return None, None


def _dates_another_text(node: LexborNode) -> bool:
    articles = 0
    ancestor: LexborNode | None = node
    while ancestor is not None and ancestor.tag not in ("body", "html"):
        if ancestor.tag in ("aside", "nav"):
            return True
        articles += ancestor.tag == "article"
        named = f"{ancestor.attributes.get('class') or ''} {ancestor.attributes.get('id') or ''}"
        if articles > 1 or _ANOTHER_TEXT.search(named):
            return True
        ancestor = ancestor.parent
    return False


def _htmldate(html: str, url: str) -> tuple[str | None, str | None]:
    """htmldate's reading of the page's original date (its markup, URL and visible dates), as a day.
    htmldate gives a month it finds (`06/2026`) as its 1st, and failing all else a copyright notice's
    year (`© 2026`) or any year as its 1 January: days the page never claimed. A 1st that the page's
    markup and URL alone do not give is kept as the month or year it may be, which the date rules do
    not read."""
    from htmldate import find_date

    def read(extensive: bool) -> str | None:
        try:
            return find_date(html, url=url, original_date=True, extensive_search=extensive, outputformat="%Y-%m-%d")
        except (ValueError, TypeError):
            return None

    found = read(True)
    if found and found.endswith("-01") and read(False) != found:
        return found[:4] if found.endswith("-01-01") else found[:7], HTMLDATE
    return (found, HTMLDATE) if found else (None, None)


def _as_written(html: str, found: str) -> str | None:
    """The page's own all-numeric writing of the day htmldate found, when that writing could be either
    day or month first (`03.04.2019`): htmldate reads it day-first whatever the site, so a source that
    states its `date_order` or `languages` has it read by them (a US site's 4 March is not 3 April).
    None when the day is unambiguous or the page also writes it in ISO form."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", found) or found in html:
        return None
    year, month, day = (int(part) for part in found.split("-"))
    if day > 12 or day == month:
        return None
    written = re.search(rf"(?<![\d./-])0?{day}([./-])0?{month}\1(?:{year}|{year % 100:02d})(?![\d./-])", html)
    return written[0] if written else None


def _json_ld_date(text: str) -> str | None:
    """The datePublished of the page's own entity in one JSON-LD block: among the block's top-level
    entities (those of its `@graph` and a page's `mainEntity` too), in the order written, an article's
    (schema.org's Article and its kinds) before any other's. Never that of something nested in one (a
    review, a comment, a related article, the site's logo): it is not the page's date."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    dated = [(entity, value.strip()) for entity in _top_level(data)
             if isinstance(value := entity.get("datePublished"), str) and value.strip()]
    for entity, value in dated:
        if _is_article(entity):
            return value
    return dated[0][1] if dated else None


def _top_level(data: Any) -> list[dict[str, Any]]:
    found = []
    for root in data if isinstance(data, list) else [data]:
        if not isinstance(root, dict):
            continue
        graph = root.get("@graph")
        for entity in [root, *(graph if isinstance(graph, list) else [])]:
            if isinstance(entity, dict):
                found.append(entity)
                if isinstance(entity.get("mainEntity"), dict):
                    found.append(entity["mainEntity"])
    return found


def _is_article(entity: dict[str, Any]) -> bool:
    kinds = entity.get("@type")
    return any(isinstance(kind, str) and _ARTICLE.search(kind) for kind in (kinds if isinstance(kinds, list)
                                                                             else [kinds]))


def statement_post(source: Source, facts: PageFacts, *, raw: str | None, fallback_title: str | None,
                   fallback_date: tuple[str | None, str | None], tags: list[str] | None = None) -> PostDraft:
    """The post for a statement page. The page's own metadata date wins, then the listing's date,
    then htmldate's reading of the page."""
    hints = Hints.of(source.options)
    published_raw, where = facts.published_raw, facts.published_where
    if facts.written and (hints.date_order or hints.languages):
        published_raw = facts.written  # htmldate's day-first guess gives way to the order the source states
    claimed = read_date(published_raw, hints)
    if (claimed.at is None or where == HTMLDATE) and fallback_date[0]:
        listed = read_date(fallback_date[0], hints)
        if listed.at is not None or published_raw is None:
            published_raw, where, claimed = fallback_date[0], fallback_date[1], listed
    published_at, where = claimed.at, claimed.where(where)
    return PostDraft(
        platform=WEB, native_id=facts.canonical, url=facts.canonical,
        versions=[VersionDraft(text=facts.text, title=facts.title or short_title(fallback_title), raw=raw)],
        author_id=source.id, author_name=source.organisation or source.name, kind="statement",
        published_at=published_at, published_raw=published_raw, published_where=where,
        language=facts.language, tags=tags or [], publish=source.publish,
        extractor="trafilatura", extractor_version=EXTRACTOR_VERSION)


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
    if redirected_to_index(request.url, exchange.final_url, source.locator):
        # a removed page sent to the home page or a listing: what is there is not this page, and a
        # redirect is no confirmation from the site that the page is gone
        said = f"{request.url} redirects to {exchange.final_url}"
        if gone_id[1]:
            return Parsed(Observation(gone=[Gone(str(gone_id[0]), str(gone_id[1]), False, said + (
                " after it left the listing" if request.purpose == "confirm" else ""))]))
        raise ParseError(f"{said}, the site's home or a listing: no statement to archive")
    if request.purpose == "confirm" and gone_id[0] != WEB:
        return Parsed()  # still answers; a feed entry cannot be re-read from its page
    facts = read_page(exchange.final_url or request.url, exchange.text(), source.locator)
    if facts.text is None:
        if request.purpose == "confirm" and gone_id[1]:
            # left the listing and now answers with no statement on it (a "soft 404")
            return Parsed(Observation(gone=[Gone(WEB, str(gone_id[1]), False,
                                                 f"{request.url} left the listing and shows no statement")]))
        raise ParseError(f"{request.url}: no main text found on the page")
    post = statement_post(source, facts, raw=meta.get("raw"), fallback_title=meta.get("title"),
                          fallback_date=(meta.get("date_raw"), meta.get("date_where")),
                          tags=json.loads(meta["tags"]) if meta.get("tags") else None)
    keep_held(post, view)
    state = page_state_entry(request.url, WEB, post.native_id, meta.get("sig", known.get("sig") if known else None))
    left = _redirected_away(request, exchange, gone_id, post, view)
    return Parsed(Observation(posts=[post], gone=[left] if left else [], state=state))


def _redirected_away(request: Request, exchange: Exchange, gone_id: tuple[Any, Any], post: PostDraft,
                     view: ArchiveMemory) -> Gone | None:
    """A statement whose address now redirects to another statement (a site rebuilt under new
    addresses, a page replaced by a newer one) is no longer where it was: it is `missing`, saying where
    its address leads and whether the page there reads as the archived text. Which of a move, an edit
    made with the move or a replacement it was, the archive cannot tell, so the page there is archived
    as its own post, never as an edit of this one."""
    held_id = gone_id[1]
    if gone_id[0] != WEB or not held_id or post.native_id == held_id or exchange.final_url in (None, request.url):
        return None
    held = view.post(WEB, str(held_id))
    if held is None:
        return None
    version = post.versions[-1]
    same = content_digest(version.title, version.text, version.extra) == held.content_sha256
    return Gone(WEB, str(held_id), False, (
        f"{request.url} redirects to {exchange.final_url}"
        + (" after it left the listing" if request.purpose == "confirm" else "")
        + f", archived as the statement {post.native_id}, "
        + ("which reads as the archived text" if same else "whose text differs from the archived one")))
