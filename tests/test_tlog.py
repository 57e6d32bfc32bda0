"""The Merkle tree is RFC 9162's: the reference vectors of transparency-dev/merkle (the 8-leaf RFC 6962
test tree: roots, inclusion and consistency proofs) are reproduced byte for byte, proofs of larger trees
made through the node cache agree with the RFC's recursive definition, and altered proofs fail."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3

import pytest

from archiver import tlog
from tests.conftest import FIXTURES

VECTORS = json.loads((FIXTURES / "merkle" / "rfc6962_vectors.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots"]]


def tree_of(leaves: list[bytes], nodes: tlog.NodeReader | None = None) -> tlog.Tree:
    hashed = [tlog.leaf_hash(leaf) for leaf in leaves]
    return tlog.Tree(len(leaves), lambda start, stop: hashed[start:stop], nodes)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, literally: the recursion on the largest power of two smaller than n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def test_the_roots_of_the_reference_tree() -> None:
    assert tree_of([]).root().hex() == VECTORS["empty_root"] == tlog.EMPTY_ROOT.hex()
    for size in range(1, 9):
        assert tree_of(LEAVES[:size]).root() == ROOTS[size - 1], size


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['leaf']}-of-{c['size']}")
def test_inclusion_proofs_of_the_reference_tree(case: dict) -> None:
    index, size = case["leaf"] - 1, case["size"]
    proof = tree_of(LEAVES[:size]).inclusion_proof(index)
    assert [p.hex() for p in proof] == case["proof"]
    leaf = tlog.leaf_hash(LEAVES[index])
    assert tlog.verify_inclusion(index, size, leaf, proof, ROOTS[size - 1])
    # the probes transparency-dev uses: wrong index, size, leaf, root; components added, removed, flipped
    assert not tlog.verify_inclusion(index + 1, size, leaf, proof, ROOTS[size - 1])
    assert not tlog.verify_inclusion(index, size * 2, leaf, proof, ROOTS[size - 1])
    assert not tlog.verify_inclusion(index, size, tlog.leaf_hash(b"WrongLeaf"), proof, ROOTS[size - 1])
    assert not tlog.verify_inclusion(index, size, leaf, proof, tlog.EMPTY_ROOT)
    assert not tlog.verify_inclusion(index, size, leaf, [*proof, ROOTS[size - 1]], ROOTS[size - 1])
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        assert not tlog.verify_inclusion(index, size, leaf, flipped, ROOTS[size - 1])
    if proof:
        assert not tlog.verify_inclusion(index, size, leaf, proof[:-1], ROOTS[size - 1])


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['size1']}-to-{c['size2']}")
def test_consistency_proofs_of_the_reference_tree(case: dict) -> None:
    old, new = case["size1"], case["size2"]
    proof = tree_of(LEAVES[:new]).consistency_proof(old)
    assert [p.hex() for p in proof] == case["proof"]
    old_root, new_root = ROOTS[old - 1], ROOTS[new - 1]
    assert tlog.verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        assert not tlog.verify_consistency(old, new, new_root, old_root, proof)  # swapped roots
        assert not tlog.verify_consistency(old - 1 or 2, new, old_root, new_root, proof)
        assert not tlog.verify_consistency(old, new, old_root, new_root, [])
        assert not tlog.verify_consistency(old, new, old_root, new_root, proof[:-1])
        assert not tlog.verify_consistency(old, new, old_root, new_root, [proof[0], *proof])
        for i in range(len(proof)):
            flipped = list(proof)
            flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
            assert not tlog.verify_consistency(old, new, old_root, new_root, flipped)


def test_large_trees_through_the_node_cache_agree_with_the_rfc_definition() -> None:
    rng = random.Random(7)
    leaves = [rng.randbytes(32) for _ in range(1500)]  # several 256-leaf blocks, two cache levels
    nodes = tlog.complete_subtrees(tlog.leaf_hash(leaf) for leaf in leaves)
    assert (tlog.NODE_LEVEL + 2, 0) in nodes and len(nodes) == 5 + 2 + 1
    tree = tree_of(leaves, lambda level, index: nodes.get((level, index)))
    sizes = [1, 255, 256, 257, 511, 512, 513, 1024, 1499, 1500]
    for size in sizes:
        sized = tree_of(leaves[:size], lambda level, index: nodes.get((level, index)))
        assert sized.root() == mth(leaves[:size]), size
    full_root = tree.root()
    for index in (0, 255, 256, 700, 1499):
        proof = tree.inclusion_proof(index)
        assert len(proof) <= 11
        assert tlog.verify_inclusion(index, 1500, tlog.leaf_hash(leaves[index]), proof, full_root)
    for old in sizes:
        proof = tree.consistency_proof(old)
        assert tlog.verify_consistency(old, 1500, mth(leaves[:old]), full_root, proof), old
        assert not tlog.verify_consistency(old, 1500, mth(leaves[:old - 1]), full_root, proof) or old == 1


def test_the_cache_is_filled_incrementally_and_matches_a_fresh_computation(tmp_path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE chain (seq INTEGER PRIMARY KEY, entry_sha256 TEXT NOT NULL)")
    conn.execute("CREATE TABLE tree_nodes (level INTEGER, idx INTEGER, hash BLOB, PRIMARY KEY (level, idx))")
    rng = random.Random(3)
    entries = [rng.randbytes(32).hex() for _ in range(2100)]
    conn.executemany("INSERT INTO chain VALUES (?, ?)", [(i + 1, e) for i, e in enumerate(entries[:700])])
    assert tlog.fill_nodes(conn, 700)
    conn.executemany("INSERT INTO chain VALUES (?, ?)", [(i + 701, e) for i, e in enumerate(entries[700:])])
    assert not tlog.fill_nodes(conn, 2100, max_blocks=2)
    assert tlog.fill_nodes(conn, 2100)
    stored = {(level, idx): bytes(h) for level, idx, h in conn.execute("SELECT level, idx, hash FROM tree_nodes")}
    assert stored == tlog.complete_subtrees(tlog.leaf_hash(bytes.fromhex(e)) for e in entries)
    assert tlog.chain_tree(conn).root() == mth([bytes.fromhex(e) for e in entries])


def test_a_proof_reads_o_log_n_rows_once_the_cache_is_filled(tmp_path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE chain (seq INTEGER PRIMARY KEY, entry_sha256 TEXT NOT NULL)")
    conn.execute("CREATE TABLE tree_nodes (level INTEGER, idx INTEGER, hash BLOB, PRIMARY KEY (level, idx))")
    size = 100_003
    conn.executemany("INSERT INTO chain VALUES (?, ?)",
                     ((i + 1, hashlib.sha256(b"%d" % i).hexdigest()) for i in range(size)))
    assert tlog.fill_nodes(conn, size)
    tree = tlog.chain_tree(conn, size)
    root = tree.root()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    for index in (0, 54_321, size - 1):
        statements.clear()
        proof = tree.inclusion_proof(index)
        leaf = tlog.leaf_hash(hashlib.sha256(b"%d" % index).digest())
        assert tlog.verify_inclusion(index, size, leaf, proof, root)
        assert len(proof) <= 17 and len(statements) <= 2 * 17, (index, len(statements))
    old_root = tree.prefix(77_777).root()
    statements.clear()
    proof = tree.consistency_proof(77_777)
    assert len(statements) <= 2 * 17 + 2, len(statements)
    assert tlog.verify_consistency(77_777, size, old_root, root, proof)
