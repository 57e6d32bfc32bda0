"""Fixity check: recompute every payload digest, every version's content digest and the whole hash
chain, find rows that the chain does not cover, and rebuild every current view (`posts`, `post_seen`,
`sources`, `runs`, the full-text index) from the chained rows, naming each difference by row and column.

The file is opened read-only and checked as it is: never migrated, never switched to WAL; an archive
written by an older schema is checked with the tables and columns it has.

The chain is sequential, but each entry can be checked on its own: its digest from its contents, its
row's digest, and that it names the entry before it as `prev`; only the joins between ranges need the
ranges in order. So worker processes check ranges of entries (and of payloads) on their own read-only
connections and the main process joins them. Those rows are append-only, and a range ends at the last
entry of the main snapshot, so a worker reading a later snapshot of a live archive reads them unchanged;
the current views of a live archive are rebuilt on the main snapshot, a file at rest's anywhere."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.archive import (
    ADDED_COLUMNS,
    CHAINED,
    POST_FACTS,
    PUBLICATION_FACTS,
    RUN_FIELDS,
    SOURCE_FIELDS,
    VERSION_COLUMNS,
    Archive,
)
from archiver.canonical import GENESIS, RowDigester, content_digest, entry_digest, sha256_hex, withheld_digest
from archiver.database import (
    ArchiveError,
    at_rest,
    classify,
    declared_schema,
    fts_settings,
    migrated_schema,
    open_to_check,
    quick_check,
)
from archiver.facet_counts import recount_sql
from archiver.payloads import decode_payload
from archiver.progress import bar
from archiver.tlog import chain_size, chain_subtrees


@dataclass
class VerifyReport:
    payloads: int = 0
    versions: int = 0
    chain_entries: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    withheld: dict[str, int] = field(default_factory=dict)  # declared omissions of a published copy, per table
    head: str = GENESIS
    head_seq: int = 0
    schema: int = 0
    journal: str = ""  # the file's journal mode: a live archive is "wal"
    publication: int | None = None  # a published copy: the id of the publication record its chain ends with
    views: int = 0  # current-view rows rebuilt and compared
    problems: list[str] = field(default_factory=list)
    # the bar the checks advance (archiver.progress; silent unless asked for and on a terminal)
    progress: Any = field(default_factory=lambda: bar("", None, enabled=False), repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def copy(self) -> bool:
        return self.publication is not None

    def summary(self) -> str:
        rows = ", ".join(f"{n} {t}" for t, n in self.rows.items())
        withheld = ", ".join(f"{n} {t}" for t, n in sorted(self.withheld.items()))
        return (f"checked {self.payloads} payload digests, {self.versions} version digests, "
                f"{self.chain_entries} chain entries ({rows}), {self.views} current-view rows rebuilt; "
                f"chain head {self.head}"
                + (f"; published copy (publication {self.publication})" if self.copy else "")
                + (f"; withheld from this copy: {withheld}" if withheld else ""))


class _Archive:
    """What the checks need to know about the file: its tables and columns as they are."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.columns = {table: {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                        for table in CHAINED if table in self.tables}


# Below this many chain entries and payloads, starting worker processes costs more than it saves.
_SMALL = 20_000


def verify(path: str | Path, *, max_problems: int = 20, progress: bool = False,
           jobs: int | None = None) -> VerifyReport:
    """Check the archive at `path`; raises ArchiveError (one line: corrupt, locked, unreadable).

    The digests (payloads, versions' content, chained rows and links) are checked over ranges of rows
    by `jobs` worker processes (default: one per CPU, none for a small archive) while this process
    rebuilds the current views; every problem is named as a single pass would name it, in its order."""
    conn = open_to_check(path)
    report = VerifyReport()
    try:
        conn.execute("BEGIN")  # one snapshot: on a live archive, the state at the start is what is checked
        report.schema = conn.execute("PRAGMA user_version").fetchone()[0]
        report.journal = _journal(path)
        archive = _Archive(conn)
        first, last = conn.execute("SELECT min(seq), max(seq) FROM chain").fetchone()
        n_payloads = conn.execute("SELECT count(*) FROM payloads").fetchone()[0]
        n_versions = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
        if progress:  # counted on the same snapshot, so the total is what the checks will read
            entries = conn.execute("SELECT count(*) FROM chain").fetchone()[0]
            report.progress = bar(f"verifying {Path(path).name}", n_payloads + n_versions + entries)
        tail = conn.execute("SELECT table_name, row_id FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
        if tail is not None and tail[0] == "publications" and report.journal != "wal":
            # a published copy: one file, no WAL, ending with its publication record (the archive it was
            # taken from ends so too until its next write, but is a live, WAL-mode archive)
            report.publication = tail[1]
        if "withheld" in archive.tables:  # a file older than schema 4 has no such table
            report.withheld = dict(conn.execute("SELECT table_name, count(*) FROM withheld GROUP BY table_name"))
        scope = _Scope({t: frozenset(c) for t, c in archive.columns.items()}, report.schema,
                       report.withheld, report.publication)
        if jobs is None:
            jobs = (os.cpu_count() or 1) if (last or 0) - (first or 0) + n_payloads > _SMALL else 1
        parts = jobs * 4 if jobs > 1 else 1
        with _Runner(path, jobs, conn) as run:
            # a file at rest reads the same in every connection: its views can be rebuilt by the workers
            # too; a live one's are rebuilt here, on the snapshot the report speaks of
            pages = run(_check_pages, str(path))  # before anything else reads (in a worker: beside the rest)
            elsewhere = _HEAVY_VIEWS if jobs > 1 and at_rest(path) else ()
            views = {check: run(_check_views, scope, (check,)) for check in elsewhere}  # the longest first
            entries = [run(_check_entries, scope, lo, hi)
                       for lo, hi in (_split(first, last, parts) if first is not None else [])]
            payloads = [run(_check_payloads, lo, hi) for lo, hi in _payload_bounds(parts)]
            try:
                views.update({check: _Done(_check_views(conn, scope, (check,))) for check in _VIEWS
                              if check not in views})
            except sqlite3.Error:
                pages.result()  # a corrupt file is named as its page check names it
                raise
            pages.result()
            _chain(report, [part.result() for part in entries])
            for part in payloads:
                count, found = part.result()
                report.payloads += count
                report.progress.update(count)
                report.problems += found
            report.problems += _missing_payloads(conn, scope)
            report.versions = n_versions
            report.progress.update(n_versions)
            content = _unchained_versions(conn)
            for part in entries:
                content.update(part.result().content)
            report.problems += [content[k] for k in sorted(content)]
            for check in _VIEWS:
                problems, rows, rebuilt = views[check].result()
                report.problems += problems
                report.rows.update(rows)
                report.views += rebuilt
        del report.problems[max_problems:]
        return report
    except sqlite3.Error as exc:
        raise classify(exc, path, "checking it") from exc
    finally:
        report.progress.close()
        conn.close()


@dataclass(frozen=True)
class _Scope:
    """What the checks need to know of the file from the main snapshot (sent to the worker processes)."""
    columns: dict[str, frozenset[str]]  # the chained tables the file has, with their columns
    schema: int
    withheld: dict[str, int]
    publication: int | None

    @property
    def omits(self) -> bool:
        """Whether a missing row may be one a published copy declares it left out (a live archive withholds
        nothing; before schema 5, a copy's declarations are taken as they are)."""
        return bool(self.withheld) and not (self.schema >= 5 and self.publication is None)


def _check_views(conn: sqlite3.Connection, scope: _Scope,
                 checks: tuple[Callable[[_Archive, VerifyReport], None], ...]) -> tuple[list[str], dict[str, int], int]:
    """Run view checks on `conn`: their problems, the chained tables' row counts, the view rows rebuilt."""
    report = VerifyReport(schema=scope.schema, withheld=scope.withheld, publication=scope.publication)
    archive = _Archive(conn)
    for check in checks:
        check(archive, report)
    return report.problems, report.rows, report.views


@dataclass
class _Entries:
    """What the check of a range of chain entries found: enough to join it to the range before it."""
    first: tuple[int, str, str] | None = None  # its first entry: seq, prev_sha256, how to name it
    last: tuple[int, str] | None = None  # the last entry it passed: seq, entry_sha256
    entries: int = 0  # entries read, the one the chain broke at included
    broken: bool = False  # the chain broke in this range: its last problem says where
    problems: list[str] = field(default_factory=list)
    content: dict[int, str] = field(default_factory=dict)  # versions row id -> content digest problem


class _Runner:
    """Runs range checks in worker processes (each with its own read-only connection), or, with one
    job, here on the main connection's snapshot. Either way each call returns an object with
    `.result()`. A process with no other thread (the command line) forks its workers; one with threads
    (the service verifies from a scheduler thread) has them forked by a fork server, which costs a
    process start once but cannot inherit a lock another thread holds."""

    def __init__(self, path: str | Path, jobs: int, conn: sqlite3.Connection) -> None:
        self.path, self.jobs, self.conn = str(path), jobs, conn
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Callable[..., Any]:
        if self.jobs > 1:
            context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "forkserver")
            context.set_forkserver_preload([__name__])
            self.pool = ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_open_worker,
                                            initargs=(self.path,))
            return lambda task, *args: self.pool.submit(_in_worker, task, *args)
        return lambda task, *args: _Done(task(self.conn, *args))

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


@dataclass
class _Done:
    value: Any

    def result(self) -> Any:
        return self.value


_worker: sqlite3.Connection | None = None  # a worker process's own read-only connection


def _open_worker(path: str) -> None:
    global _worker
    _worker = open_to_check(path)


def _in_worker(task: Callable[..., Any], *args: Any) -> Any:
    """One range check in one read transaction. A worker's snapshot may be later than the main one on a
    live archive; the range checks read only append-only rows up to the main snapshot's last entry,
    which every later snapshot holds unchanged."""
    assert _worker is not None
    _worker.execute("BEGIN")
    try:
        return task(_worker, *args)
    finally:
        _worker.execute("ROLLBACK")


def _split(first: int, last: int, parts: int) -> list[tuple[int, int]]:
    """[first, last] in `parts` consecutive ranges (fewer when there are fewer values)."""
    size = max(1, -(-(last - first + 1) // parts))
    return [(lo, min(lo + size - 1, last)) for lo in range(first, last + 1, size)]


def _payload_bounds(parts: int) -> list[tuple[str | None, str | None]]:
    """`parts` ranges of payload keys [lo, hi) (None: unbounded). Keys are SHA-256 digests, spread evenly
    over the hex strings, so ranges of equal width hold about as many; a key that is not hex still
    falls in one of them."""
    cuts = [f"{(i << 16) // parts:04x}" for i in range(1, parts)]
    bounds: list[str | None] = [None, *cuts, None]
    return list(itertools.pairwise(bounds))


def check_pages(path: str | Path) -> None:
    """Raise ArchiveCorrupt unless SQLite's quick_check finds every page of the file sound."""
    conn = open_to_check(path)
    try:
        quick_check(conn, path)
    except sqlite3.Error as exc:
        raise classify(exc, path, "checking its pages") from exc
    finally:
        conn.close()


def _journal(path: str | Path) -> str:
    """The file's journal mode from its header (byte 18: 2 is WAL), read without asking SQLite to open it
    for writing: a live archive is always WAL; a snapshot or deposit uses a rollback journal."""
    with open(path, "rb") as file:
        header = file.read(20)
    return "wal" if len(header) == 20 and header[18] == 2 else "rollback"


def record(archive: Archive, report: VerifyReport) -> None:
    """Keep the check as a run: its outcome, the first problem, and the chain head it reached (a
    head noted over time lets anyone holding an older one see that the history was not rewritten)."""
    archive.record_run("verify", "ok" if report.ok else "failed",
                       error=report.problems[0] if report.problems else None,
                       details={"summary": report.summary(), "head": report.head, "problems": report.problems})


def record_failure(archive: Archive, error: ArchiveError | sqlite3.Error) -> None:
    """A check that could not run (a corrupt or unreadable file) is a failed verify run too."""
    archive.record_run("verify", "failed", error=str(error))


def _check_pages(conn: sqlite3.Connection, path: str) -> None:
    quick_check(conn, path)


def _withheld(conn: sqlite3.Connection, scope: _Scope, table: str, key: object) -> bool:
    """Whether a missing row is one a published copy declares it left out."""
    return scope.omits and conn.execute("SELECT 1 FROM withheld WHERE table_name = ? AND row_key = ?",
                                           (table, str(key))).fetchone() is not None


def _check_payloads(conn: sqlite3.Connection, lo: str | None, hi: str | None) -> tuple[int, list[str]]:
    """Each payload with a digest in [lo, hi): its bytes decode and digest to its key, at its size."""
    where = " AND ".join(w for w, bound in (("sha256 >= :lo", lo), ("sha256 < :hi", hi)) if bound is not None)
    count, problems = 0, []
    for sha, size, compression, data in conn.execute(
            f"SELECT sha256, size, compression, data FROM payloads {'WHERE ' + where if where else ''} "
            "ORDER BY sha256", {"lo": lo, "hi": hi}):
        count += 1
        try:
            body = decode_payload(compression, data)
        except Exception as exc:
            problems.append(f"payload {sha}: cannot be decoded ({exc})")
            continue
        if sha256_hex(body) != sha:
            problems.append(f"payload {sha}: content digest is {sha256_hex(body)}")
        elif len(body) != size:
            problems.append(f"payload {sha}: size {len(body)} but {size} recorded")
    return count, problems


def _missing_payloads(conn: sqlite3.Connection, scope: _Scope) -> list[str]:
    return [f"captures row {capture_id}: payload {sha} is missing" for capture_id, sha in conn.execute(
                "SELECT c.id, c.payload_sha256 FROM captures c LEFT JOIN payloads p ON p.sha256 = c.payload_sha256 "
                "WHERE c.payload_sha256 IS NOT NULL AND p.sha256 IS NULL ORDER BY c.id").fetchall()
            if not _withheld(conn, scope, "payloads", sha)]


_CONTENT = tuple(VERSION_COLUMNS.index(c) for c in ("id", "canonical_rule", "title", "text", "extra",
                                                     "content_sha256"))


def _content_problem(version_id: int, rule: int, title: str | None, text: str | None, extra: str | None,
                     digest: str) -> str | None:
    actual = content_digest(title, text, json.loads(extra) if extra else None, rule)
    return None if actual == digest else f"versions row {version_id}: content digest {actual} but {digest} recorded"


def _unchained_versions(conn: sqlite3.Connection) -> dict[int, str]:
    """Content digest problems of the versions no chain entry names (the ranges check the others)."""
    found = {}
    for row in conn.execute(
            "SELECT id, canonical_rule, title, text, extra, content_sha256 FROM versions v WHERE NOT EXISTS "
            "(SELECT 1 FROM chain c WHERE c.table_name = 'versions' AND c.row_id = v.id)"):
        if (problem := _content_problem(*row)) is not None:
            found[row[0]] = problem
    return found


def _check_entries(conn: sqlite3.Connection, scope: _Scope, lo: int, hi: int) -> _Entries:
    """Check chain entries lo..hi: each entry's digest from its contents and its link to the entry before
    (within the range; `_chain` joins the ranges), each chained row's digest, each version's content."""
    out = _Entries()
    rows: dict[int, str] = {}  # seq -> what is wrong with the row the entry names
    for table, present in scope.columns.items():
        digest = RowDigester(table, CHAINED[table], ADDED_COLUMNS)
        columns = ", ".join(f"t.{c}" if c in present else f"NULL AS {c}" for c in CHAINED[table])
        for seq, row_id, row_sha, found, *row in conn.execute(
                f"SELECT c.seq, c.row_id, c.row_sha256, t.id, {columns} FROM chain c "
                f"LEFT JOIN {table} t ON t.id = c.row_id WHERE c.table_name = ? AND c.seq BETWEEN ? AND ?",
                (table, lo, hi)):
            if found is None:
                if table == "publications" or not _withheld(conn, scope, table, row_id):
                    rows[seq] = f"chain entry {seq} ({table} row {row_id}): the row is missing"
                continue
            if digest(row) != row_sha:
                rows[seq] = f"{table} row {row_id}: contents differ from what the chain recorded"
            if table == "versions" and (problem := _content_problem(*(row[i] for i in _CONTENT))) is not None:
                out.content[row_id] = problem
    expected = prev = None
    for seq, table, row_id, row_sha, prev_sha, entry_sha in conn.execute(
            "SELECT seq, table_name, row_id, row_sha256, prev_sha256, entry_sha256 FROM chain "
            "WHERE seq BETWEEN ? AND ? ORDER BY seq", (lo, hi)):
        out.entries += 1
        where = f"chain entry {seq} ({table} row {row_id})"
        broken = None
        if expected is None:
            out.first = (seq, prev_sha, where)  # its link to the range before is checked by `_chain`
        elif seq != expected:
            broken = f"chain entry {expected} is missing (next is {seq})"
        elif prev_sha != prev:
            broken = f"{where}: previous digest does not match entry {seq - 1}"
        if broken is None and entry_digest(prev_sha, table, row_id, row_sha) != entry_sha:
            broken = f"{where}: entry digest does not match its contents"
        if broken is None and table not in scope.columns:
            broken = f"{where}: unknown table"
        if broken is not None:
            out.problems.append(broken)
            out.broken = True
            break
        if seq in rows:
            out.problems.append(rows[seq])
        expected, prev = seq + 1, entry_sha
        out.last = (seq, entry_sha)
    return out


def _chain(report: VerifyReport, parts: list[_Entries]) -> None:
    """Join the checked ranges in order: each one's first entry must follow the last of the one before.
    The first break ends the check, as it would a single pass (what comes after is not a chain)."""
    expected, prev = 1, GENESIS
    for part in parts:
        if part.first is None:
            continue
        seq, first_prev, where = part.first
        if seq != expected:
            report.chain_entries += 1
            report.problems.append(f"chain entry {expected} is missing (next is {seq})")
            return
        if first_prev != prev:
            report.chain_entries += 1
            report.problems.append(f"{where}: previous digest does not match entry {seq - 1}")
            return
        report.chain_entries += part.entries
        report.progress.update(part.entries)
        report.problems += part.problems
        if part.broken:
            return
        assert part.last is not None
        expected, prev = part.last[0] + 1, part.last[1]
    report.head, report.head_seq = prev, expected - 1


def _schema(archive: _Archive, report: VerifyReport) -> None:
    """The file declares exactly what the archive's migrations declare at its schema version. What it
    declares decides what a reader sees as much as the rows do: a column or table added with invented
    values shows on every page and is chained nowhere, a search index declared with another tokenizer or
    other settings matches other posts, and a dropped trigger no longer keeps a table append-only."""
    expected, settings, _ = migrated_schema(report.schema)
    found = declared_schema(archive.conn)
    version = f"schema version {report.schema}"  # as the archive's migrations make it
    for kind, name in sorted(expected.keys() | found.keys()):
        if (kind, name) not in found:
            report.problems.append(f"schema: {kind} {name} is missing ({version} has it)")
        elif (kind, name) not in expected:
            report.problems.append(f"schema: {kind} {name} is not part of {version}")
        elif found[kind, name] != expected[kind, name]:
            report.problems.append(f"schema: {kind} {name} is declared otherwise than in {version}")
    for index, wanted in settings.items():
        if ("table", f"{index}_config") in found and fts_settings(archive.conn, index) != wanted:
            report.problems.append(f"schema: the settings of {index} ({index}_config) are not those of {version}")


def _coverage(archive: _Archive, report: VerifyReport) -> None:
    for table in archive.columns:
        report.rows[table] = archive.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for (row_id,) in archive.conn.execute(
                f"SELECT t.id FROM {table} t LEFT JOIN chain c ON c.table_name = ? AND c.row_id = t.id "
                "WHERE c.seq IS NULL ORDER BY t.id LIMIT 5", (table,)):
            report.problems.append(f"{table} row {row_id}: not in the chain")


def _publication(archive: _Archive, report: VerifyReport) -> None:
    """Withheld rows are legitimate only in a published copy, and only exactly those its publication
    record (chained in the archive it was taken from, the copy's last entry) declares."""
    if report.schema < 5 or "withheld" not in archive.tables:
        return  # older copies predate publication records: their declarations are taken as they are
    conn = archive.conn
    listed = sum(report.withheld.values())
    if not report.copy:
        if listed:
            report.problems.append(f"withheld: {listed} rows declared withheld in an archive that is not a "
                                   "published copy (its chain does not end with a publication record)")
        return
    record = conn.execute("SELECT head_seq, head_sha256, withheld_count, withheld_sha256 FROM publications "
                          "WHERE id = ?", (report.publication,)).fetchone()
    if record is None:
        return  # reported by the chain check
    last = conn.execute("SELECT seq, prev_sha256 FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
    if (record[0], record[1]) != (last[0] - 1, last[1]):
        report.problems.append(f"publications row {report.publication}: taken at chain entry {record[0]}, "
                               f"but the copy's chain before it ends at entry {last[0] - 1}")
    rows = conn.execute("SELECT table_name, row_key, reason FROM withheld ORDER BY table_name, row_key")
    digest = withheld_digest(rows)
    if (listed, digest) != (record[2], record[3]):
        report.problems.append(f"withheld: the copy withholds {listed} rows (digest {digest}) but its publication "
                               f"record {report.publication} declares {record[2]} (digest {record[3]})")


def _differ(report: VerifyReport, table: str, key: object, expected: dict[str, object],
            actual: dict[str, object]) -> None:
    for column, value in expected.items():
        if actual[column] != value:
            report.problems.append(f"{table} row {key}: {column} is {actual[column]!r} but the chained rows "
                                   f"give {value!r}")


_POST_VIEW = ("platform", "native_id", "source_id", "owner", "url", "author_id", "author_handle", "author_name",
              "kind", "published_at", "published_raw", "published_where", "language", "reply_to", "quote_of",
              "repost_of", "media", "tags", "publish", "first_seen_at", "status", "title", "text", "version_count",
              "current_version")
_IDENTITY_FACTS = ("platform", "native_id", "source_id", "owner")  # from the first version; the rest: the latest
_STATUS_AFTER = {"missing": "missing", "deleted": "deleted", "restored": "live"}


def _posts(archive: _Archive, report: VerifyReport) -> None:
    """Rebuild each `posts` row from its versions (content, facts) and events (status, and which
    version is current)."""
    conn = archive.conn
    columns = [c for c in _POST_VIEW if c in {r[1] for r in conn.execute("PRAGMA table_info(posts)")}]
    kept = "facts" in archive.columns["versions"]
    # (a post with no version found late has its publication from its current version: no lookup for it)
    facts, first_facts, pub_facts = (("last.facts", "first.facts", "coalesce(pub.facts, last.facts)") if kept
                                     else ("NULL",) * 3)
    # the version whose facts give the publication: the earliest dated once a version was found after a
    # later one, else the current one (archiver.archive.PUBLICATION_FACTS)
    dated = ("""CASE WHEN p.id IN (SELECT post_id FROM events WHERE type = 'earlier_version')
                THEN (SELECT id FROM versions v WHERE v.post_id = p.id AND v.claimed_at IS NOT NULL
                      AND v.facts IS NOT NULL ORDER BY v.claimed_at, v.id LIMIT 1) END""" if kept else "NULL")

    # correlated lookups, each one step down an index (versions by post, events by post), per post
    def rebuilt(select: str, where: str = "") -> str:
        return f"""
            SELECT {select}
            FROM (
                SELECT {', '.join(f'p.{c}' for c in columns)}, p.id AS post_id,
                    (SELECT count(*) FROM versions v WHERE v.post_id = p.id) AS n,
                    -- the current version: the last appended, but never one found after it and dated
                    -- before it (an `earlier_version` event; few posts have one, looked up only for them)
                    CASE WHEN p.id IN (SELECT post_id FROM events WHERE type = 'earlier_version')
                         THEN (SELECT max(id) FROM versions v WHERE v.post_id = p.id AND v.id NOT IN (
                               SELECT version_id FROM events WHERE type = 'earlier_version'))
                         ELSE (SELECT max(id) FROM versions v WHERE v.post_id = p.id) END AS last_id,
                    (SELECT min(id) FROM versions v WHERE v.post_id = p.id) AS first_id,
                    {dated} AS dated_id,
                    (SELECT type FROM events e WHERE e.post_id = p.id
                     AND e.type IN ('missing', 'deleted', 'restored') ORDER BY e.id DESC LIMIT 1) AS status_event
                FROM posts p {where}) p
            LEFT JOIN versions last ON last.id = p.last_id LEFT JOIN versions first ON first.id = p.first_id
            LEFT JOIN versions pub ON pub.id = p.dated_id
            ORDER BY p.post_id"""

    # first in SQL, which posts differ at all (typeof too: SQLite compares '5' and 5 as equal in a
    # text column, Python does not); then each of those, column by column, as the chained rows give it
    expected = {"version_count": "p.n", "current_version": "p.last_id", "title": "last.title",
                "text": "last.text", "first_seen_at": "first.observed_at",
                "status": "CASE p.status_event WHEN 'missing' THEN 'missing' WHEN 'deleted' THEN 'deleted' "
                          "ELSE 'live' END"}
    same = [f"(p.{c} IS {e} AND typeof(p.{c}) = typeof({e}))" for c, e in expected.items() if c in columns]
    if facts != "NULL":
        for key in POST_FACTS:
            if key in columns:
                source = first_facts if key in _IDENTITY_FACTS else pub_facts if key in PUBLICATION_FACTS else facts
                value = f"json_extract({source}, '$.{key}')"
                same.append(f"({source} IS NULL OR (p.{key} IS {value} AND typeof(p.{key}) = typeof({value})))")
    differing = [post_id for post_id, differs in conn.execute(rebuilt(
        "p.post_id, p.current_version IS NOT NULL AND (SELECT 1 FROM versions v WHERE v.id = p.current_version) "
        f"IS NULL OR NOT ({' AND '.join(same)})")) if differs]
    report.views += conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    query = rebuilt(f"""{', '.join(f'p.{c}' for c in columns)}, p.post_id, p.n, p.last_id, p.status_event,
               last.title, last.text, {facts}, {first_facts}, {pub_facts}, first.observed_at,
               (SELECT 1 FROM versions v WHERE v.id = p.current_version)""",
                    "WHERE p.id IN (SELECT value FROM json_each(?))")
    for row in conn.execute(query, (json.dumps(differing),)):
        actual = dict(zip(columns, row, strict=False))
        post_id, n, last_id, status, title, text, last_facts, first_facts, pub_facts, first_seen, current_exists = \
            row[len(columns):]
        if actual["current_version"] is not None and current_exists is None:
            report.problems.append(f"posts row {post_id}: current_version {actual['current_version']} "
                                   "is not a version in the archive")
        if n is None:
            report.problems.append(f"posts row {post_id}: no chained version behind it")
            continue
        expected: dict[str, object] = {"version_count": n, "current_version": last_id, "title": title,
                                       "text": text, "status": _STATUS_AFTER.get(status, "live"),
                                       "first_seen_at": first_seen}
        if last_facts is not None:
            latest = json.loads(last_facts)
            expected.update({k: latest[k] for k in POST_FACTS if k not in _IDENTITY_FACTS})
        if pub_facts is not None:
            dated = json.loads(pub_facts)
            expected.update({k: dated[k] for k in PUBLICATION_FACTS})
        if first_facts is not None:
            first = json.loads(first_facts)
            expected.update({k: first[k] for k in _IDENTITY_FACTS})
        _differ(report, "posts", post_id, {k: v for k, v in expected.items() if k in actual}, actual)
    for post_id, in conn.execute("SELECT DISTINCT post_id FROM versions WHERE post_id NOT IN "
                                 "(SELECT id FROM posts) ORDER BY post_id LIMIT 5"):
        report.problems.append(f"posts row {post_id} is missing (its versions are chained)")


def _post_seen(archive: _Archive, report: VerifyReport) -> None:
    """Rebuild `post_seen` from the chained sightings: each post's last sighting."""
    if "sightings" not in archive.tables:
        return
    conn = archive.conn
    facts = "facts" if "facts" in archive.columns["versions"] else "NULL"
    query = f"""
        WITH seen AS (SELECT CAST(j.value AS INTEGER) AS post_id, s.at, s.capture_id, s.id AS sid
                      FROM sightings s, json_each(s.post_ids) j),
        last AS (SELECT post_id, at, capture_id FROM (
                     SELECT *, row_number() OVER (PARTITION BY post_id ORDER BY sid DESC) AS rn FROM seen)
                 WHERE rn = 1)
        SELECT p.id, ps.post_id, ps.last_seen_at, ps.last_capture_id, last.post_id, last.at, last.capture_id,
               (SELECT {facts} FROM versions v WHERE v.post_id = p.id ORDER BY v.id LIMIT 1) IS NOT NULL
        FROM posts p LEFT JOIN post_seen ps ON ps.post_id = p.id LEFT JOIN last ON last.post_id = p.id
        WHERE ps.post_id IS NOT NULL OR last.post_id IS NOT NULL
        ORDER BY p.id"""
    for post_id, seen_id, seen_at, seen_capture, last_id, last_at, last_capture, chained in conn.execute(query):
        report.views += 1
        if last_id is None:
            if chained:  # a post first archived before sightings were chained has none to rebuild from
                report.problems.append(f"post_seen row {post_id}: no chained sighting of the post")
        elif seen_id is None:
            report.problems.append(f"post_seen row {post_id} is missing (the post's sightings are chained)")
        else:
            _differ(report, "post_seen", post_id, {"last_seen_at": last_at, "last_capture_id": last_capture},
                    {"last_seen_at": seen_at, "last_capture_id": seen_capture})
    for post_id, in conn.execute("SELECT post_id FROM post_seen WHERE post_id NOT IN (SELECT id FROM posts) "
                                 "ORDER BY post_id LIMIT 5"):
        report.problems.append(f"post_seen row {post_id}: no such post")


def _latest_rows(archive: _Archive, report: VerifyReport, *, view: str, view_key: str, chained: str,
                 chained_key: str, fields: tuple[str, ...], unchained: str) -> None:
    """Compare a current view with the latest chained row of each of its keys, both ways."""
    conn = archive.conn
    values = ", ".join(f"v.{f}" for f in fields)
    latest = (f"SELECT {chained_key} AS k, {', '.join(fields)} FROM (SELECT *, row_number() OVER "
              f"(PARTITION BY {chained_key} ORDER BY id DESC) AS rn FROM {chained}) WHERE rn = 1")
    for row in conn.execute(f"SELECT v.{view_key}, {values}, c.k, {', '.join(f'c.{f}' for f in fields)} "
                            f"FROM {view} v LEFT JOIN ({latest}) c ON c.k = v.{view_key} {unchained} "
                            f"ORDER BY v.{view_key}"):
        report.views += 1
        key, actual, found, expected = row[0], row[1:1 + len(fields)], row[1 + len(fields)], row[2 + len(fields):]
        if found is None:
            report.problems.append(f"{view} row {key}: no chained {chained} row behind it")
        else:
            _differ(report, view, key, dict(zip(fields, expected, strict=True)),
                    dict(zip(fields, actual, strict=True)))
    for key, in conn.execute(f"SELECT DISTINCT {chained_key} FROM {chained} WHERE {chained_key} NOT IN "
                             f"(SELECT {view_key} FROM {view}) ORDER BY 1 LIMIT 5"):
        report.problems.append(f"{view} row {key} is missing (its {chained} rows are chained)")


def _chained(archive: _Archive, table: str) -> bool:
    """Whether `table` holds chained rows: an archive upgraded to schema 5 chains its sources and
    finished runs when the writer first opens it; a copy of an older archive never has."""
    return table in archive.tables and archive.conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None


def _sources(archive: _Archive, report: VerifyReport) -> None:
    if _chained(archive, "source_versions"):
        _latest_rows(archive, report, view="sources", view_key="id", chained="source_versions",
                     chained_key="source_id", fields=SOURCE_FIELDS, unchained="")


def _runs(archive: _Archive, report: VerifyReport) -> None:
    if _chained(archive, "run_outcomes"):
        # a run still going has no outcome yet: only finished runs, and runs an outcome was chained for
        _latest_rows(archive, report, view="runs", view_key="id", chained="run_outcomes", chained_key="run_id",
                     fields=RUN_FIELDS, unchained="WHERE v.outcome IS NOT NULL OR c.k IS NOT NULL")


def _search_index(archive: _Archive, report: VerifyReport, index: str) -> None:
    """Search finds exactly what the table it indexes holds: every entry of the index (term, row, column,
    position) and nothing else. The index is copied into a temporary table and built afresh from its
    table in another; both are merged into one segment by FTS5's own merge, whose pages depend only on
    the entries, and their pages compared. Where they differ, the entries themselves are compared
    (slower: only an index that differs pays for it) and the first differences named."""
    conn = archive.conn
    # what the migrations declare the index with, not the file (its declaration is checked by `_schema`:
    # rebuilding with it would let a forged one agree with itself)
    declared = migrated_schema(report.schema).search.get(index)
    if index not in archive.tables or declared is None:  # an archive older than the index
        return
    content, columns, tokenizer = declared
    kept, rebuilt = f"{index}_kept", f"{index}_rebuilt"
    _temporary_index(conn, kept, columns, tokenizer, sizes=False)
    _temporary_index(conn, rebuilt, columns, tokenizer, sizes=True)

    with _segment(conn):  # the index's own entries, as they are stored (its pages and their directory)
        for shadow in ("data", "idx"):
            conn.execute(f"DELETE FROM temp.{kept}_{shadow}")
            conn.execute(f"INSERT INTO temp.{kept}_{shadow} SELECT * FROM main.{index}_{shadow}")
    with _segment(conn):  # merging segments as they are made is wasted work when all are merged at the end
        for option, value in (("automerge", 0), ("crisismerge", 64), ("hashsize", 16 << 20)):
            conn.execute(f"INSERT INTO temp.{rebuilt} ({rebuilt}, rank) VALUES (?, ?)", (option, value))
        conn.execute(f"INSERT INTO temp.{rebuilt} (rowid, {columns}) SELECT id, {columns} FROM {content}")
    _differing_sizes(conn, report, index, content, rebuilt)  # before the merge's dummy row replaces one
    _merge(conn, (kept, rebuilt), columns)
    if _pages_differ(conn, kept, rebuilt, f"id > {_STRUCTURE}"):
        _differing_entries(conn, report, index, content, rebuilt)
    if _pages_differ(conn, kept, rebuilt, f"id = {_COUNTS}"):  # they weigh search results' ranking
        report.problems.append(f"{index}: the index's counts of rows and words do not match the {content} it indexes")
    for table in (kept, rebuilt):  # their pages are reused by the next index's copies, not kept to the end
        conn.execute(f"DROP TABLE temp.{table}")


def _temporary_index(conn: sqlite3.Connection, table: str, columns: str, tokenizer: str, *, sizes: bool) -> None:
    """An empty FTS5 table in temp with the search index's columns and tokenizer: contentless (what is
    compared are the entries), keeping each row's word counts per column only with `sizes`."""
    conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
    conn.execute(f"CREATE VIRTUAL TABLE temp.{table} USING fts5 ({columns}, content = '', "
                 f"columnsize = {int(sizes)}, tokenize = '{tokenizer}')")


def _differing_sizes(conn: sqlite3.Connection, report: VerifyReport, index: str, content: str, rebuilt: str) -> None:
    """Each row's word counts per column (the index's _docsize), which weigh its rank in a search by
    relevance, must be the rebuilt index's: name the first rows whose counts differ or are kept for no row."""
    kept, built = f"main.{index}_docsize", f"temp.{rebuilt}_docsize"
    rows = [row for (row,) in conn.execute(  # two joins on the rowid (a FULL JOIN needs SQLite 3.39)
        f"SELECT k.id FROM {kept} k LEFT JOIN {built} r ON r.id = k.id WHERE r.sz IS NOT k.sz UNION ALL "
        f"SELECT r.id FROM {built} r WHERE NOT EXISTS (SELECT 1 FROM {kept} k WHERE k.id = r.id) LIMIT 5")]
    if rows:
        report.problems.append(f"{index}: the word counts it keeps for {content} {', '.join(map(str, rows))} do not "
                               "match what those rows hold")


@contextmanager
def _segment(conn: sqlite3.Connection) -> Iterator[None]:
    """A savepoint: FTS5 writes what it holds in memory as a segment of its own at each one."""
    conn.execute("SAVEPOINT search_index")
    yield
    conn.execute("RELEASE search_index")


def _merge(conn: sqlite3.Connection, tables: tuple[str, ...], columns: str) -> None:
    """Merge each table's segments into one ('optimize'). FTS5 leaves an index of one segment as it is,
    and a segment written at once is laid out otherwise than a merged one: a row with a term no table
    holds is added and deleted first, in segments of their own, so every table is merged, and the
    merge drops both."""
    for table in tables:
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}_terms")
        conn.execute(f"CREATE VIRTUAL TABLE temp.{table}_terms USING fts5vocab (temp, {table}, row)")
    term = next(term for term in (f"verifymerge{n}" for n in itertools.count())
                if not any(conn.execute(f"SELECT 1 FROM temp.{table}_terms WHERE term = ?", (term,)).fetchone()
                           for table in tables))
    first = columns.split(", ")[0]
    for table in tables:
        with _segment(conn):
            conn.execute(f"INSERT INTO temp.{table} (rowid, {first}) VALUES (1, ?)", (term,))
        with _segment(conn):
            conn.execute(f"INSERT INTO temp.{table} ({table}, rowid, {first}) VALUES ('delete', 1, ?)", (term,))
        conn.execute(f"INSERT INTO temp.{table} ({table}) VALUES ('optimize')")


# an FTS5 page's rowid: segment id above bit 37, then the page's place in its segment (which segment id
# a merge allocates depends on the segments there were); rowid 1 holds the counts of rows and words, 10
# the segment list, and the segments' pages come after it
_PAGE = (1 << 37) - 1
_COUNTS, _STRUCTURE = 1, 10


def _pages_differ(conn: sqlite3.Connection, kept: str, rebuilt: str, rows: str) -> bool:
    """Whether the two merged indexes differ in the `rows` of their pages, read in order."""
    pages = [conn.execute(f"SELECT id & {_PAGE}, block FROM temp.{table}_data WHERE {rows} ORDER BY id")
             for table in (kept, rebuilt)]
    return any(one != other for one, other in itertools.zip_longest(*pages))


def _differing_entries(conn: sqlite3.Connection, report: VerifyReport, index: str, content: str,
                       rebuilt: str) -> None:
    """Name the first entries one index holds and the other does not."""
    for table, schema, name in ((index, "main", f"{index}_held"), (rebuilt, "temp", f"{rebuilt}_entries")):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
        conn.execute(f"CREATE VIRTUAL TABLE temp.{name} USING fts5vocab ({schema}, {table}, instance)")
    # counted, so that an entry held twice is named too
    held, built = (f"SELECT *, count(*) FROM temp.{name} GROUP BY term, doc, col, offset"
                   for name in (f"{index}_held", f"{rebuilt}_entries"))
    for side, term, row, column, offset, _ in conn.execute(
            f"SELECT 'held', * FROM ({held} EXCEPT {built}) UNION ALL "
            f"SELECT 'built', * FROM ({built} EXCEPT {held}) LIMIT 5"):
        where = f"{content} {row} ({column}, word {offset + 1})"
        said = (f"puts it in {where}, which does not hold it there" if side == "held"
                else f"lacks it in {where}, which holds it there")
        report.problems.append(f"{index}: the index of term {term!r} {said}")


def _posts_fts(archive: _Archive, report: VerifyReport) -> None:
    """The search of current texts (posts_fts) finds exactly what `posts` holds."""
    _search_index(archive, report, "posts_fts")


def _versions_fts(archive: _Archive, report: VerifyReport) -> None:
    """The search of every version (versions_fts) finds exactly what `versions` holds: a word it matched
    is a word of that version."""
    _search_index(archive, report, "versions_fts")


def _facet_counts(archive: _Archive, report: VerifyReport) -> None:
    """Recount the facet counts a published copy keeps for its face: every kept count must be the table's
    own, value and type alike, and no value the table holds may be missing from them."""
    if not _chained(archive, "facet_counts"):  # a live archive keeps none
        return
    columns = "table_name, column_name, value, typeof(value), count"
    kept, recount = f"SELECT {columns} FROM facet_counts", f"SELECT {columns} FROM ({recount_sql()})"
    for table, column, value, _, count, side in archive.conn.execute(
            f"SELECT *, 'kept' FROM ({kept} EXCEPT {recount}) UNION ALL "
            f"SELECT *, 'counted' FROM ({recount} EXCEPT {kept}) LIMIT 5"):
        said = "kept, not the table's count" if side == "kept" else "in the table, not kept"
        report.problems.append(f"facet_counts {table}.{column} = {value!r}: {count} {said}")


def _tree_nodes(archive: _Archive, report: VerifyReport) -> None:
    """The node cache that the public face's inclusion and consistency proofs are read from holds only
    the subtree hashes the chain gives: one forged node makes every proof through it fail for the reader
    who checks it, and nothing else would say why. Missing nodes are fine (the cache fills over time)."""
    if "tree_nodes" not in archive.tables:  # an archive older than checkpoints
        return
    # the leaves as far as the cache reaches (none: nothing to read), and no further than the chain
    reach = archive.conn.execute("SELECT coalesce(max((idx + 1) << level), 0) FROM tree_nodes").fetchone()[0]
    try:
        nodes = chain_subtrees(archive.conn, min(reach, chain_size(archive.conn)))
    except ValueError:  # a gap in the chain, which the chain's own check names
        return
    wrong = [(level, index) for level, index, digest in archive.conn.execute(
        "SELECT level, idx, hash FROM tree_nodes ORDER BY level, idx") if nodes.get((level, index)) != bytes(digest)]
    for level, index in wrong[:5]:
        report.problems.append(f"tree_nodes level {level} index {index}: not the hash of chain entries "
                               f"{(index << level) + 1}..{(index + 1) << level}, so the proofs read through it fail")


# the checks of current views, in the order their problems are named
_VIEWS: tuple[Callable[[_Archive, VerifyReport], None], ...] = (
    _schema, _coverage, _publication, _posts, _post_seen, _sources, _runs, _posts_fts, _versions_fts, _facet_counts,
    _tree_nodes)
# the views whose rebuilding takes longest, given to the workers when the file is at rest
_HEAVY_VIEWS = (_posts_fts, _versions_fts, _posts)
