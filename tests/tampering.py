"""What an adversary with write access to an archive file does first and last: drop the triggers that
keep its tables append-only, rewrite what they like, and put the triggers back as they were, so that
the file's schema gives nothing away and only what its rows say can."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
