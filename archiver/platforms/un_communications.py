"""UN Special Procedures "communications sent" (https://spcommreports.ohchr.org/LatestReports/
CommunicationSent): the letters special rapporteurs send to governments and others.

The listing is an HTML table; a row carries the date, the addressee (usually a State), the type
(AL, UA, JAL, JUA, OL, JOL…), the reference ("IRN 4/2020", a link to the letter's PDF at
/TMResultsBase/DownLoadPublicCommunicationFile?gId=N), the mandates, a summary and the replies
received. Each new letter, or one whose row changed (a reply arrived), is fetched: the PDF is kept
as the capture's payload and its text (pypdf) is the post's text; the row's fields are content
too (`extra`), so a new reply is a new version, its `edited` event naming `extra.replies` as what
changed (the letter itself unchanged). A post is platform "un_communications",
native_id = the reference (else "gId N").

Rows move to later pages as letters are added, so leaving the listing does not mean removal;
a letter whose PDF answers 404/410 when re-read is recorded as deleted.

Dates in the table are day first (02/12/2020 is 2 December 2020) unless the source's `date_order`
says otherwise; `languages` narrows the reading of dates written in words.

Options: max_pages (int, default 1: pages followed through the listing's "next" link),
next (CSS selector of that link), recheck (bool: re-read every listed letter each run)."""

from __future__ import annotations

import io
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from archiver.models import Exchange, Gone, Observation, PostDraft, Request, Source, VersionDraft
from archiver.platforms import Parsed, ParseError, expect_ok, read_with
from archiver.platforms.dates import Hints, read_date
from archiver.platforms.listing import (
    GONE_STATUSES,
    Listed,
    absolute_http,
    digest,
    document_base,
    follow_listing,
    listing_request,
    next_listing,
    page_state,
    page_state_entry,
)
from archiver.platforms.memory import ArchiveMemory
from archiver.platforms.options import Option, date_order, http_locator, languages, max_pages, recheck
from archiver.platforms.text import node_text

# 2: the shared HTML->text rule and date reader (platforms.text, platforms.dates);
# 3: the listing's charset read as browsers read it (archiver.fetch.charset); 4: a listing claimed UTF-8
# stays UTF-8 despite a few stray bytes
EXTRACTOR_VERSION = read_with("4", "pypdf", "selectolax", text_rule=True)
PLATFORM = "un_communications"
MAX_PDF_PAGES = 300
LETTER_LINK = "a[href*='DownLoadPublicCommunicationFile']"
_TYPE = re.compile(r"^J?(AL|UA|OL|AM)$", re.IGNORECASE)
_REFERENCE = re.compile(r"\b[A-Z]{3}\s+\d+/\d{4}\b")
DATE_ORDER = "DMY"  # how the OHCHR table writes dates
_CLOSED = re.compile(r"</html\s*>\s*$", re.IGNORECASE)
OPTIONS = (
    max_pages(1, "listing pages one run reads, following `next`"),
    Option("next", "selector", None, "the selector of the listing's next-page link", example='"a.next"'),
    recheck("re-read every listed letter each run"),
    languages(),
    date_order(DATE_ORDER, "day first, as the OHCHR table writes dates"),
)
locator_problem = http_locator


def plan(source: Source, view: ArchiveMemory) -> list[Request]:
    return [listing_request(source)]  # with `recheck`, letters are re-read even if the listing is unchanged


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    if request.purpose == "listing":
        return _listing(source, request, exchange, view)
    return _letter(source, request, exchange, view)


def _listing(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    expect_ok(exchange)
    url = exchange.final_url or request.url
    html = exchange.text()
    if not _CLOSED.search(html[-2048:]):
        # a row cut off would read as a letter whose fields changed: an edit that never happened
        raise ParseError(f"{request.url}: the listing page is cut short (no closing </html>): not read, "
                         "nothing inferred")
    tree = LexborHTMLParser(html)
    base = document_base(url, tree)
    hints = Hints.of(source.options, date_order=DATE_ORDER)
    links = tree.css(LETTER_LINK)
    read = [(link, read_row(link, base, hints)) for link in links]
    rows = [row for _, row in read if row is not None]
    if not rows and tree.css_first("table") is None:
        raise ParseError(f"{request.url}: no communications table on the page")
    unreadable = [f"{request.url}: letter link {link.attributes.get('href')!r} is not in a readable table row"
                  for link, row in read if row is None]
    items = [Listed(row["url"], sig=digest({k: v for k, v in row.items() if k != "raw"}),
                    meta={"row": json.dumps(row, ensure_ascii=False)}) for row in rows]
    parsed = follow_listing(source, view, url, items, detect_removals=False, unreadable=unreadable)
    following = next_listing(source, request, tree, base)
    if following is not None:
        parsed.follow.append(following)
    return parsed


def read_row(link: LexborNode, base: str, hints: Hints) -> dict[str, Any] | None:
    """The fields of the table row holding one letter link."""
    url = absolute_http(base, link.attributes.get("href"))
    row = link.parent
    while row is not None and row.tag != "tr":
        row = row.parent
    if url is None or row is None:
        return None
    cells = [cell for cell in row.iter() if cell.tag == "td"]
    if not cells:
        return None
    # The first cell stacks date, addressee, type and reference (one <ul> each); some layouts
    # give each its own cell. Classify by shape rather than trust positions.
    parts = [node_text(node) for node in cells[0].css("ul")] or [node_text(cell) for cell in cells[:4]]
    parts = [part for part in parts if part]
    date = next((p for p in parts if read_date(p, hints).at), None)
    kind = next((p for p in parts if _TYPE.match(p)), None)
    reference = node_text(link) if _REFERENCE.search(node_text(link)) else next(
        (m.group(0) for p in parts if (m := _REFERENCE.search(p))), None)
    addressee = next((p for p in parts if p not in (date, kind) and not _REFERENCE.search(p)
                      and re.search(r"[A-Za-z]{3}", p)), None)
    rest = cells[1:] if len(cells) <= 4 else cells[4:]
    mandates = [node_text(li) for li in rest[0].css("li")] if rest else []
    if rest and not mandates and node_text(rest[0]):
        mandates = [node_text(rest[0])]
    summary = re.sub(r"\s*More details\W*$", "", node_text(rest[1])) if len(rest) > 1 else ""
    replies = [{"text": node_text(a), "url": absolute_http(base, a.attributes.get("href"))}
               for a in rest[2].css("a")] if len(rest) > 2 else []
    gid = parse_qs(urlsplit(url).query).get("gId", [None])[0]
    return {"url": url, "gid": gid, "date": date, "addressee": addressee, "type": kind,
            "reference": " ".join(reference.split()) if reference else None, "mandates": mandates,
            "summary": summary or None, "replies": replies, "raw": row.html}


def _letter(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    meta = request.meta_dict()
    row: dict[str, Any] = json.loads(meta.get("row") or "{}")
    known = page_state(view, source, request.url)
    if exchange.status in GONE_STATUSES and exchange.error is None and known:
        return Parsed(Observation(gone=[Gone(PLATFORM, str(known["id"]), True,
                                             f"HTTP {exchange.status} for the letter {request.url}")]))
    expect_ok(exchange)
    text, pages = pdf_text(exchange.body or b"", request.url)
    native_id = row.get("reference") or f"gId {row.get('gid') or request.url}"
    title = " ".join(part for part in (row.get("type"), row.get("reference"), row.get("addressee")) if part)
    extra = {key: row.get(key) for key in ("type", "reference", "addressee", "mandates", "summary", "replies")
             if row.get(key)}
    extra["pdf_pages"] = pages
    claimed = read_date(row.get("date"), Hints.of(source.options, date_order=DATE_ORDER))
    post = PostDraft(
        platform=PLATFORM, native_id=native_id, url=request.url,
        versions=[VersionDraft(text=text, title=title or None, extra=extra, raw=row.get("raw"))],
        author_id=source.id, author_name="; ".join(row.get("mandates") or []) or source.organisation,
        kind="letter", published_at=claimed.at, published_raw=row.get("date"),
        published_where=claimed.where("listing:date" if row.get("date") else None), publish=source.publish,
        extractor="pypdf", extractor_version=EXTRACTOR_VERSION)
    state = page_state_entry(request.url, PLATFORM, native_id, meta.get("sig", known.get("sig") if known else None))
    return Parsed(Observation(posts=[post], state=state))


def pdf_text(body: bytes, url: str) -> tuple[str | None, int]:
    """The text of a PDF (None when it has none, e.g. a scan) and its page count. Encrypted PDFs
    that open without a password (most official ones: printing and copying restrictions only) are
    read; one that needs a password, or cannot be read at all, is a ParseError."""
    if b"%PDF-" not in body[:1024]:
        raise ParseError(f"{url}: not a PDF (starts with {body[:16]!r})")
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(body), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError(f"{url}: the PDF is encrypted with a password (its text cannot be read)")
        pages = len(reader.pages)
        texts = [page.extract_text() or "" for page in reader.pages[:MAX_PDF_PAGES]]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError,
            NotImplementedError, ZeroDivisionError, OverflowError) as exc:
        raise ParseError(f"{url}: unreadable PDF: {type(exc).__name__}: {exc}"[:500]) from exc
    text = "\n\n".join(t.strip() for t in texts if t.strip())
    return text or None, pages
