"""Which charset a body is really in. A declaration (HTTP header, BOM, XML declaration, <meta>) is a
claim; the charset recorded is the first candidate that decodes the bytes without error, so
`Exchange.text()` is right even when the claim is wrong."""

from __future__ import annotations

import codecs
import re
from typing import Any

from charset_normalizer import from_bytes

_TEXTUAL = re.compile(r"^(text/|application/([\w.+-]*\+)?(xml|json|javascript|ecmascript|x-www-form-urlencoded)"
                      r"|application/(rss|atom|xhtml|ld|feed|manifest))")
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)["']""")
_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# WHATWG: these labels mean windows-1252 on the web
_WEB_ALIASES = {"iso-8859-1": "windows-1252", "latin1": "windows-1252", "us-ascii": "windows-1252",
                "ascii": "windows-1252", "latin-1": "windows-1252"}


def header_charset(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1).lower() if match else None


def is_textual(content_type: str | None) -> bool:
    return bool(_TEXTUAL.match((content_type or "").split(";")[0].strip().lower()))


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = _WEB_ALIASES.get(name.lower(), name.lower())
    try:
        return codecs.lookup(name).name.replace("_", "-")
    except LookupError:
        return None


def _decodes(body: bytes, codec: str) -> bool:
    try:
        body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _single_byte(codec: str) -> bool:
    return codec.startswith(("cp125", "windows-", "iso8859", "latin", "mac-"))


def _guess(body: bytes) -> str | None:
    matches = list(from_bytes(body[:64 * 1024]))
    if not matches:
        return None
    best = min(m.chaos for m in matches)
    tied = [m.encoding for m in matches if m.chaos == best]
    # among equally clean single-byte readings, the web's most common legacy code page wins
    return "cp1252" if "cp1252" in tied else tied[0]


def choose_charset(body: bytes | None, content_type: str | None) -> tuple[str | None, dict[str, Any]]:
    """The charset to record and notes on how it was chosen (for `Exchange.details`)."""
    declared = header_charset(content_type)
    if not body or not (declared or is_textual(content_type)):
        return _codec(declared), {}
    head = body[:4096]
    bom = next((name for mark, name in _BOMS if body.startswith(mark)), None)
    in_document = None
    for pattern in (_XML_DECL, _META):
        match = pattern.search(head)
        if match:
            in_document = match.group(1).decode("ascii", "replace").lower()
            break
    candidates: list[tuple[str | None, str]] = [(bom, "bom"), (declared, "header"), (in_document, "document")]
    claimed = [_codec(name) for name, _ in candidates if name]
    if any(c and _single_byte(c) for c in claimed) and not body.isascii() and _decodes(body, "utf-8"):
        # valid multi-byte UTF-8 almost never happens by chance in a single-byte text: the claim is stale
        candidates.insert(0, ("utf-8", "utf-8 validity"))
    candidates += [("utf-8", "utf-8 validity"), (None, "detection"), ("windows-1252", "fallback"),
                   ("latin-1", "fallback")]
    for name, how in candidates:
        codec = _codec(_guess(body) if how == "detection" else name)
        if codec and _decodes(body, codec):
            notes: dict[str, Any] = {}
            if declared and _codec(declared) != codec:
                notes["declared_charset"] = declared
            if in_document and _codec(in_document) != codec:
                notes["document_charset"] = in_document
            if notes or how not in ("header", "bom"):
                notes["charset_from"] = how
            return codec, notes
    return None, {}
