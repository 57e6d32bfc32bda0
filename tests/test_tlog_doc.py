"""The test vectors in docs/evidence-model.md match the code byte for byte, and the standalone
verifier (tools/verify_evidence.py) agrees with both; the signed-note code reproduces the reference
vector of Go's golang.org/x/mod/sumdb/note, so checkpoints interoperate with the Go tools."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

from archiver import tlog
from archiver.archive import ADDED_COLUMNS, VERSION_COLUMNS
from archiver.canonical import GENESIS, RowDigester, content_digest, entry_digest
from archiver.checkpoint import Checkpoint
from archiver.signed_note import PublicKey, SigningKey, open_note

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "evidence-model.md").read_text(encoding="utf-8")
VECTORS = {name: body for name, body in re.findall(r"```\w+ vector=([\w-]+)\n(.*?)```", DOC, re.DOTALL)}


def fields(name: str) -> dict[str, str]:
    """A `label  value` block: two or more spaces separate the label from the value."""
    return dict(re.split(r"\s{2,}", line, maxsplit=1) for line in VECTORS[name].splitlines())


@pytest.fixture(scope="module")
def standalone() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_evidence", ROOT / "tools" / "verify_evidence.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_vector_block_is_there() -> None:
    assert sorted(VECTORS) == ["checkpoint", "keys", "merkle", "row", "row-entry-leaf"]


def test_row_entry_and_leaf_vectors(standalone: ModuleType) -> None:
    row = json.loads(VECTORS["row"])
    expected = fields("row-entry-leaf")
    # every column but one added later, which a proof leaves out when null, as the digest does
    assert [c for c in VERSION_COLUMNS if c not in row] == ["facts"] and "facts" in ADDED_COLUMNS
    assert row["content_sha256"] == content_digest(row["title"], row["text"], None)
    digest = RowDigester("versions", VERSION_COLUMNS, ADDED_COLUMNS)([row.get(c) for c in VERSION_COLUMNS])
    assert digest == expected["row_sha256"] == standalone.row_digest("versions", row)
    entry = entry_digest(GENESIS, "versions", 1, digest)
    assert entry == expected["entry_sha256"] == standalone.entry_digest(GENESIS, "versions", 1, digest)
    leaf = tlog.leaf_hash(bytes.fromhex(entry))
    assert leaf.hex() == expected["leaf hash"] == standalone.leaf_hash(bytes.fromhex(entry)).hex()
    assert tlog.Tree(1, lambda start, stop: [leaf]).root() == leaf


def test_merkle_vectors(standalone: ModuleType) -> None:
    expected = fields("merkle")
    leaves = [bytes.fromhex(x.strip('"')) for x in expected["leaves"].split()]
    hashed = [tlog.leaf_hash(leaf) for leaf in leaves]
    tree = tlog.Tree(8, lambda start, stop: hashed[start:stop])
    root6, root8 = bytes.fromhex(expected["root 6"]), bytes.fromhex(expected["root 8"])
    assert tree.prefix(6).root() == root6 and tree.root() == root8
    path = tree.inclusion_proof(5)
    assert " ".join(p.hex() for p in path) == expected["path 5 of 8"]
    assert standalone.inclusion_root(5, 8, hashed[5], path) == root8
    proof = tree.consistency_proof(6)
    assert " ".join(p.hex() for p in proof) == expected["proof 6 to 8"]
    assert standalone.consistent(6, 8, root6, root8, proof)
    assert not standalone.consistent(6, 8, root8, root6, proof)


def test_key_and_checkpoint_vectors(standalone: ModuleType) -> None:
    private, public = VECTORS["keys"].splitlines()
    key = SigningKey("example.org/archive", bytes(range(32)))
    assert key.text == private and key.public.vkey == public
    assert SigningKey.parse(private) == key and PublicKey.parse(public) == key.public
    root8 = bytes.fromhex(fields("merkle")["root 8"])
    note = key.sign(Checkpoint("example.org/archive", 8, root8, ("time 2026-06-02T15:00:00.000000Z",)).text())
    assert note == VECTORS["checkpoint"]
    assert standalone.open_checkpoint(note, public) == ("example.org/archive", 8, root8)
    text, _ = open_note(note, [key.public])
    assert Checkpoint.parse(text).root == root8


def test_the_go_sumdb_note_reference_signature() -> None:
    """golang.org/x/mod sumdb/note/note_test.go (BSD-3-Clause): TestSign's key, text and signed note."""
    key = SigningKey.parse("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
    assert key.public.vkey == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    signed = key.sign(text)
    assert signed == (text + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
                             "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
    enoch = ("\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1R"
             "vMc+QQ=\n")
    # a signature by an unknown key is ignored; one by the known key that does not verify rejects the note
    assert open_note(signed + enoch, [key.public])[0] == text
    broken = signed.replace("x08go/ZJ", "x08go/ZK")
    with pytest.raises(ValueError, match="does not verify"):
        open_note(broken, [key.public])
    assert base64.b64decode(signed.split()[-1])[:4].hex() == "c74f20a3"
