"""One lxml pass over a well-formed RSS 2.0, RSS 1.0 or Atom 1.0 feed, for the feed reader's fast path.

It gives the same entry fields feedparser gives (id, guid, link, title, summary, content, dates as
raw strings, author, tags, and YouTube's yt:/media: fields) as plain dicts, with the raw XML of each
entry, so archiver.platforms.feed turns either reading into the same posts. It reads only what it is
sure of and answers None for everything else, which feedparser then reads: a document that is not
well-formed, declares entities or a DOCTYPE, is not UTF-8 (or its Content-Type says another
charset), is another format or version, or has an entry with an element it does not know, a
repeated field, a date the shared date rules cannot read (feedparser knows older formats), or an
entry-named element outside the format's entry list."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from archiver.fetch.charset import header_charset, media_type
from archiver.platforms.dates import read_date
from archiver.platforms.text import html_to_text
from archiver.platforms.xmldoc import safe_xml_parser

ATOM = "http://www.w3.org/2005/Atom"
RSS10 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
MEDIA = "http://search.yahoo.com/mrss/"
YT = "http://www.youtube.com/xml/schemas/2015"
_UTF8 = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*?encoding\s*=\s*[\"']utf-?8[\"'][^>]*\?>"
                   rb"|<\?xml(?![^>]*encoding)[^>]*\?>|(?!<\?xml))", re.IGNORECASE)  # UTF-8, declared or not
_C1 = re.compile("[\x80-\x9f]")  # cp1252 or doubly encoded text, which feedparser repairs
_DOUBLY_ENCODED = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]")  # UTF-8 read as Latin-1 ("CafÃ©"): repaired too
_ESCAPED = re.compile(r"&(?:#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]*);", re.IGNORECASE)  # feedparser unescapes links
_ENTRY_NAMES = ("item", "entry")

# elements of an entry that feed no field feedparser would give a post (links of other kinds, media)
_IGNORED_RSS = {"comments", "enclosure", "source"}
_IGNORED_ATOM = {"rights", "contributor", "source"}


class Unsure(Exception):
    """The fast path is not sure it reads this as feedparser would."""


def read(body: bytes, base: str, content_type: str | None) -> tuple[list[tuple[dict[str, Any], str]], str] | None:
    """(entries with their raw XML, feedparser's version name), or None to leave the feed to feedparser."""
    if not _UTF8.match(body) or b"<!DOCTYPE" in body[:4096] or b"<!ENTITY" in body[:4096]:
        return None
    media = media_type(content_type)
    if media and "xml" not in media:
        return None  # feedparser reads a feed served as text/plain or HTML in its own way
    charset = header_charset(content_type)
    if charset and charset.replace("-", "") != "utf8":
        return None
    if media.startswith("text/") and not charset:
        return None  # RFC 3023: text/* without a charset is US-ASCII, not the declaration's UTF-8
    try:
        root = etree.fromstring(body, parser=safe_xml_parser(), base_url=base)
        return _read(root)
    except (etree.XMLSyntaxError, ValueError, Unsure):
        return None


def _read(root: Any) -> tuple[list[tuple[dict[str, Any], str]], str]:
    if root.tag == "rss" and root.get("version") == "2.0" and not root.nsmap.get(None):
        channel = root.find("channel")
        items, version, reader = ([] if channel is None else channel.findall("item")), "rss20", _rss_item
    elif root.tag == f"{{{ATOM}}}feed":
        items, version, reader = root.findall(f"{{{ATOM}}}entry"), "atom10", _atom_entry
    elif root.tag == f"{{{RDF}}}RDF" and root.find(f"{{{RSS10}}}channel") is not None:
        items, version, reader = root.findall(f"{{{RSS10}}}item"), "rss10", _rss_item
    else:
        raise Unsure
    named = [node for node in root.iter() if isinstance(node.tag, str)
             and node.tag.rsplit("}", 1)[-1].lower() in _ENTRY_NAMES]
    if len(named) != len(items):
        raise Unsure  # an entry-named element elsewhere: the feed reader counts those as entries
    raws = [etree.tostring(item, encoding="unicode", with_tail=False) for item in items]
    if any(_C1.search(raw) or _DOUBLY_ENCODED.search(raw) for raw in raws):
        raise Unsure
    entries = [reader(item) for item in items]
    if any(not entry.get("id") and not entry.get("link") for entry in entries):
        raise Unsure  # such an entry's identity digests feedparser's own strings (archiver.platforms.feed)
    return list(zip(entries, raws, strict=True)), version


def _text(node: Any) -> str:
    if len(node):
        raise Unsure  # markup inside a text element
    return node.text or ""


def _put(entry: dict[str, Any], key: str, value: Any) -> None:
    if key in entry:
        raise Unsure  # a repeated field: which one feedparser keeps is its own business
    entry[key] = value


def _date(entry: dict[str, Any], key: str, node: Any) -> None:
    raw = _text(node).strip()
    if raw and read_date(raw).at is None:
        raise Unsure  # feedparser may read a format the shared rules do not
    _put(entry, key, raw)


def _rss_item(item: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    ns = item.nsmap.get(None) if item.tag.startswith("{") else None
    own = f"{{{ns}}}" if ns else ""
    guid_is_link = False
    for node in item:
        if not isinstance(node.tag, str):
            continue
        tag = node.tag
        if tag == f"{own}title":
            title = _text(node)
            if ("<" in title or "&" in title) and html_to_text(title) != title.strip():
                raise Unsure  # feedparser guesses whether an RSS title is HTML
            _put(entry, "title", title)
            _put(entry, "title_detail", {"type": "text/plain"})
        elif tag == f"{own}link":
            if _ESCAPED.search(_text(node)):
                raise Unsure  # a link escaped twice: feedparser unescapes it once more
            _put(entry, "link", urljoin(node.base or "", _text(node).strip()))
        elif tag == f"{own}description":
            _put(entry, "summary", _text(node))
        elif tag == "guid" and not own:
            guid_is_link = {k.lower(): v for k, v in node.attrib.items()}.get("ispermalink", "true") == "true"
            _id(entry, node, guid_is_link)
        elif tag == "pubDate" and not own:
            _date(entry, "published", node)
        elif tag == "author" and not own:
            _put(entry, "author", _text(node))
        elif tag == "category" and not own:
            _tag(entry, _text(node), node.get("domain"), None)
        elif tag == f"{{{CONTENT}}}encoded":
            _put(entry, "content", [{"value": _text(node)}])
        elif tag == f"{{{DC}}}date":
            _date(entry, "updated", node)
        elif tag == f"{{{DC}}}creator":
            _put(entry, "author", _text(node))
        elif own or tag not in _IGNORED_RSS:
            raise Unsure
    if own and item.get(f"{{{RDF}}}about"):
        entry.setdefault("id", item.get(f"{{{RDF}}}about"))
    if guid_is_link and "link" not in entry and entry.get("id"):
        entry["link"] = entry["id"]
    return entry


def _tag(entry: dict[str, Any], term: str | None, scheme: str | None, label: str | None) -> None:
    """A category, once per (term, scheme, label), as feedparser keeps them."""
    tag = {"term": term, "scheme": scheme, "label": label}
    if (term or scheme or label) and tag not in entry.setdefault("tags", []):
        entry["tags"].append(tag)


def _id(entry: dict[str, Any], node: Any, permalink: bool) -> None:
    """An RSS guid or Atom id; a permalink one is a URI relative to the element's base, as feedparser reads it."""
    value = _text(node).strip()
    if permalink and value:
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:///", value):
            raise Unsure  # feedparser rewrites extra slashes its own way
        value = urljoin(node.base or "", value)
    _put(entry, "id", value)


def _atom_text(node: Any) -> dict[str, str]:
    """An Atom text construct as feedparser gives it: its value and its media type."""
    kind = node.get("type", "text")
    if kind in ("text", "html"):
        return {"value": _text(node), "type": f"text/{'plain' if kind == 'text' else 'html'}"}
    if kind == "xhtml":
        div = node.find("{http://www.w3.org/1999/xhtml}div")
        if div is None or len(node) != 1:
            raise Unsure
        children = "".join(etree.tostring(child, encoding="unicode") for child in div)
        return {"value": html.escape(div.text or "", quote=False) + children, "type": "application/xhtml+xml"}
    raise Unsure  # another media type (base64, XML): feedparser decides


def _atom_entry(item: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    a = f"{{{ATOM}}}"
    for node in item:
        if not isinstance(node.tag, str):
            continue
        tag = node.tag
        if tag == f"{a}id":
            _id(entry, node, True)
        elif tag == f"{a}title":
            construct = _atom_text(node)
            _put(entry, "title", construct["value"])
            _put(entry, "title_detail", construct)
        elif tag == f"{a}link":
            rel = node.get("rel", "alternate")
            if rel == "alternate" and node.get("type", "text/html") in ("text/html", "application/xhtml+xml"):
                if not (node.get("href") or "").strip():
                    raise Unsure
                _put(entry, "link", urljoin(node.base or "", node.get("href").strip()))
        elif tag == f"{a}summary":
            construct = _atom_text(node)
            _put(entry, "summary", construct["value"])
            _put(entry, "summary_detail", construct)
        elif tag == f"{a}content":
            if node.get("src"):
                raise Unsure
            _put(entry, "content", [_atom_text(node)])
        elif tag in (f"{a}published", f"{a}updated"):
            _date(entry, tag[len(a):], node)
        elif tag == f"{a}author":
            name = node.find(f"{a}name")
            if name is None or any(child.tag != f"{a}uri" for child in node if child is not name):
                raise Unsure  # feedparser writes "name (email)" and the like
            _put(entry, "author", _text(name))
            _put(entry, "author_detail", {"name": _text(name)})
        elif tag == f"{a}category":
            _tag(entry, node.get("term"), node.get("scheme"), node.get("label"))
        elif tag == f"{{{YT}}}videoId":
            _put(entry, "yt_videoid", _text(node))
        elif tag == f"{{{YT}}}channelId":
            _put(entry, "yt_channelid", _text(node))
        elif tag == f"{{{MEDIA}}}group":
            _media_group(entry, node)
        elif tag == f"{{{MEDIA}}}thumbnail":
            entry.setdefault("media_thumbnail", []).append({"url": node.get("url")})
        elif tag[len(a):] not in _IGNORED_ATOM or not tag.startswith(a):
            raise Unsure
    if "link" not in entry and entry.get("id"):
        entry["link"] = entry["id"]  # feedparser takes an id for the link when there is none
    return entry


def _media_group(entry: dict[str, Any], group: Any) -> None:
    """YouTube's media:group: its description is feedparser's summary, its thumbnails the entry's."""
    for node in group:
        if not isinstance(node.tag, str):
            continue
        if node.tag == f"{{{MEDIA}}}description":
            _put(entry, "summary", _text(node))
        elif node.tag == f"{{{MEDIA}}}thumbnail":
            entry.setdefault("media_thumbnail", []).append({"url": node.get("url")})
        elif node.tag not in (f"{{{MEDIA}}}title", f"{{{MEDIA}}}content", f"{{{MEDIA}}}community"):
            raise Unsure
