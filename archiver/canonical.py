"""The one definition of every digest rule: canonical text, a version's content digest, a row's
digest for the hash chain. Changing a rule means a new rule number; old versions keep theirs."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any

CANONICAL_RULE = 1
GENESIS = "0" * 64


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_text(text: str | None) -> str | None:
    """Rule 1: Unicode NFC, every run of white space folded to one space, ends stripped.
    (str.split() without arguments splits on exactly the characters for which str.isspace() is true.)"""
    if text is None:
        return None
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def content_digest(title: str | None, text: str | None, extra: dict[str, Any] | None,
                   rule: int = CANONICAL_RULE) -> str:
    """Digest of a version's content: what decides whether a post was edited."""
    if rule != 1:
        raise ValueError(f"unknown canonical rule {rule}")
    document = {"rule": rule, "title": canonical_text(title), "text": canonical_text(text),
                "extra": extra or {}}
    return sha256_hex(_dumps(document))


def row_digest(table: str, row: dict[str, Any]) -> str:
    """Digest of one stored row, every column included, for the chain. Each column is written as
    name, type, byte length and bytes: unambiguous, and far cheaper than JSON for long texts."""
    parts = [table.encode(), b"\x00"]
    for name in sorted(row):
        value = row[name]
        if value is None:
            kind, data = b"n", b""
        elif isinstance(value, str):
            kind, data = b"s", value.encode("utf-8", "surrogatepass")
        elif isinstance(value, bool | int):
            kind, data = b"i", b"%d" % value
        elif isinstance(value, bytes | bytearray | memoryview):
            kind, data = b"b", bytes(value)
        else:
            raise TypeError(f"cannot digest column {name} of type {type(value).__name__}")
        parts += (name.encode(), b"\x00", kind, b"%d\x00" % len(data), data)
    return hashlib.sha256(b"".join(parts)).hexdigest()


def entry_digest(prev: str, table: str, row_id: int, row_sha256: str) -> str:
    return sha256_hex(f"{prev}|{table}|{row_id}|{row_sha256}".encode())


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
