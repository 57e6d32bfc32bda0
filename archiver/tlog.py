"""The transparency log: an RFC 9162 (Certificate Transparency 2.0, section 2.1) Merkle tree over the
chain entries in `seq` order. Leaf m (0-based) is the 32 bytes of chain entry m + 1's `entry_sha256`.

The tree is derived from the chain, never kept by the writer: recording costs nothing more. Hashes of
complete subtrees of 2**NODE_LEVEL leaves and more are cached in `tree_nodes` (filled when a checkpoint
is taken) so that a proof reads O(log n) rows; the cache is never trusted for a verdict, because a proof
made from a wrong node fails against the signed root, and `verify --checkpoint` rebuilds every node
from the chain.

Written here rather than taken from a library: pymerkle (the maintained Python one) is GPL-3.0 (this
project is Apache-2.0), serialises proofs in its own format rather than RFC 9162's audit paths, and keeps
its own leaf store; RFC 9162's definitions are a few dozen lines, checked against the RFC 6962 vectors
of transparency-dev/merkle in tests/test_tlog.py."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Sequence

NODE_LEVEL = 8  # subtrees of 256 leaves and more are cached; below that a proof reads the leaves
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (already leaf-hashed), bottom up: RFC 9162's recursion gives the same tree,
    since an odd node at the right edge is carried up unchanged."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


LeafReader = Callable[[int, int], list[bytes]]  # (start, stop) -> leaf hashes of leaves start..stop-1
NodeReader = Callable[[int, int], bytes | None]  # (level, index) -> cached hash of a complete subtree


class Tree:
    """The tree of the first `size` leaves, read through `leaves` and (optionally) cached `nodes`."""

    def __init__(self, size: int, leaves: LeafReader, nodes: NodeReader | None = None) -> None:
        self.size = size
        self._leaves = leaves
        self._nodes = nodes

    def prefix(self, size: int) -> Tree:
        """The tree of this one's first `size` leaves (what an earlier checkpoint signed)."""
        return Tree(size, self._leaves, self._nodes)

    def subtree(self, start: int, width: int) -> bytes:
        """MTH(D[start:start + width])."""
        if width >= 1 << NODE_LEVEL and width & (width - 1) == 0 and self._nodes is not None:
            cached = self._nodes(width.bit_length() - 1, start // width)
            if cached is not None:
                return cached
        if width <= 1 << NODE_LEVEL:
            return root_of(self._leaves(start, start + width))
        k = _split(width)
        return node_hash(self.subtree(start, k), self.subtree(start + k, width - k))

    def root(self) -> bytes:
        return self.subtree(0, self.size) if self.size else EMPTY_ROOT

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(index, D[size]) of RFC 9162 2.1.3.1, leaf first."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf {index} is not in a tree of size {self.size}")
        path: list[bytes] = []
        start, width, m = 0, self.size, index
        while width > 1:
            k = _split(width)
            if m < k:
                path.append(self.subtree(start + k, width - k))
                width = k
            else:
                path.append(self.subtree(start, k))
                start, width, m = start + k, width - k, m - k
        return path[::-1]

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """PROOF(old_size, D[size]) of RFC 9162 2.1.4.1."""
        if not 0 <= old_size <= self.size:
            raise ValueError(f"no consistency proof from size {old_size} to {self.size}")
        if old_size in (0, self.size):
            return []
        proof: list[bytes] = []
        start, width, m, whole = 0, self.size, old_size, True
        while m != width:
            k = _split(width)
            if m <= k:
                proof.append(self.subtree(start + k, width - k))
                width = k
            else:
                proof.append(self.subtree(start, k))
                start, width, m, whole = start + k, width - k, m - k, False
        if not whole:
            proof.append(self.subtree(start, width))
        return proof[::-1]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: does `proof` show leaf hash `leaf` at `index` in the tree of `size` with `root`?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: does `proof` show that the tree of `new_size` extends the one of `old_size`?"""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


# -- the tree of an archive's chain ------------------------------------------------------------


def chain_size(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(seq), 0) FROM chain").fetchone()[0]


def chain_leaves(conn: sqlite3.Connection) -> LeafReader:
    def read(start: int, stop: int) -> list[bytes]:
        rows = conn.execute("SELECT seq, entry_sha256 FROM chain WHERE seq > ? AND seq <= ? ORDER BY seq",
                            (start, stop)).fetchall()
        if len(rows) != stop - start or (rows and (rows[0][0] != start + 1 or rows[-1][0] != stop)):
            raise ValueError(f"chain entries {start + 1}..{stop} are not all there")
        return [leaf_hash(bytes.fromhex(row[1])) for row in rows]
    return read


def stored_nodes(conn: sqlite3.Connection) -> NodeReader:
    def read(level: int, index: int) -> bytes | None:
        row = conn.execute("SELECT hash FROM tree_nodes WHERE level = ? AND idx = ?", (level, index)).fetchone()
        return bytes(row[0]) if row else None
    return read


def chain_tree(conn: sqlite3.Connection, size: int | None = None) -> Tree:
    """The tree of the archive's first `size` chain entries (all of them by default), using the cache."""
    return Tree(chain_size(conn) if size is None else size, chain_leaves(conn), stored_nodes(conn))


def complete_subtrees(leaves: Iterable[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete subtree hash at NODE_LEVEL and above, from the leaf hashes in order (one pass;
    memory is n / 2**NODE_LEVEL hashes). What `verify --checkpoint` uses instead of the cache."""
    nodes: dict[tuple[int, int], bytes] = {}
    block: list[bytes] = []
    count = 0
    for leaf in leaves:
        block.append(leaf)
        if len(block) == 1 << NODE_LEVEL:
            level, index, digest = NODE_LEVEL, count, root_of(block)
            nodes[(level, index)] = digest
            while index & 1:  # a right child completes its parent
                digest = node_hash(nodes[(level, index - 1)], digest)
                level, index = level + 1, index >> 1
                nodes[(level, index)] = digest
            count += 1
            block = []
    return nodes


def chain_subtrees(conn: sqlite3.Connection, size: int) -> dict[tuple[int, int], bytes]:
    """`complete_subtrees` of the first `size` chain entries, recomputed from the chain (read in blocks);
    ValueError where entries are missing."""
    read = chain_leaves(conn)
    return complete_subtrees(leaf for start in range(0, size, 65536) for leaf in read(start, min(size, start + 65536)))


def fill_nodes(conn: sqlite3.Connection, size: int, max_blocks: int | None = None) -> bool:
    """Add to `tree_nodes` the complete subtrees of the first `size` leaves not cached yet (at most
    `max_blocks` new blocks of 2**NODE_LEVEL leaves per call). Returns whether the cache is complete."""
    width = 1 << NODE_LEVEL
    done = conn.execute("SELECT count(*) FROM tree_nodes WHERE level = ?", (NODE_LEVEL,)).fetchone()[0]
    target = size // width
    if max_blocks is not None:
        target = min(target, done + max_blocks)
    read = chain_leaves(conn)
    rows = [(NODE_LEVEL, index, root_of(read(index * width, (index + 1) * width))) for index in range(done, target)]
    conn.executemany("INSERT INTO tree_nodes (level, idx, hash) VALUES (?, ?, ?)", rows)
    level = NODE_LEVEL + 1
    while (target >> (level - NODE_LEVEL)) > 0:
        have = conn.execute("SELECT count(*) FROM tree_nodes WHERE level = ?", (level,)).fetchone()[0]
        want = target >> (level - NODE_LEVEL)
        if want > have:
            children = [bytes(r[0]) for r in conn.execute(
                "SELECT hash FROM tree_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
                (level - 1, 2 * have, 2 * want))]
            conn.executemany("INSERT INTO tree_nodes (level, idx, hash) VALUES (?, ?, ?)",
                             [(level, have + i, node_hash(children[2 * i], children[2 * i + 1]))
                              for i in range(want - have)])
        level += 1
    return target == size // width
