"""docs/evidence-model.md documents the digest rules byte for byte: its test vectors and its example
encoding are checked against archiver/canonical.py, so a third party re-implementing from the page
computes the archive's digests."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from archiver.canonical import RowDigester, canonical_text, content_digest, entry_digest, withheld_digest

DOC = (Path(__file__).resolve().parent.parent / "docs" / "evidence-model.md").read_text(encoding="utf-8")


def vectors() -> list[dict[str, Any]]:
    block = re.search(r"<!-- test vectors -->\n```json\n(.*?)\n```", DOC, re.S)
    assert block, "the test vectors block is missing from docs/evidence-model.md"
    return json.loads(block.group(1))


def test_every_rule_has_vectors() -> None:
    assert {v["rule"] for v in vectors()} == {"canonical_text", "content", "row", "entry", "withheld"}


def test_the_documented_vectors_match_the_code() -> None:
    for vector in vectors():
        rule = vector["rule"]
        if rule == "canonical_text":
            assert canonical_text(vector["input"]) == vector["output"]
        elif rule == "content":
            assert content_digest(vector["title"], vector["text"], vector["extra"]) == vector["sha256"], vector
        elif rule == "row":
            digest = RowDigester(vector["table"], vector["columns"])(vector["values"])
            assert digest == vector["sha256"], vector
        elif rule == "entry":
            digest = entry_digest(vector["prev"], vector["table"], vector["row_id"], vector["row_sha256"])
            assert digest == vector["sha256"], vector
        else:
            assert withheld_digest(vector["rows"]) == vector["sha256"], vector


def test_the_documented_bytes_are_what_the_row_digest_hashes() -> None:
    """The example encoding, hashed with nothing but hashlib, gives the row vector's digest."""
    literal = re.search(r"^    (b'events.*')$", DOC, re.M)
    assert literal, "the example encoding is missing"
    encoded = ast.literal_eval(literal.group(1))
    row = next(v for v in vectors() if v["rule"] == "row")
    assert hashlib.sha256(encoded).hexdigest() == row["sha256"]


def test_the_doc_no_longer_claims_canonical_json_rows() -> None:
    assert "canonical JSON" not in DOC


def test_canonical_text_is_the_documented_rule_for_every_kind_of_white_space() -> None:
    """The rule as the page words it (NFC; runs of what str.isspace() accepts become one space; ends
    stripped), written out separately, against canonical_text on text already canonical (returned as it
    is) and on text with each white-space character Python knows, alone, doubled, at either end."""
    import sys
    import unicodedata

    def documented(text: str) -> str:
        folded: list[str] = []
        in_run = False
        for char in unicodedata.normalize("NFC", text):
            if char.isspace():
                in_run = True
                continue
            if in_run and folded:
                folded.append(" ")
            folded.append(char)
            in_run = False
        return "".join(folded)

    spaces = [chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()]
    samples = ["Already canonical text.", "Cafe\u0301 au lait", "a  b", " a", "a ", "", "\u00e9t\u00e9"]
    samples += [f"{pre}one{mid}two{post}" for s in spaces for pre, mid, post in
                (("", s, ""), ("", s + s, ""), (s, " ", ""), ("", " ", s), ("", " " + s, ""))]
    for text in samples:
        assert canonical_text(text) == documented(text), repr(text)
