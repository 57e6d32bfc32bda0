"""Getting data out of the archive without touching it: a SQL query's results as CSV, JSON or JSON
lines (streamed row by row, so memory does not grow with the result), a full SQL dump, and a
consistent single-file snapshot (VACUUM INTO), optionally without the payloads."""

from __future__ import annotations

import base64
import contextlib
import csv
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import sqlite_utils

from archiver.archive import CHAINED, Archive
from archiver.canonical import withheld_digest
from archiver.database import ArchiveError, connect, latest_version
from archiver.facet_counts import count_facets
from archiver.progress import bar
from archiver.publication import UNPUBLISHED_CAPTURES, UNPUBLISHED_POSTS, UNPUBLISHED_SOURCES
from archiver.readonly import lock_down

FORMATS = ("csv", "json", "jsonl")


def _reader(db_path: str | Path) -> sqlite3.Connection:
    conn = connect(db_path, readonly=True)
    conn.row_factory = None
    lock_down(conn)
    return conn


def _cell(value: Any) -> Any:
    # BLOBs (compressed payloads) have no JSON or CSV form: base64 keeps them lossless
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def query_rows(db_path: str | Path, sql: str) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Column names and a row iterator for a read-only query; the cursor is consumed lazily."""
    conn = _reader(db_path)
    try:
        cursor = conn.execute(sql)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "not authorized" in str(exc) or "readonly" in str(exc):
            raise ArchiveError("query refused: exports only read, and this query would change the archive "
                               "or reach another file") from exc
        raise ArchiveError(f"query failed: {exc}") from exc
    if cursor.description is None:
        conn.close()
        raise ArchiveError("query returns no rows: only SELECT queries can be exported")
    columns = [column[0] for column in cursor.description]

    def rows() -> Iterator[tuple[Any, ...]]:
        try:
            for row in cursor:
                yield tuple(_cell(value) for value in row)
        except sqlite3.Error as exc:
            raise ArchiveError(f"query failed while reading: {exc}") from exc
        finally:
            conn.close()

    return columns, rows()


# A spreadsheet reads a cell that starts with one of these as a formula (and a leading tab or carriage
# return hides one): archived text is a stranger's, so by default such a cell is written with a leading
# apostrophe, which spreadsheets show as text (OWASP's advice for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """`value` as a CSV cell no spreadsheet runs as a formula (only text cells can start one)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_query(db_path: str | Path, sql: str, fmt: str, out: TextIO, *, keep_formulas: bool = False) -> int:
    """Write the results of `sql` to `out` in `fmt`; returns the number of rows. In CSV, cells that a
    spreadsheet would run as formulas are neutralised unless `keep_formulas`."""
    if fmt not in FORMATS:
        raise ArchiveError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    columns, rows = query_rows(db_path, sql)
    count = 0
    if fmt == "csv":
        # RFC 4180 line ends: the writer then quotes every cell holding a CR or LF, so none splits a row
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns if keep_formulas else [neutralise(column) for column in columns])
        for row in rows:
            writer.writerow(row if keep_formulas else [neutralise(value) for value in row])
            count += 1
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) + "\n")
            count += 1
    else:
        # a JSON array written element by element: valid JSON without holding the result in memory
        out.write("[")
        for row in rows:
            out.write(",\n" if count else "\n")
            out.write(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
    return count


def dump(db_path: str | Path, out: TextIO, *, progress: bool = False) -> int:
    """A full SQL dump that rebuilds the archive in an empty database (schema version included);
    returns the number of statements. Read in one transaction, so it is consistent while the service
    keeps writing.

    Written here rather than with `iterdump`, which copies a full-text table's rows *and* its shadow
    tables (the restore then fails): the dump creates the full-text table empty and rebuilds it from
    `posts` after the rows are in, and the triggers come last so that restoring fires none of them."""
    conn = _reader(db_path)
    statements = 0

    def emit(sql: str) -> None:
        nonlocal statements
        out.write(sql.rstrip().rstrip(";") + ";\n")
        statements += 1

    try:
        conn.execute("BEGIN")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        kinds = {name: kind for _, name, kind, *_ in conn.execute("PRAGMA main.table_list")}
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                              "AND name NOT LIKE 'sqlite_%' ORDER BY rowid").fetchall()
        out.write(f"-- archive dump, schema version {version}\n")
        emit("PRAGMA foreign_keys = OFF")
        emit("BEGIN TRANSACTION")
        tables = [name for kind, name, _ in schema if kind == "table" and kinds.get(name) == "table"]
        total = sum(conn.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()[0] for name in tables)
        shown = bar(f"dumping {Path(db_path).name}", total, enabled=progress)
        for kind, name, sql in schema:
            if kind == "table" and kinds.get(name) == "table":
                emit(sql)
                statements += _dump_rows(conn, name, out, shown.update)
        shown.close()
        virtual = [(name, sql) for kind, name, sql in schema if kind == "table" and kinds.get(name) == "virtual"]
        for name, sql in virtual:
            emit(sql)
            emit(f"INSERT INTO {_quote(name)} ({_quote(name)}) VALUES ('rebuild')")
        for kind, _, sql in schema:
            if kind in ("index", "view", "trigger"):
                emit(sql)
        emit(f"PRAGMA user_version = {version}")  # what `archiver` reads to recognise an archive
        emit("COMMIT")
        conn.execute("COMMIT")
    finally:
        conn.close()
    return statements


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _dump_rows(conn: sqlite3.Connection, table: str, out: TextIO, advance: Callable[[], object]) -> int:
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({_quote(table)})")]
    # SQLite's quote() writes each value as a literal that reads back identically (BLOBs as X'..')
    values = " || ',' || ".join(f"quote({_quote(column)})" for column in columns)
    count = 0
    for (literal,) in conn.execute(f"SELECT {values} FROM {_quote(table)}"):
        out.write(f"INSERT INTO {_quote(table)} VALUES({literal});\n")
        count += 1
        advance()
    return count


def snapshot(db_path: str | Path, out_path: str | Path, *, without_payloads: bool = False,
             published_only: bool = False, progress: bool = False) -> dict[str, int]:
    """A consistent copy of the archive in one file (no WAL), fit for `datasette --immutable`.
    Returns how many rows of each table the copy withholds.

    `published_only` leaves out what the archive keeps but does not publish: posts marked
    `publish = 0` and everything of sources marked so (their versions, events, the captures those
    rest on and payloads no published capture shares). `without_payloads` leaves out every response
    body (captures and their digests stay). Each left-out chained row or payload is named in the copy's
    `withheld` table, the chain itself is kept whole, and the copy is vacuumed so that no page of it
    still holds what was left out.

    The copy is recorded as a publication in the archive it is taken from (a chained row: when, at which
    chain head, the digest of its withheld list), and the copy ends with the same row and chain entry:
    `archiver verify` on the copy accepts exactly the withheld rows that record declares. The copy is
    made without holding the archive's write lock; entries the archive appended meanwhile are added to
    the copy's chain with their rows withheld ("written after this copy was taken"), under the lock,
    which is held only for that and for the record. An archive older than the current schema is copied as it is
    (the original never upgraded), so it can only be copied whole."""
    out_path = Path(out_path)
    if out_path.exists():
        raise ArchiveError(f"{out_path} already exists: a snapshot never overwrites a file")
    if not out_path.parent.is_dir():
        raise ArchiveError(f"cannot write {out_path}: {out_path.parent} is not a folder")
    withholding = without_payloads or published_only
    conn = connect(db_path, readonly=True)
    current = conn.execute("PRAGMA user_version").fetchone()[0] == latest_version()
    conn.close()
    if not current:
        if withholding:
            raise ArchiveError(f"{db_path} predates publication records (schema 5): upgrade it with "
                               f"`archiver init --db {db_path}` before taking a copy that withholds rows")
        _copy(db_path, out_path, progress)
        return {}
    _copy(db_path, out_path, progress)  # the bulk of the work, without holding the archive's write lock
    try:
        copy = sqlite3.connect(out_path, isolation_level=None)
        try:
            copy.execute("BEGIN IMMEDIATE")
            if published_only:
                _withhold_unpublished(copy)
            if without_payloads:
                _withhold(copy, "payloads", "SELECT sha256 FROM payloads", "snapshot without payloads")
            count_facets(copy)  # the copy is final from here on: its facet counts stay exact
            with Archive(db_path) as archive, archive.transaction():  # briefly: no entry slips in between
                _catch_up(copy, archive)
                head_seq, head = archive.head()
                listed = copy.execute("SELECT table_name, row_key, reason FROM withheld "
                                      "ORDER BY table_name, row_key").fetchall()
                publication, entry = archive.record_publication(
                    head_seq=head_seq, head_sha256=head,
                    options={"published_only": published_only, "without_payloads": without_payloads},
                    withheld_count=len(listed), withheld_sha256=withheld_digest(listed),
                    reasons=sorted({reason for _, _, reason in listed}))
                columns = CHAINED["publications"]
                copy.execute(f"INSERT INTO publications ({', '.join(columns)}) VALUES "
                             f"({', '.join('?' * len(columns))})", [publication[c] for c in columns])
                copy.execute("INSERT INTO chain (seq, table_name, row_id, row_sha256, prev_sha256, entry_sha256) "
                             "VALUES (?, ?, ?, ?, ?, ?)", entry)
                copy.execute("COMMIT")
            withheld = dict(copy.execute("SELECT table_name, count(*) FROM withheld GROUP BY table_name"))
            if withheld:
                copy.execute("VACUUM")
        finally:
            copy.close()
    except BaseException:
        out_path.unlink(missing_ok=True)  # a copy the archive does not record is not a publication
        raise
    return withheld


def _catch_up(copy: sqlite3.Connection, archive: Archive) -> None:
    """Entries the archive appended while the copy was being made: their chain entries join the copy
    (so its chain runs on to the archive's head) and their rows are withheld from it."""
    last = copy.execute("SELECT coalesce(max(seq), 0) FROM chain").fetchone()[0]
    later = archive.conn.execute("SELECT seq, table_name, row_id, row_sha256, prev_sha256, entry_sha256 FROM chain "
                                 "WHERE seq > ? ORDER BY seq", (last,)).fetchall()
    copy.executemany("INSERT INTO chain (seq, table_name, row_id, row_sha256, prev_sha256, entry_sha256) "
                     "VALUES (?, ?, ?, ?, ?, ?)", [tuple(row) for row in later])
    copy.executemany("INSERT OR IGNORE INTO withheld (table_name, row_key, reason) VALUES (?, ?, ?)",
                     [(row[1], str(row[2]), "written after this copy was taken") for row in later])


def _copy(db_path: str | Path, out_path: Path, progress: bool = False) -> None:
    """VACUUM INTO from a read connection (the archive's last commit), then the copy alone brought to the
    current schema as one self-contained file (rollback journal, no WAL)."""
    conn = connect(db_path, readonly=True)
    pages, page_size = (conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "page_size"))
    shown = bar(f"copying {Path(db_path).name}", pages * page_size, "B", enabled=progress, scale=True)
    if not shown.disable:  # the copy's size as it grows, looked at every few thousand SQLite steps
        conn.set_progress_handler(lambda: _grown(shown, out_path), 100_000)
    try:
        conn.execute("VACUUM INTO ?", (str(out_path),))
    except sqlite3.Error as exc:
        raise ArchiveError(f"snapshot to {out_path} failed: {exc}") from exc
    finally:
        shown.close()
        conn.close()
    connect(out_path).close()  # the copy (never the original) at the current schema, `withheld` included
    copy = sqlite3.connect(out_path, isolation_level=None)
    copy.execute("PRAGMA journal_mode = DELETE")
    copy.close()


def _grown(shown: Any, path: Path) -> int:
    with contextlib.suppress(OSError):  # not created yet
        shown.update(path.stat().st_size - shown.n)
    return 0  # go on


def _withhold_unpublished(copy: sqlite3.Connection) -> None:
    reason = "not published (publish = 0)"
    copy.execute(f"CREATE TEMP TABLE hidden_posts AS {UNPUBLISHED_POSTS}")
    copy.execute(f"CREATE TEMP TABLE hidden_captures AS SELECT capture_id AS id FROM ({UNPUBLISHED_CAPTURES})")
    _withhold(copy, "events", "SELECT id FROM events WHERE post_id IN (SELECT id FROM hidden_posts)", reason)
    _withhold(copy, "versions", "SELECT id FROM versions WHERE post_id IN (SELECT id FROM hidden_posts)", reason)
    _withhold(copy, "payloads", "SELECT payload_sha256 FROM captures WHERE id IN (SELECT id FROM hidden_captures) "
                                "EXCEPT SELECT payload_sha256 FROM captures "
                                "WHERE id NOT IN (SELECT id FROM hidden_captures WHERE id IS NOT NULL)", reason)
    _withhold(copy, "captures", "SELECT id FROM hidden_captures", reason)
    # schema 5's chained rows about what is hidden: its sources' definitions and runs, the pages it was seen
    # on, and identity conflicts naming a hidden post
    _withhold(copy, "source_versions", f"SELECT id FROM source_versions WHERE source_id IN ({UNPUBLISHED_SOURCES})",
              reason)
    _withhold(copy, "run_outcomes", f"SELECT id FROM run_outcomes WHERE source_id IN ({UNPUBLISHED_SOURCES})",
              reason)
    _withhold(copy, "sightings", "SELECT id FROM sightings WHERE capture_id IN (SELECT id FROM hidden_captures)",
              reason)
    _withhold(copy, "identity_conflicts", "SELECT id FROM identity_conflicts WHERE post_id IN (SELECT id FROM "
                                          "hidden_posts) OR other_post_id IN (SELECT id FROM hidden_posts)", reason)
    # current views, not chained: removed without a trace, like the sources they came from
    copy.execute("DELETE FROM post_seen WHERE post_id IN (SELECT id FROM hidden_posts)")
    copy.execute("DELETE FROM posts WHERE id IN (SELECT id FROM hidden_posts)")  # the FTS trigger follows
    for table in ("source_state", "runs"):
        copy.execute(f"DELETE FROM {table} WHERE source_id IN ({UNPUBLISHED_SOURCES})")
    copy.execute("DELETE FROM sources WHERE publish = 0")
    if copy.execute("SELECT EXISTS (SELECT 1 FROM hidden_posts)").fetchone()[0]:
        for index in ("posts_fts", "versions_fts"):  # no index page keeps their words (minutes on 1M posts)
            copy.execute(f"INSERT INTO {index} ({index}) VALUES ('rebuild')")
    # a body a secret was redacted from is not the server's bytes: kept in the archive, never published
    _withhold(copy, "payloads", "SELECT payload_sha256 FROM captures WHERE json_extract(details, '$.withhold_payload') "
                                "IS NOT NULL EXCEPT SELECT payload_sha256 FROM captures "
                                "WHERE json_extract(details, '$.withhold_payload') IS NULL",
              "a secret the server reflected was redacted from it")


def _withhold(copy: sqlite3.Connection, table: str, keys_sql: str, reason: str) -> None:
    """Delete the rows of an append-only table whose key `keys_sql` selects, naming each in
    `withheld`. The table's append-only triggers are lifted for this and put back, so the copy
    stays as protected as the original."""
    key = "sha256" if table == "payloads" else "id"
    copy.execute(f"WITH w(k) AS ({keys_sql}) INSERT OR IGNORE INTO withheld (table_name, row_key, reason) "
                 "SELECT ?, k, ? FROM w WHERE k IS NOT NULL", (table, reason))
    # the surgery through sqlite-utils: its deletes run in a savepoint inside the snapshot's transaction
    rows = sqlite_utils.Database(copy, recursive_triggers=False, execute_plugins=False)[table]
    triggers = [trigger for trigger in rows.triggers if "append_only" in trigger.name]
    for trigger in triggers:
        copy.execute(f'DROP TRIGGER "{trigger.name}"')
    rows.delete_where(f"CAST({key} AS TEXT) IN (SELECT row_key FROM withheld WHERE table_name = ?)", [table])
    for trigger in triggers:
        copy.execute(trigger.sql)
