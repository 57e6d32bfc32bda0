"""The one definition of every digest rule: canonical text, a version's content digest, a row's
digest for the hash chain. Changing a rule means a new rule number; old versions keep theirs."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

CANONICAL_RULE = 1
GENESIS = "0" * 64
_SPACES = re.compile(r"\s+")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_text(text: str | None) -> str | None:
    """Rule 1: Unicode NFC, every run of white space folded to one space, ends stripped."""
    if text is None:
        return None
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def content_digest(title: str | None, text: str | None, extra: dict[str, Any] | None,
                   rule: int = CANONICAL_RULE) -> str:
    """Digest of a version's content: what decides whether a post was edited."""
    if rule != 1:
        raise ValueError(f"unknown canonical rule {rule}")
    document = {"rule": rule, "title": canonical_text(title), "text": canonical_text(text),
                "extra": extra or {}}
    return sha256_hex(_dumps(document))


def row_digest(table: str, row: dict[str, Any]) -> str:
    """Digest of one stored row, every column included, for the chain."""
    return sha256_hex(_dumps({"table": table, "row": row}))


def entry_digest(prev: str, table: str, row_id: int, row_sha256: str) -> str:
    return sha256_hex(f"{prev}|{table}|{row_id}|{row_sha256}".encode())


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=_bytes_as_hex).encode("utf-8")


def _bytes_as_hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    raise TypeError(f"cannot digest {type(value).__name__}")
