"""Which charset a body is really in. A declaration (HTTP header, BOM, XML declaration, <meta>) is a
claim, read as a browser reads it: its label by the Encoding Standard (`ISO8859-1`, `l1` and `latin1` all
mean windows-1252 on the web, `iso-8859-9` windows-1254), a <meta> found by the HTML Standard's prescan.
The charset recorded is the first candidate that decodes the bytes without error, so `Exchange.text()`
is right even when the claim is wrong; a claim of UTF-8 holds against a few stray bytes (noted as
`invalid_bytes`), as it does in a browser."""

from __future__ import annotations

import codecs
import re
from typing import Any

import webencodings
from charset_normalizer import from_bytes

from archiver.fetch.prescan import label_encoding, meta_charset

_TEXTUAL = re.compile(r"^(text/|application/([\w.+-]*\+)?(xml|json|javascript|ecmascript|x-www-form-urlencoded)"
                      r"|application/(rss|atom|xhtml|ld|feed|manifest))")
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)["']""")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# How far into a page its declaration is looked for. The prescan's own limit is 1,024 bytes, but a
# browser that meets a declaration later re-reads the page in it ("change the encoding"), and the archive
# reads a page as the browser ends up showing it.
_DECLARATION_WITHIN = 4096
# The Encoding Standard's legacy single-byte encodings: any bytes decode in them, so a claim of one
# proves nothing about bytes that are also valid UTF-8
_SINGLE_BYTE = frozenset({
    "ibm866", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6", "iso-8859-7", "iso-8859-8",
    "iso-8859-8-i", "iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15", "iso-8859-16", "koi8-r",
    "koi8-u", "macintosh", "windows-874", "windows-1250", "windows-1251", "windows-1252", "windows-1253",
    "windows-1254", "windows-1255", "windows-1256", "windows-1257", "windows-1258", "x-mac-cyrillic"})


def header_charset(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1).lower() if match else None


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type, lowercased, without its parameters ("" when there is none)."""
    return (content_type or "").split(";")[0].strip().lower()


def is_textual(content_type: str | None) -> bool:
    return bool(_TEXTUAL.match(media_type(content_type)))


def web_codec(label: str | None) -> str | None:
    """The Python codec that reads a label as browsers do (`iso-8859-1` is windows-1252), or None."""
    return _codec_of(label_encoding(label))


def _codec_of(claim: webencodings.Encoding | None) -> str | None:
    if claim is None or claim.name in ("replacement", "x-user-defined"):
        return None  # no Python codec decodes these as a browser does
    return _python(claim.codec_info.name)


def _python(name: str | None) -> str | None:
    try:
        return codecs.lookup(name).name.replace("_", "-") if name else None
    except LookupError:
        return None


def _decodes(body: bytes, codec: str) -> bool:
    try:
        body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _stray_bytes(body: bytes) -> int | None:
    """How many bytes of a body claimed UTF-8 are not UTF-8, when they are stray: fewer than its valid
    multi-byte characters (a footer saved in Latin-1 inside a UTF-8 page). A browser keeps UTF-8 and shows
    each as U+FFFD, and so does `Exchange.text()`; decoding the whole page in a charset that happens to
    take every byte would garble all of it. None when the claim is wrong (a Latin-1 page labelled UTF-8
    has invalid bytes and almost no valid multi-byte sequence)."""
    text = body.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd") - body.count(b"\xef\xbf\xbd")  # U+FFFD written in the page is no error
    wide = sum(1 for char in text if char > "\x7f") - text.count("\ufffd")
    return invalid if 0 < invalid < wide else None


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
    header = label_encoding(declared)
    if not body or not (declared or is_textual(content_type)):
        return _codec_of(header), {}
    bom = next((name for mark, name in _BOMS if body.startswith(mark)), None)
    xml = _XML_DECL.match(body)
    in_document = xml.group(1).decode("ascii", "replace").lower() if xml else None
    if not xml and media_type(content_type) == "text/html":
        in_document = meta_charset(body[:_DECLARATION_WITHIN])  # only HTML declares it in a <meta>
    document = label_encoding(in_document)
    header_codec, document_codec = _codec_of(header), _codec_of(document)
    candidates = [(bom, "bom"), (header_codec, "header"), (document_codec, "document")]
    if (not bom and any(claim and claim.name in _SINGLE_BYTE for claim in (header, document))
            and not body.isascii() and _decodes(body, "utf-8")):
        # valid multi-byte UTF-8 almost never happens by chance in a single-byte text: the claim is stale
        candidates.insert(0, ("utf-8", "utf-8 validity"))
    candidates += [("utf-8", "utf-8 validity"), (None, "detection"), ("cp1252", "fallback"), ("latin-1", "fallback")]
    for name, how in candidates:
        codec = _python(_guess(body) if how == "detection" else name)
        invalid = None
        if codec == "utf-8" and how in ("header", "document") and not _decodes(body, codec):
            invalid = _stray_bytes(body)  # a claim of UTF-8 a few stray bytes do not disprove
        if codec and (invalid is not None or _decodes(body, codec)):
            notes: dict[str, Any] = {} if invalid is None else {"invalid_bytes": invalid}
            if declared and header_codec != codec:
                notes["declared_charset"] = declared
            if in_document and document_codec != codec:
                notes["document_charset"] = in_document
            if notes or how not in ("header", "bom"):
                notes["charset_from"] = how
            return codec, notes
    return None, {}
