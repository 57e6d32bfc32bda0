"""Getting data out of the archive without touching it: a SQL query's results as CSV, JSON or JSON
lines (streamed row by row, so memory does not grow with the result), a full SQL dump, and a
consistent single-file snapshot (VACUUM INTO), optionally without the payloads."""

from __future__ import annotations

import base64
import csv
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from archiver.database import ArchiveError, connect
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


def export_query(db_path: str | Path, sql: str, fmt: str, out: TextIO) -> int:
    """Write the results of `sql` to `out` in `fmt`; returns the number of rows."""
    if fmt not in FORMATS:
        raise ArchiveError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    columns, rows = query_rows(db_path, sql)
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
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


def dump(db_path: str | Path, out: TextIO) -> int:
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
        for kind, name, sql in schema:
            if kind == "table" and kinds.get(name) == "table":
                emit(sql)
                statements += _dump_rows(conn, name, out)
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


def _dump_rows(conn: sqlite3.Connection, table: str, out: TextIO) -> int:
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({_quote(table)})")]
    # SQLite's quote() writes each value as a literal that reads back identically (BLOBs as X'..')
    values = " || ',' || ".join(f"quote({_quote(column)})" for column in columns)
    count = 0
    for (literal,) in conn.execute(f"SELECT {values} FROM {_quote(table)}"):
        out.write(f"INSERT INTO {_quote(table)} VALUES({literal});\n")
        count += 1
    return count


def snapshot(db_path: str | Path, out_path: str | Path, *, without_payloads: bool = False) -> None:
    """A consistent copy of the archive in one file (no WAL), fit for `datasette --immutable`.

    Without payloads, the copy keeps every capture and its digests but not the response bodies: it
    is smaller to publish, and `archiver verify` on it reports the missing payloads by design."""
    out_path = Path(out_path)
    if out_path.exists():
        raise ArchiveError(f"{out_path} already exists: a snapshot never overwrites a file")
    if not out_path.parent.is_dir():
        raise ArchiveError(f"cannot write {out_path}: {out_path.parent} is not a folder")
    conn = connect(db_path, readonly=True)
    try:
        conn.execute("VACUUM INTO ?", (str(out_path),))
    except sqlite3.Error as exc:
        raise ArchiveError(f"snapshot to {out_path} failed: {exc}") from exc
    finally:
        conn.close()
    copy = sqlite3.connect(out_path, isolation_level=None)
    try:
        copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        if without_payloads:
            _drop_payloads(copy)
    finally:
        copy.close()


def _drop_payloads(copy: sqlite3.Connection) -> None:
    """Empty the payloads table of the copy. Its append-only triggers are lifted for this one
    statement and put back, so the copy stays as protected as the original."""
    triggers = copy.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                            "AND tbl_name = 'payloads'").fetchall()
    copy.execute("BEGIN IMMEDIATE")
    for name, _ in triggers:
        copy.execute(f'DROP TRIGGER "{name}"')
    copy.execute("DELETE FROM payloads")
    for _, sql in triggers:
        copy.execute(sql)
    copy.execute("COMMIT")
    copy.execute("VACUUM")
