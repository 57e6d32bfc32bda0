"""Opening an archive file: connection settings, recognising what is (not) an archive, and applying
the versioned migrations kept in db/migrations (shipped as `archiver.migrations`)."""

from __future__ import annotations

import re
import sqlite3
from importlib import resources
from pathlib import Path

DEFAULT_DB = Path("db/archive.db")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class ArchiveError(Exception):
    """A problem the user must act on; the CLI prints it as one line and exits with `exit_code`."""

    exit_code = 2


class ArchiveBusy(ArchiveError):
    """Another process holds the archive's lock for longer than we wait."""

    exit_code = 3


class ArchiveCorrupt(ArchiveError):
    """The file is damaged (or not an archive at all)."""

    exit_code = 4


class ArchiveReadOnly(ArchiveError):
    """The archive cannot be written (file or folder permissions, read-only medium)."""

    exit_code = 5


def classify(exc: sqlite3.Error, path: str | Path, doing: str) -> ArchiveError:
    """The one-line ArchiveError for an SQLite failure while `doing` something with the archive."""
    message = str(exc)
    lowered = message.lower()
    if "locked" in lowered or "busy" in lowered:
        return ArchiveBusy(f"{path} is locked by another process ({doing}): {message}")
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return ArchiveReadOnly(f"{path} is read-only ({doing}): {message}")
    # plain DatabaseError is SQLite's SQLITE_CORRUPT / SQLITE_NOTADB (its subclasses are other failures)
    if type(exc) is sqlite3.DatabaseError or "malformed" in lowered or "not a database" in lowered:
        return ArchiveCorrupt(f"{path} is corrupt ({doing}): {message}")
    return ArchiveError(f"{doing} {path} failed: {message}")


def open_to_check(path: str | Path, *, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """Open an archive only to read it, exactly as it is: never migrated, never switched to WAL.
    A file no process is writing (no -wal file, no hot -journal: a snapshot, a backup, a deposit)
    is opened `immutable`, so not even a lock or a -shm file is made next to it."""
    path = Path(path)
    at_rest = not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists()
    return connect(path, readonly=True, immutable=at_rest, timeout=busy_timeout)


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every migration, in order."""
    found = []
    for entry in resources.files("archiver.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise RuntimeError(f"migration {name} breaks the sequence: expected {expected:04d}")
    return found


def latest_version() -> int:
    return len(migrations())


def connect(path: str | Path, *, create: bool = False, readonly: bool = False, immutable: bool = False,
            timeout: float = 30, upgrade_to: int | None = None) -> sqlite3.Connection:
    """Open (and with `create`, make) an archive, migrated to the current schema; `readonly` opens it
    as it is (`immutable`: a file nothing writes, read without locks).

    Raises ArchiveError with a one-line reason for anything that is not a usable archive.
    `upgrade_to` stops migrating at that version (tests build old archives with it)."""
    path = Path(path)
    if not path.exists():
        if not create:
            raise ArchiveError(f"no archive at {path}: create one with `archiver init --db {path}`")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(f"cannot create {path}: {exc.strerror or exc}") from exc
    if path.exists() and path.is_dir():
        raise ArchiveError(f"{path} is a directory, not an archive file")
    try:
        if readonly:
            conn = sqlite3.connect(path.resolve().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro"),
                                   uri=True, isolation_level=None, check_same_thread=False, timeout=timeout)
        else:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
        conn.row_factory = sqlite3.Row
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "readonly" in str(exc):
            raise classify(exc, path, "opening it") from exc
        raise ArchiveError(f"cannot open {path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise ArchiveCorrupt(f"{path} is not an archive: {exc}") from exc
    if version == 0 and tables:
        conn.close()
        raise ArchiveCorrupt(f"{path} is an SQLite database but not an archive (it has tables "
                           f"{', '.join(sorted(tables)[:5])} and no archive schema)")
    if version == 0 and not create:
        conn.close()
        raise ArchiveError(f"{path} is an empty database, not an archive: run `archiver init --db {path}`")
    target = latest_version() if upgrade_to is None else upgrade_to
    if version > latest_version():
        conn.close()
        raise ArchiveError(f"{path} has schema version {version}, newer than this archiver knows "
                           f"({latest_version()}): upgrade archiver")
    if not readonly:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode survives any process crash; only an OS crash or power loss can lose the
            # last commits, never corrupt the file (docs/evidence-model.md).
            conn.execute("PRAGMA synchronous = NORMAL")
            # 8 MiB of page cache (SQLite's default is 2): enough for the full-text index's merges, small
            # enough that a long import's memory stays flat
            conn.execute("PRAGMA cache_size = -8192")
            conn.execute("PRAGMA wal_autocheckpoint = 8192")
        except sqlite3.Error as exc:
            conn.close()
            raise classify(exc, path, "opening it for writing") from exc
        if version < target:
            _migrate(conn, version, target)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _migrate(conn: sqlite3.Connection, current: int, target: int) -> None:
    for version, name, sql in migrations():
        if current < version <= target:
            try:
                conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise ArchiveError(f"migration {name} failed, archive left at version "
                                   f"{version - 1}: {exc}") from exc
