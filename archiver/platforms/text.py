"""HTML to plain text, the one rule every parser uses (feed summaries, social posts, table cells).

Scripts, styles and templates are never text. A block element ends a line, a paragraph ends with a
blank line, `<br>` is a line break; inline markup (<b>, <a>) joins its text as written; character
references are decoded (so `&amp;` is stored as `&`). Lines are stripped and blank runs collapsed."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

MAX_TITLE = 1000  # longer titles are cut (the raw fragment and the payload keep them whole)
_NOT_TEXT = "script, style, template, noscript"
_BLOCKS = "div, li, h1, h2, h3, h4, h5, h6, tr, blockquote, ul, ol, table, pre, section, article, dd, dt"


def html_to_text(fragment: str | None) -> str:
    """Plain text of an HTML fragment."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return fragment.strip()
    tree = LexborHTMLParser(f"<div>{fragment}</div>")
    root = tree.body
    if root is None:
        return ""
    for node in root.css(_NOT_TEXT):
        node.decompose()
    for node in root.css("br"):
        node.replace_with("\n")
    for node in root.css("p"):
        node.insert_after("\n\n")
    for node in root.css(_BLOCKS):
        node.insert_after("\n")
    lines = [line.strip() for line in root.text(deep=True).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def node_text(node: LexborNode | None) -> str:
    """The text of a parsed element on one line (a table cell, a listing's link)."""
    return " ".join(html_to_text(node.html).split()) if node is not None and node.html else ""


def short_title(title: str | None) -> str | None:
    if title is None:
        return None
    title = " ".join(title.split())
    if not title:
        return None
    return title if len(title) <= MAX_TITLE else title[:MAX_TITLE - 1] + "…"
