"""A COMMIT that fails (here a deferred foreign-key violation, checked by SQLite only at COMMIT):
the caller sees the error, nothing of the transaction is on disk, the chain head is not advanced,
and the next transaction commits. Real SQLite throughout."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from archiver.archive import Archive, WriterThread
from archiver.models import Exchange, utcnow
from archiver.verify import verify

NO_SUCH_RUN = 999_999


def exchange(n: int) -> Exchange:
    return Exchange(requested_url=f"https://example.org/{n}", method="GET", started_at=utcnow(), ended_at=utcnow(),
                    status=200, body=f"<p>statement {n}</p>".encode())


def poisoned(archive: Archive) -> None:
    """Work that succeeds statement by statement and fails at COMMIT."""
    archive.conn.execute("PRAGMA defer_foreign_keys = ON")
    archive.record(exchange(0), run_id=NO_SUCH_RUN)


def counts(db_path: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(db_path)
    try:
        return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[return-value]
                     for t in ("captures", "payloads", "chain"))
    finally:
        conn.close()


def test_a_failed_commit_rolls_back_and_the_next_transaction_commits(archive: Archive, db_path: Path) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), archive.transaction():
        poisoned(archive)
    assert not archive.conn.in_transaction
    assert counts(db_path) == (0, 0, 0)
    archive.record(exchange(1))
    assert counts(db_path) == (1, 1, 1)
    assert verify(db_path).ok


def test_the_writer_fails_every_future_of_a_batch_whose_commit_fails(db_path: Path) -> None:
    Archive(db_path, create=True).close()
    writer = WriterThread(db_path)
    try:
        running, hold = threading.Event(), threading.Event()

        def block(archive: Archive) -> bool:  # keeps the writer busy while the next batch queues
            running.set()
            return hold.wait(30)

        blocker = writer.submit(block)
        assert running.wait(30)
        bad = writer.submit(poisoned)
        good = writer.submit(lambda archive: archive.record(exchange(2)))
        hold.set()
        assert blocker.result(30) is True
        for future in (bad, good):  # one batch, one commit: neither is durable, both are told
            with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
                future.result(30)
        assert counts(db_path) == (0, 0, 0)
        after = writer.call(lambda archive: archive.record(exchange(3)))
        assert after.capture_id == 1
    finally:
        writer.close()
    assert counts(db_path) == (1, 1, 1)
    assert verify(db_path).ok
