"""The one definition of every digest rule: canonical text, a version's content digest, a row's
digest for the hash chain. Changing a rule means a new rule number; old versions keep theirs."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Collection, Iterable, Sequence
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
    # already canonical (as every stored version is, which verify re-reads): the only white space a
    # printable string can hold is U+0020, so no run to fold and no end to strip means nothing to change
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def content_digest(title: str | None, text: str | None, extra: dict[str, Any] | None,
                   rule: int = CANONICAL_RULE) -> str:
    """Digest of a version's content: what decides whether a post was edited. Rule 1 digests the
    canonical title and text and the sorted JSON of `extra`, each as a typed, length-prefixed field."""
    if rule != 1:
        raise ValueError(f"unknown canonical rule {rule}")
    extra_json = json.dumps(extra, sort_keys=True, ensure_ascii=False, separators=(",", ":")) if extra else "{}"
    return _fields_digest(b"content:1", (b"title", b"text", b"extra"),
                          (canonical_text(title), canonical_text(text), extra_json))


class RowDigester:
    """Digests rows of one table for the chain, every column included. Each column is written as
    name, type, byte length and bytes, in name order: unambiguous, and far cheaper than JSON for
    long texts. Build one per table; call it with the row's values in `columns` order."""

    def __init__(self, table: str, columns: Sequence[str], added: Collection[str] = ()) -> None:
        self._prefix = table.encode()
        order = sorted(range(len(columns)), key=lambda i: columns[i])
        self._order = order
        self._names = tuple(columns[i].encode() for i in order)
        # columns added to the table later are left out when NULL: rows written before keep their digest
        self._added = {position for position, i in enumerate(order) if columns[i] in added}

    def __call__(self, values: Sequence[Any]) -> str:
        ordered = [values[i] for i in self._order]
        if self._added and any(ordered[p] is None for p in self._added):
            kept = [p for p in range(len(ordered)) if p not in self._added or ordered[p] is not None]
            return _fields_digest(self._prefix, [self._names[p] for p in kept], [ordered[p] for p in kept])
        return _fields_digest(self._prefix, self._names, ordered)


def _fields_digest(prefix: bytes, names: Sequence[bytes], values: Sequence[Any]) -> str:
    parts = [prefix, b"\x00"]
    for name, value in zip(names, values, strict=True):  # (this runs for every column of every chained row)
        if isinstance(value, str):  # the common case first, its header formatted in one step
            data = value.encode("utf-8", "surrogatepass")
            parts += (name, b"\x00s%d\x00" % len(data), data)
        elif value is None:
            parts += (name, b"\x00n0\x00")
        elif isinstance(value, int):  # bool too
            data = b"%d" % value
            parts += (name, b"\x00i%d\x00" % len(data), data)
        elif isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            parts += (name, b"\x00b%d\x00" % len(data), data)
        else:
            raise TypeError(f"cannot digest field {name.decode()} of type {type(value).__name__}")
    return hashlib.sha256(b"".join(parts)).hexdigest()


def entry_digest(prev: str, table: str, row_id: int, row_sha256: str) -> str:
    return sha256_hex(f"{prev}|{table}|{row_id}|{row_sha256}".encode())


def withheld_digest(rows: Iterable[Sequence[Any]]) -> str:
    """Digest of what a published copy withholds: its (table, key, reason) rows sorted by table and
    key, each written as `table TAB key TAB reason LF` in UTF-8."""
    return sha256_hex("".join(f"{table}\t{key}\t{reason}\n" for table, key, reason in rows).encode())
