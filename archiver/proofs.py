"""Proofs a reader can take away: that a row is in the archive's log (an inclusion proof against the
latest checkpoint) and that a later checkpoint extends an earlier one (a consistency proof). Each is
one JSON object that tools/verify_evidence.py checks without the archive (docs/evidence-model.md).

These read only (any connection, Datasette's included) and rest on the node cache for speed; every
proof is checked before it is handed out, so a damaged cache gives an error, never a false proof."""

from __future__ import annotations

import base64
import sqlite3
from typing import Any

from archiver.archive import ADDED_COLUMNS, CHAINED
from archiver.database import ArchiveError
from archiver.tlog import chain_tree, leaf_hash, verify_consistency, verify_inclusion

INCLUSION_FORMAT = "archiver-inclusion-proof/1"
CONSISTENCY_FORMAT = "archiver-consistency-proof/1"


def _json_value(value: Any) -> Any:
    """Row values as JSON keeps their digest types: text, integer, null; bytes as {"base64": …}."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    return value


def _covering(conn: sqlite3.Connection, seq: int) -> dict[str, Any] | None:
    """The latest checkpoint (id, tree size, root hash in hex, time, origin, signed note), if it covers chain
    entry `seq`: proofs are made against the latest one (an older one covers no entry the latest does not).
    An archive older than checkpoints (schema 8) has none."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'").fetchone():
        return None
    row = conn.execute("SELECT id, tree_size, root_hash, created_at, note FROM checkpoints "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    if row is None or row[1] < seq:
        return None
    # a checkpoint's first line is its origin, the log's name (c2sp.org/tlog-checkpoint)
    return {"id": row[0], "tree_size": row[1], "root_hash": row[2], "created_at": row[3],
            "origin": row[4].split("\n", 1)[0], "note": row[4]}


def version_checkpoints(conn: sqlite3.Connection, version_ids: list[int]) -> dict[int, dict[str, Any] | None]:
    """For each version, the checkpoint its inclusion proof (`inclusion_bundle`) is made against; None while
    no checkpoint covers it. Cheap: index reads, no tree."""
    marks = ", ".join(str(int(i)) for i in version_ids) or "NULL"
    seqs = dict(conn.execute(f"SELECT row_id, seq FROM chain WHERE table_name = 'versions' AND row_id IN ({marks})"))
    return {version_id: _covering(conn, seqs[version_id]) if version_id in seqs else None
            for version_id in version_ids}


def _timestamps(conn: sqlite3.Connection, checkpoint_id: int) -> list[dict[str, str]]:
    """The checkpoint's RFC 3161 responses (`openssl ts -verify -in R.tsr -data NOTE -CAfile CA` checks one)."""
    return [{"tsa_url": url, "gen_time": gen_time, "response": base64.b64encode(bytes(response)).decode()}
            for url, gen_time, response in conn.execute(
                "SELECT tsa_url, gen_time, response FROM checkpoint_timestamps WHERE checkpoint_id = ? ORDER BY id",
                (checkpoint_id,))]


def _public_key(conn: sqlite3.Connection, note: str) -> str | None:
    """The archive's verifier key that signed `note` (the reader should compare it with the published one)."""
    for (vkey,) in conn.execute("SELECT public_key FROM checkpoint_keys ORDER BY id DESC"):
        if f"\n\u2014 {vkey.split('+', 1)[0]} " in note:
            return str(vkey)
    return None


def entry_bundle(conn: sqlite3.Connection, seq: int) -> dict[str, Any] | None:
    """The inclusion proof of chain entry `seq` (1-based) against the latest checkpoint, with the row
    it covers; None while no checkpoint covers it yet."""
    entry = conn.execute("SELECT table_name, row_id, row_sha256, prev_sha256, entry_sha256 FROM chain "
                         "WHERE seq = ?", (seq,)).fetchone()
    if entry is None:
        raise ArchiveError(f"no chain entry {seq}")
    table, row_id, row_sha, prev_sha, entry_sha = entry
    covering = _covering(conn, seq)
    if covering is None:
        return None
    checkpoint_id, size, note = covering["id"], covering["tree_size"], covering["note"]
    columns = CHAINED[table]
    row = conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id = ?", (row_id,)).fetchone()
    if row is None:
        raise ArchiveError(f"{table} row {row_id} is not in this copy of the archive")
    tree = chain_tree(conn, size)
    path = tree.inclusion_proof(seq - 1)
    if not verify_inclusion(seq - 1, size, leaf_hash(bytes.fromhex(entry_sha)), path, tree.root()):
        raise ArchiveError("the tree node cache disagrees with the chain: run `archiver verify --checkpoint`")
    return {
        "format": INCLUSION_FORMAT,
        "entry": {"seq": seq, "table": table, "row_id": row_id, "row_sha256": row_sha,
                  "prev_sha256": prev_sha, "entry_sha256": entry_sha},
        # a column added to the table later is left out when null, as its digest leaves it out
        "row": {name: _json_value(value) for name, value in zip(columns, row, strict=True)
                if value is not None or name not in ADDED_COLUMNS},
        "leaf_index": seq - 1,
        "tree_size": size,
        "audit_path": [h.hex() for h in path],
        "checkpoint": note,
        "public_key": _public_key(conn, note),
        "timestamps": _timestamps(conn, checkpoint_id),
    }


def inclusion_bundle(conn: sqlite3.Connection, version_id: int) -> dict[str, Any] | None:
    """The inclusion proof of a version (see entry_bundle); None while no checkpoint covers it."""
    found = conn.execute("SELECT seq FROM chain WHERE table_name = 'versions' AND row_id = ?",
                         (version_id,)).fetchone()
    if found is None:
        raise ArchiveError(f"version {version_id} is not in the chain")
    return entry_bundle(conn, int(found[0]))


def consistency_bundle(conn: sqlite3.Connection, old_size: int, old_note: str | None = None) -> dict[str, Any]:
    """The consistency proof from the tree of `old_size` to the latest checkpoint's tree."""
    latest = conn.execute("SELECT id, tree_size, note FROM checkpoints ORDER BY id DESC LIMIT 1").fetchone()
    if latest is None:
        raise ArchiveError("the archive has no checkpoint yet: run `archiver checkpoint`")
    checkpoint_id, size, note = latest
    if old_size > size:
        raise ArchiveError(f"tree size {old_size} is beyond the latest checkpoint ({size})")
    tree = chain_tree(conn, size)
    proof = tree.consistency_proof(old_size)
    if not verify_consistency(old_size, size, tree.prefix(old_size).root(), tree.root(), proof):
        raise ArchiveError("the tree node cache disagrees with the chain: run `archiver verify --checkpoint`")
    return {"format": CONSISTENCY_FORMAT, "old_size": old_size, "new_size": size,
            "proof": [h.hex() for h in proof], "old_checkpoint": old_note, "new_checkpoint": note,
            "public_key": _public_key(conn, note), "timestamps": _timestamps(conn, checkpoint_id)}
