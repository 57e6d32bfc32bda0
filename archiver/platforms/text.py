"""HTML to plain text, the one rule every parser uses (feed summaries, social posts, table cells).

Text is read as a browser lays it out: white space in the source (line breaks included) is one space,
except inside <pre>; a block element ends a line, a paragraph ends with a blank line, `<br>` is a line
break, a table cell ends with a tab; inline markup (<b>, <a>) joins its text as written; scripts,
styles, templates and comments are never text; character references are decoded (so `&amp;` is
stored as `&`). Lines are stripped and blank runs collapsed. Its version is part of every extractor
version that reads text by it (archiver.platforms.read_with): a change of this rule reads the same
bytes differently."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

MAX_TITLE = 1000  # longer titles are cut (the raw fragment and the payload keep them whole)
# 2: table cells, figure captions, rules and HTML5's sectioning elements end their text (`<td>France</td>
# <td>12</td>` was "France12", and the same table pretty-printed "France 12": an edit from white space);
# a line break in the source is white space, not a line of the text
RULE = "2"
_NOT_TEXT = {"script", "style", "template", "noscript", "-comment"}
_BLOCKS = {"address", "article", "aside", "blockquote", "caption", "center", "dd", "details", "dialog", "div", "dl",
           "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
           "hgroup", "hr", "legend", "li", "main", "menu", "nav", "ol", "pre", "section", "summary", "table", "tr",
           "ul"}
_ENDS = {**dict.fromkeys(_BLOCKS, "\n"), "p": "\n\n", "td": "\t", "th": "\t", "br": "\n"}
_WHITE = re.compile(r"\s+")
_SPACES = re.compile(r" {2,}")
_AROUND_TAB = re.compile(r" *\t *")


def html_to_text(fragment: str | None) -> str:
    """Plain text of an HTML fragment."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return fragment.strip()
    root = LexborHTMLParser(f"<div>{fragment}</div>").body
    if root is None:
        return ""
    parts: list[str] = []
    # a walk with a stack, not recursion: a hostile fragment can nest deeper than Python's stack
    stack: list[tuple[LexborNode, bool, bool]] = [(root, False, False)]
    while stack:
        node, leaving, pre = stack.pop()
        if leaving:
            parts.append(_ENDS.get(node.tag or "", ""))
        elif node.tag == "-text":
            text = node.text_content or ""
            parts.append(text if pre else _WHITE.sub(" ", text))
        elif node.tag not in _NOT_TEXT:
            stack.append((node, True, pre))
            inside = pre or node.tag == "pre"
            stack.extend((child, False, inside) for child in reversed(list(node.iter(include_text=True))))
    lines = [_AROUND_TAB.sub("\t", _SPACES.sub(" ", line)).strip() for line in "".join(parts).splitlines()]
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
