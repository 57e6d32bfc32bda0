"""Fixity check: recompute every payload digest, every version's content digest and the whole hash
chain, and find rows that the chain does not cover. Streams; memory does not grow with the archive."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from archiver.archive import CHAINED, Archive
from archiver.canonical import GENESIS, RowDigester, content_digest, entry_digest, sha256_hex
from archiver.database import connect
from archiver.payloads import decode_payload


@dataclass
class VerifyReport:
    payloads: int = 0
    versions: int = 0
    chain_entries: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    withheld: dict[str, int] = field(default_factory=dict)  # declared omissions of a published copy, per table
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        rows = ", ".join(f"{n} {t}" for t, n in self.rows.items())
        withheld = ", ".join(f"{n} {t}" for t, n in sorted(self.withheld.items()))
        return (f"checked {self.payloads} payload digests, {self.versions} version digests, "
                f"{self.chain_entries} chain entries ({rows}); chain head {self.head}"
                + (f"; withheld from this copy: {withheld}" if withheld else ""))


def verify(path: str | Path, *, max_problems: int = 20) -> VerifyReport:
    conn = connect(path, readonly=True)
    try:
        conn.execute("BEGIN")  # one snapshot: on a live archive, the state at the start is what is checked
        report = VerifyReport()
        # a file older than schema version 4 (a backup, verified without being upgraded) has no such table
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'withheld'").fetchone():
            report.withheld = dict(conn.execute("SELECT table_name, count(*) FROM withheld GROUP BY table_name"))
        for check in (_payloads, _versions, _chain, _coverage):
            check(conn, report)
            if len(report.problems) >= max_problems:
                break
        return report
    finally:
        conn.close()


def record(archive: Archive, report: VerifyReport) -> None:
    """Keep the check as a run: its outcome, the first problem, and the chain head it reached (a
    head noted over time lets anyone holding an older one see that the history was not rewritten)."""
    archive.record_run("verify", "ok" if report.ok else "failed",
                       error=report.problems[0] if report.problems else None,
                       details={"summary": report.summary(), "head": report.head, "problems": report.problems})


def _withheld(conn: sqlite3.Connection, report: VerifyReport, table: str, key: object) -> bool:
    """Whether a missing row is one a published copy declares it left out."""
    return bool(report.withheld) and conn.execute("SELECT 1 FROM withheld WHERE table_name = ? AND row_key = ?",
                                                  (table, str(key))).fetchone() is not None


def _payloads(conn: sqlite3.Connection, report: VerifyReport) -> None:
    for sha, size, compression, data in conn.execute(
            "SELECT sha256, size, compression, data FROM payloads ORDER BY sha256"):
        report.payloads += 1
        try:
            body = decode_payload(compression, data)
        except Exception as exc:
            report.problems.append(f"payload {sha}: cannot be decoded ({exc})")
            continue
        if sha256_hex(body) != sha:
            report.problems.append(f"payload {sha}: content digest is {sha256_hex(body)}")
        elif len(body) != size:
            report.problems.append(f"payload {sha}: size {len(body)} but {size} recorded")
    for capture_id, sha in conn.execute(
            "SELECT c.id, c.payload_sha256 FROM captures c LEFT JOIN payloads p ON p.sha256 = c.payload_sha256 "
            "WHERE c.payload_sha256 IS NOT NULL AND p.sha256 IS NULL ORDER BY c.id"):
        if not _withheld(conn, report, "payloads", sha):
            report.problems.append(f"captures row {capture_id}: payload {sha} is missing")


def _versions(conn: sqlite3.Connection, report: VerifyReport) -> None:
    for version_id, rule, title, text, extra, digest in conn.execute(
            "SELECT id, canonical_rule, title, text, extra, content_sha256 FROM versions ORDER BY id"):
        report.versions += 1
        actual = content_digest(title, text, json.loads(extra) if extra else None, rule)
        if actual != digest:
            report.problems.append(f"versions row {version_id}: content digest {actual} but {digest} recorded")


def _chain(conn: sqlite3.Connection, report: VerifyReport) -> None:
    digesters = {table: RowDigester(table, columns) for table, columns in CHAINED.items()}
    expected_seq, prev = 1, GENESIS
    for seq, table, row_id, row_sha, prev_sha, entry_sha in conn.execute(
            "SELECT seq, table_name, row_id, row_sha256, prev_sha256, entry_sha256 FROM chain ORDER BY seq"):
        report.chain_entries += 1
        where = f"chain entry {seq} ({table} row {row_id})"
        if seq != expected_seq:
            report.problems.append(f"chain entry {expected_seq} is missing (next is {seq})")
            return
        if prev_sha != prev:
            report.problems.append(f"{where}: previous digest does not match entry {seq - 1}")
            return
        if entry_digest(prev_sha, table, row_id, row_sha) != entry_sha:
            report.problems.append(f"{where}: entry digest does not match its contents")
            return
        columns = CHAINED.get(table)
        if columns is None:
            report.problems.append(f"{where}: unknown table")
            return
        row = conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id = ?", (row_id,)).fetchone()
        if row is None:
            if not _withheld(conn, report, table, row_id):
                report.problems.append(f"{where}: the row is missing")
        elif digesters[table](tuple(row)) != row_sha:
            report.problems.append(f"{table} row {row_id}: contents differ from what the chain recorded")
        expected_seq, prev = seq + 1, entry_sha
    report.head = prev


def _coverage(conn: sqlite3.Connection, report: VerifyReport) -> None:
    present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in CHAINED:
        if table not in present:  # a backup older than the schema that added it, checked as it is
            continue
        report.rows[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for (row_id,) in conn.execute(
                f"SELECT t.id FROM {table} t LEFT JOIN chain c ON c.table_name = ? AND c.row_id = t.id "
                "WHERE c.seq IS NULL ORDER BY t.id LIMIT 5", (table,)):
            report.problems.append(f"{table} row {row_id}: not in the chain")
