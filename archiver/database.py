"""Opening an archive file: connection settings, recognising what is (not) an archive, and applying
the versioned migrations kept in db/migrations (shipped as `archiver.migrations`)."""

from __future__ import annotations

import errno
import re
import sqlite3
from functools import cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

DEFAULT_DB = Path("db/archive.db")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Seconds a connection waits for another process's write lock before the archive counts as busy.
BUSY_TIMEOUT = 5.0


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


class DiskFull(ArchiveError):
    """The disk holding the archive is full: the last step was rolled back, nothing earlier is lost."""

    exit_code = 6


def classify(exc: sqlite3.Error | OSError, path: str | Path, doing: str) -> ArchiveError:
    """The one-line ArchiveError for an SQLite (or OS) failure while `doing` something with the archive:
    by SQLite's result code where it gives one, else by its message."""
    message = " ".join(str(exc).split())
    lowered = message.lower()
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    os_errno = exc.errno if isinstance(exc, OSError) else None
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in lowered or "busy" in lowered:
        return ArchiveBusy(f"{path} is locked by another process ({doing}): {message}")
    if primary == sqlite3.SQLITE_FULL or os_errno == errno.ENOSPC or "disk is full" in lowered:
        return DiskFull(f"{path}: the disk is full ({doing}; that step was not recorded): {message}")
    if (primary == sqlite3.SQLITE_READONLY or os_errno in (errno.EROFS, errno.EACCES)
            or "readonly" in lowered or "read-only" in lowered or "read only" in lowered):
        return ArchiveReadOnly(f"{path} is read-only ({doing}): {message}")
    # plain DatabaseError is SQLite's SQLITE_CORRUPT / SQLITE_NOTADB (its subclasses are other failures)
    if (primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or type(exc) is sqlite3.DatabaseError
            or "malformed" in lowered or "not a database" in lowered):
        return ArchiveCorrupt(f"{path} is corrupt ({doing}): {message}")
    return ArchiveError(f"{doing} {path} failed: {message}")


def quick_check(conn: sqlite3.Connection, path: str | Path) -> None:
    """Raise ArchiveCorrupt unless SQLite's quick_check finds every page of the file sound (it reads
    each page once and skips the index cross-checks: cheap next to a run)."""
    damage = [line.strip() for row in conn.execute("PRAGMA quick_check(5)") for line in str(row[0]).splitlines()]
    if damage != ["ok"]:
        raise ArchiveCorrupt(f"{path} is corrupt (quick_check: {'; '.join(damage)})")


def open_to_check(path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """Open an archive only to read it, exactly as it is: never migrated, never switched to WAL.
    A file no process is writing (no -wal file, no hot -journal: a snapshot, a backup, a deposit)
    is opened `immutable`, so not even a lock or a -shm file is made next to it."""
    return connect(path, readonly=True, immutable=at_rest(path), timeout=busy_timeout)


def at_rest(path: str | Path) -> bool:
    """Whether no process is writing the file: no -wal file, no hot -journal (a snapshot, a backup, a deposit)."""
    return not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists()


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


# What a file declares: every table, index, trigger and view by (type, name), with its CREATE statement.
# SQLite's own objects (sqlite_sequence, sqlite_stat1, the automatic indexes) follow from the rest or
# from ANALYZE and are left out.
Schema = dict[tuple[str, str], str | None]
_FTS5 = re.compile(r"CREATE VIRTUAL TABLE \S+ USING fts5\b", re.IGNORECASE)


def declared_schema(conn: sqlite3.Connection) -> Schema:
    return {(kind, name): sql for kind, name, sql in conn.execute(
        "SELECT type, name, sql FROM main.sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")}


class SearchIndex(NamedTuple):
    """A full-text index as the migrations declare it: the table it indexes, its columns, its tokenizer."""
    content: str
    columns: str  # comma-separated, in the index's order
    tokenizer: str


class Migrated(NamedTuple):
    objects: Schema
    settings: dict[str, frozenset[tuple[str, object]]]  # per full-text index, the rows of its _config table
    search: dict[str, SearchIndex]  # per full-text index, what it indexes


def _option(sql: str, name: str) -> str:
    found = re.search(rf"\b{name}\s*=\s*'([^']*)'", sql)
    if found is None:
        raise RuntimeError(f"a full-text index in the migrations declares no {name}: {sql}")
    return found.group(1)


@cache
def migrated_schema(version: int) -> Migrated:
    """What the migrations up to `version` declare, made in memory: the schema of every archive at that
    version, however it got there (migrations only ever run in order). With it, each full-text index's
    settings (they change how it matches and ranks) and what it indexes: the one definition of both, for
    the writer that fills the indexes and for verify that rebuilds them."""
    conn = sqlite3.connect(":memory:")
    try:
        for number, _, sql in migrations():
            if number <= version:
                conn.executescript(sql)
        schema = declared_schema(conn)
        indexes = {name: sql for (kind, name), sql in schema.items() if kind == "table" and _FTS5.match(sql or "")}
        search = {name: SearchIndex(_option(sql, "content"),
                                    ", ".join(row[1] for row in conn.execute(f"PRAGMA main.table_info({name})")),
                                    _option(sql, "tokenize"))
                  for name, sql in indexes.items()}
        return Migrated(schema, {name: fts_settings(conn, name) for name in indexes}, search)
    finally:
        conn.close()


def fts_settings(conn: sqlite3.Connection, index: str) -> frozenset[tuple[str, object]]:
    return frozenset((k, v) for k, v in conn.execute(f"SELECT k, v FROM main.{index}_config"))


def connect(path: str | Path, *, create: bool = False, readonly: bool = False, immutable: bool = False,
            timeout: float = BUSY_TIMEOUT, upgrade_to: int | None = None) -> sqlite3.Connection:
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
    wal = path.with_name(path.name + "-wal")
    if path.exists() and path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size):
        # never initialised silently: an empty file is more likely a failed copy than a new archive
        raise ArchiveCorrupt(f"{path} is an empty file, not an archive (remove it to create a new archive there)")
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
        # a damaged SQLite file is corrupt; anything else SQLite cannot read is not an archive at all
        what = "is corrupt" if "malformed" in str(exc) else "is not an archive"
        raise ArchiveCorrupt(f"{path} {what}: {exc}") from exc
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
            _prepare_for_writing(conn, path, version)
        except ArchiveError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise classify(exc, path, "opening it for writing") from exc
        if version < target:
            _migrate(conn, version, target)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _prepare_for_writing(conn: sqlite3.Connection, path: Path, version: int) -> None:
    if version:
        quick_check(conn, path)  # a damaged file is refused before anything is written into it
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode survives any process crash; only an OS crash or power loss can lose the
    # last commits, never corrupt the file (docs/evidence-model.md).
    conn.execute("PRAGMA synchronous = NORMAL")
    # 8 MiB of page cache (SQLite's default is 2): enough for the full-text index's merges, small enough
    # that a long import's memory stays flat
    conn.execute("PRAGMA cache_size = -8192")
    # a bounded WAL: checkpointed every 1000 pages (SQLite's default) and cut back to 4 MiB after
    conn.execute("PRAGMA wal_autocheckpoint = 1000")
    conn.execute(f"PRAGMA journal_size_limit = {4 * 1024 * 1024}")


def checkpoint(conn: sqlite3.Connection) -> None:
    """Move every committed page from the WAL into the database file and empty the WAL, so the file
    alone (a copy, a backup) holds every commit. Readers still open may make it partial: harmless."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


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
