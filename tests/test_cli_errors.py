"""Unusable archive paths give one clear line and a non-zero exit, and never damage the file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
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
