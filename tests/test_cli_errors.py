"""Unusable archive paths give one clear line and a non-zero exit, and never damage the file."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ARCHIVER = [sys.executable, "-m", "archiver"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ARCHIVER, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_init_creates_the_default_archive_under_db(tmp_path: Path) -> None:
    result = run("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "db" / "archive.db").exists()
    assert "created db/archive.db (schema version" in result.stdout
    again = run("init", cwd=tmp_path)
    assert again.returncode == 0 and "upgraded" in again.stdout


@pytest.mark.parametrize("command", ["status", "verify"])
def test_missing_archive(tmp_path: Path, command: str) -> None:
    result = run(command, "--db", str(tmp_path / "nothing.db"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"archiver: error: no archive at {tmp_path / 'nothing.db'}: "
        f"create one with `archiver init --db {tmp_path / 'nothing.db'}`"]
    assert not (tmp_path / "nothing.db").exists()


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the droids\n" * 100)
    result = run("status", "--db", str(path))
    assert result.returncode == 4  # not an archive: the exit code of a corrupt file
    assert len(result.stderr.strip().splitlines()) == 1
    assert "is not an archive: file is not a database" in result.stderr
    assert path.read_bytes() == b"these are not the droids\n" * 100


def test_an_sqlite_database_of_something_else(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    for command in ("init", "status", "verify"):
        result = run(command, "--db", str(path))
        assert result.returncode == 4, command
        assert "is an SQLite database but not an archive (it has tables customers" in result.stderr
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["customers"]


def test_a_directory(tmp_path: Path) -> None:
    result = run("status", "--db", str(tmp_path))
    assert result.returncode == 2 and "is a directory, not an archive file" in result.stderr


def test_a_path_that_cannot_hold_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "plain.txt"
    blocker.write_text("a file, not a folder")
    for command in ("init", "status"):
        result = run(command, "--db", str(blocker / "archive.db"))
        assert result.returncode == 2, command
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert str(blocker / "archive.db") in result.stderr


def test_an_archive_from_a_newer_archiver(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    assert run("init", "--db", str(path)).returncode == 0
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    result = run("status", "--db", str(path))
    assert result.returncode == 2 and "schema version 999, newer than this archiver knows" in result.stderr


# -- the disk and the file under faults: one line each, a distinct exit code, nothing written -----------


def filled_archive(path: Path, captures: int = 30) -> None:
    from archiver.archive import Archive
    from archiver.models import Exchange, utcnow

    with Archive(path, create=True) as archive:
        for n in range(captures):
            archive.record(Exchange(requested_url=f"https://example.org/{n}", method="GET", started_at=utcnow(),
                                    status=200, body=os.urandom(2000)))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    # a command that writes first names its archive ("archive: PATH"); the failure is one line after it
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("archive: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_an_empty_file_is_not_silently_made_an_archive(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for args in (("init",), ("fetch", "--allow-private", "http://127.0.0.1:9/"), ("status",)):
        result = run(*args, "--db", str(empty))
        assert result.returncode == 4, (args, result.stderr)
        assert one_line(result) == (f"archiver: error: {empty} is an empty file, not an archive "
                                    "(remove it to create a new archive there)")
    assert empty.stat().st_size == 0


def test_a_corrupt_archive_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    filled_archive(path)
    data = bytearray(path.read_bytes())
    page = 4096
    pages = len(data) // page
    data[page * (pages // 2):page * (pages // 2) + page] = os.urandom(page)  # a page in the middle, scrambled
    path.write_bytes(bytes(data))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = run("fetch", "--allow-private", "http://127.0.0.1:9/", "--db", str(path))
    assert result.returncode == 4, result.stderr
    assert one_line(result).startswith(f"archiver: error: {path} is corrupt")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_a_locked_archive_is_one_line_and_exit_3_after_a_bounded_wait(tmp_path: Path) -> None:
    from archiver.database import BUSY_TIMEOUT

    path = tmp_path / "archive.db"
    filled_archive(path, captures=1)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        began = time.monotonic()
        result = run("fetch", "--allow-private", "http://127.0.0.1:9/", "--db", str(path))
        took = time.monotonic() - began
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 3, result.stderr
    assert one_line(result) == ("archiver: error: the archive is locked by another process (archiver fetch): "
                                "database is locked")
    assert took < BUSY_TIMEOUT + 20  # bounded (it used to wait 30 s, then print a traceback)


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_exit_6(small_disk: Path) -> None:
    from tests.loopback import LoopbackServer, Reply

    path = small_disk / "archive.db"
    assert run("init", "--db", str(path)).returncode == 0
    with LoopbackServer() as server:
        server.routes["/big"] = Reply(200, os.urandom(3_000_000), {"Content-Type": "application/octet-stream"})
        result = run("fetch", "--allow-private", server.base + "/big", "--db", str(path))
    assert result.returncode == 6, result.stderr
    assert one_line(result).startswith("archiver: error: the archive: the disk is full (archiver fetch; that step "
                                       "was not recorded): database or disk is full")
    # what was there is intact and readable (verify would record its check: the disk is still full)
    assert run("status", "--db", str(path)).returncode == 0
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM captures").fetchone()[0] == 0
    conn.close()
