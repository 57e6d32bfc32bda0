"""Reading XML documents (feeds, sitemaps) safely, and knowing whether they were read whole.

Entities: a document may declare internal entities with plain text values (some publishers'
tools write `<!ENTITY nbsp "&#160;">`); one that declares an external entity (SYSTEM/PUBLIC: reads
local files or the network), a parameter entity, an entity whose value refers to other entities
(the "billion laughs" expansion bomb) or a long value (the quadratic blow-up: one long entity
referenced many times) is refused whole. lxml never resolves entities, loads DTDs or
touches the network here.

Completeness: a document the strict parser rejects is read again with lxml's recovery only to
split it into items; `closed` says whether its root element's end tag is there. A document that
does not close may have lost entries at its end, so it must never be read as a complete list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from archiver.platforms import ParseError

_DECLARATIONS = re.compile(rb"<!ENTITY\s+(%\s+)?[^\s>]+\s+(SYSTEM|PUBLIC|\"[^\"]*\"|'[^']*')", re.IGNORECASE)
_ANY_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_REFERENCE = re.compile(rb"&(?!#)[\w.:-]+;|%[\w.:-]+;")
SCAN = 1_000_000  # declarations sit in the prolog; a bomb must declare itself before the root
MAX_VALUE = 64  # bytes of one entity's value: a character or a name, never a document


def refuse_entities(body: bytes, where: str) -> None:
    """Refuse documents declaring external, parameter or nested entities (see the module doc)."""
    head = body[:SCAN]
    declared = len(_ANY_ENTITY.findall(head))
    if not declared:
        return
    harmless = 0
    for match in _DECLARATIONS.finditer(head):
        value = match.group(2)
        if match.group(1) or value.upper() in (b"SYSTEM", b"PUBLIC") or _REFERENCE.search(value) \
                or len(value) > MAX_VALUE + 2:
            break
        harmless += 1
    if harmless != declared:
        raise ParseError(f"{where}: the document declares external, nested or long XML entities "
                         "(refused: entity expansion)")


def safe_xml_parser(*, recover: bool = False) -> Any:
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                           recover=recover, remove_comments=True)


def local_name(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


@dataclass
class XmlRead:
    root: Any  # lxml element, None when nothing could be read
    error: str | None = None  # the strict parser's complaint (one line), None for a well-formed document
    closed: bool = True  # the root element's end tag is there


def read_xml(body: bytes) -> XmlRead:
    """The document's tree: strict when it is well-formed, else recovered and marked."""
    from lxml import etree

    try:
        return XmlRead(etree.fromstring(body, parser=safe_xml_parser()))
    except (etree.XMLSyntaxError, ValueError) as exc:
        error = " ".join(str(exc).split())[:300]
    try:
        root = etree.fromstring(body, parser=safe_xml_parser(recover=True))
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        return XmlRead(None, error, closed=False)
    closing = rb"</(?:[\w.-]+:)?" + re.escape(local_name(root.tag).encode()) + rb"\s*>\s*(?:<!--.*?-->\s*)*\Z"
    ends = re.search(closing, body[-4096:].rstrip(b"\x00"), re.DOTALL) is not None
    return XmlRead(root, error, closed=ends)
