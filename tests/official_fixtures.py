"""Realistic statement-source payloads for tests: feeds, listing and statement pages, sitemaps,
an OHCHR communications listing and small real PDF letters, built in code so tests can edit them."""

from __future__ import annotations

import html
from typing import Any

STATEMENT_BODY = (
    "<p>The Special Rapporteur called on the authorities to release the detained journalists "
    "without delay and to guarantee their safety.</p>"
    "<p>The detentions follow a pattern of arrests of media workers reporting on the protests, "
    "which the expert described as incompatible with the State's obligations under article 19 of "
    "the International Covenant on Civil and Political Rights.</p>"
    "<p>The expert has been in contact with the Government on these issues and will continue to "
    "monitor the situation closely.</p>")


def statement_page(title: str, paragraphs: str = STATEMENT_BODY, *, canonical: str | None = None,
                   date: str | None = "2026-06-03T10:00:00+02:00", date_place: str = "meta") -> bytes:
    """A press-release page as official sites publish them: navigation, an article, a footer."""
    head = [f"<title>{html.escape(title)} | Press releases</title>",
            f'<meta property="og:title" content="{html.escape(title)}">']
    if canonical:
        head.append(f'<link rel="canonical" href="{canonical}">')
    time_tag = ""
    if date and date_place == "meta":
        head.append(f'<meta property="article:published_time" content="{date}">')
    elif date and date_place == "json-ld":
        head.append('<script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsArticle",'
                    f'"headline":"{title}","datePublished":"{date}"}}</script>')
    elif date and date_place == "time":
        time_tag = f'<time datetime="{date}">3 June 2026</time>'
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{''.join(head)}</head>
<body><header><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/about">About us</a></nav></header>
<main><article><h1>{html.escape(title)}</h1>{time_tag}{paragraphs}</article></main>
<footer><p>Copyright 2026. All rights reserved.</p><a href="/privacy">Privacy</a></footer></body></html>""".encode()


def rss(items: list[tuple[str, str, str, str, str]]) -> bytes:
    """RSS 2.0 with (guid, link, title, pubDate, description) items."""
    body = "".join(
        f"<item><title>{html.escape(t)}</title><link>{link}</link><guid isPermaLink=\"false\">{guid}</guid>"
        f"<pubDate>{date}</pubDate><description>{html.escape(desc)}</description>"
        "<category>Human rights</category></item>" for guid, link, t, date, desc in items)
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<channel><title>UN News - Global perspective Human stories</title><link>https://news.un.org</link>"
            f"<description>News</description>{body}</channel></rss>").encode()


def atom(entries: list[tuple[str, str, str, str, str]]) -> bytes:
    """Atom 1.0 with (id, link, title, published, summary) entries."""
    body = "".join(
        f'<entry><id>{entry_id}</id><title>{html.escape(t)}</title><link rel="alternate" href="{link}"/>'
        f"<published>{date}</published><updated>{date}</updated><summary>{html.escape(s)}</summary></entry>"
        for entry_id, link, t, date, s in entries)
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            '<title>Ministry statements</title><id>tag:ministry.example,2026:statements</id>'
            f"<updated>2026-06-03T10:00:00Z</updated>{body}</feed>").encode()


def listing_page(items: list[tuple[str, str, str]], next_href: str | None = None) -> bytes:
    """An NGO/party statements page without a feed: (href, title, date) cards, and a pager link."""
    cards = "".join(
        f'<div class="views-row"><article class="teaser"><h3 class="teaser__title"><a href="{href}">'
        f'{html.escape(t)}</a></h3><time class="teaser__date" datetime="{d}">{d[:10]}</time></article></div>'
        for href, t, d in items)
    pager = f'<nav class="pager"><a rel="next" href="{html.escape(next_href)}">Next ›</a></nav>' if next_href else ""
    return (f'<!DOCTYPE html><html lang="en"><head><title>Statements</title></head><body><nav>menu</nav>'
            f'<main><h1>Statements</h1><div class="view-content">{cards}</div>{pager}</main></body></html>').encode()


def sitemap_index(children: list[tuple[str, str | None]]) -> bytes:
    body = "".join(f"<sitemap><loc>{loc}</loc>{f'<lastmod>{m}</lastmod>' if m else ''}</sitemap>"
                   for loc, m in children)
    return ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>').encode()


def urlset(urls: list[tuple[str, str | None]]) -> bytes:
    body = "".join(f"<url><loc>{loc}</loc>{f'<lastmod>{m}</lastmod>' if m else ''}</url>" for loc, m in urls)
    return ('<?xml version="1.0" encoding="UTF-8"?><urlset '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>').encode()


def communications_page(rows: list[dict[str, str]]) -> bytes:
    """The OHCHR "communications sent" table (Kendo grid markup: a data-id sentinel row, then the
    data row whose first cell stacks date / State / type / reference-with-PDF-link)."""
    trs = []
    for row in rows:
        replies = "".join(f'<a href="/TMResultsBase/DownLoadFile?gId={g}" target="Rep_{g}">{d}</a><br/>'
                          for g, d in row.get("replies", []))
        mandates = "".join(f"<li>{html.escape(m)}</li>" for m in row["mandates"])
        trs.append(
            f'<tr data-id="{row["gid"]}"></tr><tr><td><ul>{row["date"]}</ul>'
            f'<ul style="font-weight:700">{html.escape(row["state"])}</ul><ul>{row["type"]}</ul>'
            f'<ul><a href="/TMResultsBase/DownLoadPublicCommunicationFile?gId={row["gid"]}" '
            f'target="Com_{row["gid"]}">{row["ref"]}</a></ul></td><td><ul>{mandates}</ul></td>'
            f'<td style="width:40%">{html.escape(row["summary"])} <a href="#">More details...</a></td>'
            f"<td>{replies}</td></tr>")
    return ('<!DOCTYPE html><html><head><title>Communications sent</title></head><body>'
            '<div class="k-grid"><table class="k-grid-table"><thead><tr><th>Date / Addressee / Type / Ref</th>'
            '<th>Mandates</th><th>Summary</th><th>Replies</th></tr></thead><tbody>'
            f'{"".join(trs)}</tbody></table></div><a class="k-link next" href="?page=2">Next</a></body></html>'
            ).encode()


def pdf_letter(lines: list[str]) -> bytes:
    """A real one-page PDF with the given text lines (Helvetica), with a correct xref table."""
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = "BT /F1 11 Tf 72 760 Td 14 TL " + " ".join(f"({escape(line)}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def exchange(url: str, body: bytes | None, status: int = 200, content_type: str = "text/html; charset=utf-8",
             charset: str | None = "utf-8", final_url: str | None = None) -> Any:
    """An exchange as the fetch layer records it, for parser-level tests."""
    from archiver.models import Exchange, utcnow

    return Exchange(requested_url=url, method="GET", started_at=utcnow(), ended_at=utcnow(),
                    final_url=final_url or url, status=status, body=body, content_type=content_type.split(";")[0],
                    charset=charset, response_headers=[("Content-Type", content_type)])


class Site:
    """A loopback web site (pytest-httpserver) whose pages tests edit and remove between polls.
    Answers 304 to a matching If-None-Match, like the servers that publish statements."""

    def __init__(self, httpserver: Any) -> None:
        import re

        self.server = httpserver
        self.pages: dict[str, tuple[int, bytes, str]] = {}
        self.moved: dict[str, str] = {}
        self.hits: list[str] = []
        httpserver.expect_request(re.compile("^/")).respond_with_handler(self._answer)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def put(self, path: str, body: bytes, content_type: str = "text/html; charset=utf-8", status: int = 200) -> None:
        self.pages[path] = (status, body, content_type)

    def remove(self, path: str) -> None:
        self.pages.pop(path, None)

    def move(self, path: str, to: str) -> None:
        """`path` answers 301 to `to` (a path of this site, or an absolute URL) from now on."""
        self.moved[path] = to

    def _answer(self, request: Any) -> Any:
        import hashlib

        from werkzeug import Response

        key = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
        self.hits.append(key)
        if key in self.moved:
            to = self.moved[key]
            return Response(status=301, headers={"Location": to if "://" in to else self.url(to)})
        if key not in self.pages:
            return Response(b"<html><body><h1>Page not found</h1></body></html>", status=404,
                            content_type="text/html")
        status, body, content_type = self.pages[key]
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, status=status, content_type=content_type, headers={"ETag": etag})


def write_config(path: Any, sources: list[dict[str, Any]], settings: dict[str, Any] | None = None) -> Any:
    """A sources file for loopback tests: private addresses allowed, no per-host delay, and `settings`
    added to the [archiver] table."""
    import json

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, dict):
            return "{ " + ", ".join(f"{k} = {value(v)}" for k, v in item.items()) + " }"
        return json.dumps(item) if isinstance(item, str) else str(item)

    lines = ["[archiver]", "allow_private = true", "host_delay = 0", "retries = 0",
             'contact = "https://archive.example/contact"',
             *(f"{key} = {value(item)}" for key, item in (settings or {}).items()), ""]
    for source in sources:
        lines.append("[[source]]")
        lines += [f"{key} = {value(item)}" for key, item in source.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def fetch(config: Any, db: Any, source_id: str) -> Any:
    """`archiver fetch SOURCE_ID` as a user runs it."""
    from click.testing import CliRunner

    from archiver.cli import main
    from tests.conftest import init_archive

    init_archive(db)
    return CliRunner().invoke(main, ["fetch", source_id, "--config", str(config), "--db", str(db)])


def rows(db: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


PARTY_OPTIONS = {"item": "div.views-row", "link": "h3 a", "title": "h3", "date": "time"}


def party_source(site: Any, tmp_path: Any, options: dict[str, Any] = PARTY_OPTIONS,
                 path: str = "/en/statements") -> tuple[Any, Any]:
    """A sources file with the party's `webpage` source listing `path` on the loopback site, and the
    archive's path."""
    config = write_config(tmp_path / "sources.toml", [
        {"id": "party", "kind": "webpage", "locator": site.url(path), "organisation": "Example Party",
         "options": options}])
    return config, tmp_path / "archive.db"
