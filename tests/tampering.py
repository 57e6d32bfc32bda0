"""What an adversary with write access to an archive file does first and last: drop the triggers that
keep its tables append-only, rewrite what they like, and put the triggers back as they were, so that
the file's schema gives nothing away and only what its rows say can; and, having rewritten rows,
recompute the hash chain over them (`rechain`), so that only what is kept outside the file can tell."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from archiver.archive import ADDED_COLUMNS, CHAINED
from archiver.canonical import GENESIS, RowDigester, entry_digest


@contextmanager
def unguarded(path: Path | str) -> Iterator[sqlite3.Connection]:
    """A connection (autocommit) to `path` with every append-only trigger dropped until the block ends."""
    conn = sqlite3.connect(path, isolation_level=None)
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                            "AND name LIKE '%append_only%'").fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        kept = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        for name, sql in triggers:
            if name not in kept:  # (a tampering may have put one of its own in its place)
                conn.execute(sql)
        conn.close()


def rechain(conn: sqlite3.Connection, start: int = 1) -> None:
    """Recompute every chain entry from `start` on: each row's digest from the row as it now is, and
    the links, renumbering entries so that no gap is left."""
    digesters = {t: RowDigester(t, c, ADDED_COLUMNS) for t, c in CHAINED.items()}
    prev = GENESIS if start == 1 else conn.execute("SELECT entry_sha256 FROM chain WHERE seq = ?",
                                                 (start - 1,)).fetchone()[0]
    entries = conn.execute("SELECT seq, table_name, row_id FROM chain WHERE seq >= ? ORDER BY seq",
                           (start,)).fetchall()
    conn.execute("DELETE FROM chain WHERE seq >= ?", (start,))
    for seq, (_, table, row_id) in enumerate(entries, start=start):
        row = conn.execute(f"SELECT {', '.join(CHAINED[table])} FROM {table} WHERE id = ?", (row_id,)).fetchone()
        digest = digesters[table](row)
        entry = entry_digest(prev, table, row_id, digest)
        conn.execute("INSERT INTO chain VALUES (?, ?, ?, ?, ?, ?)", (seq, table, row_id, digest, prev, entry))
        prev = entry


def remove_entry(conn: sqlite3.Connection, table: str, row_id: int) -> None:
    """Remove one row and its chain entry, and renumber and recompute the chain after it."""
    (seq,) = conn.execute("SELECT seq FROM chain WHERE table_name = ? AND row_id = ?", (table, row_id)).fetchone()
    conn.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
    conn.execute("DELETE FROM chain WHERE seq = ?", (seq,))
    rechain(conn, seq)
