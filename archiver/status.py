"""What `archiver status` reports, as data: the archive's totals, its last fixity check, the public
face's supervision, whether the service is running, and each source's recent runs; and the health
check behind `archiver status --check`. The CLI only formats this."""

from __future__ import annotations

import dataclasses
import datetime as dt
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver import heartbeat
from archiver.database import connect
from archiver.models import parse_time
from archiver.schedule import ScheduleError, parse_schedule

TOTALS = ("sources", "runs", "captures", "payloads", "posts", "versions", "events")

# A source is unhealthy when it has not succeeded for this many of its intervals (`status --check`).
STALE_INTERVALS = 3

# `failed_runs` counts every run that did not do its work: failed, partial and crashed
_SOURCE_STATUS_SQL = """
SELECT s.id, s.kind, s.enabled, s.schedule, s.synced_at,
  (SELECT min(started_at) FROM runs r WHERE r.source_id = s.id AND r.kind = 'fetch') AS first_run,
  (SELECT max(started_at) FROM runs r
     WHERE r.source_id = s.id AND r.outcome IN ('ok', 'not_modified')) AS last_ok,
  (SELECT max(started_at) FROM runs r
     WHERE r.source_id = s.id AND r.outcome IN ('failed', 'partial', 'crashed')) AS last_failure,
  (SELECT outcome || char(31) || coalesce(error, '') FROM runs r
     WHERE r.source_id = s.id AND r.outcome IN ('failed', 'partial', 'crashed')
     ORDER BY started_at DESC LIMIT 1) AS last_error,
  (SELECT value FROM source_state t WHERE t.source_id = s.id AND t.key = 'next_run') AS next_run,
  (SELECT count(*) FROM runs r WHERE r.source_id = s.id AND r.kind = 'fetch') AS runs,
  (SELECT count(*) FROM runs r
     WHERE r.source_id = s.id AND r.outcome IN ('failed', 'partial', 'crashed')) AS failed_runs,
  (SELECT count(*) FROM runs r WHERE r.source_id = s.id AND r.outcome = 'partial') AS partial_runs,
  (SELECT count(*) FROM runs r WHERE r.source_id = s.id AND r.outcome = 'crashed') AS crashed_runs,
  (SELECT count(*) FROM runs r WHERE r.source_id = s.id AND r.outcome = 'missed') AS missed_runs,
  (SELECT count(*) FROM posts p WHERE p.source_id = s.id) AS posts
FROM sources s ORDER BY s.id
"""


_CONFLICTS_SQL = """
SELECT c.id, c.platform, c.native_id, c.post_id, c.owner, c.other_post_id, c.other_owner, c.source_id, c.at,
  (SELECT source_id FROM posts p WHERE p.id = c.post_id) AS held_by
FROM identity_conflicts c ORDER BY c.id DESC
"""


@dataclass
class ArchiveStatus:
    archive: str
    totals: dict[str, int]
    fixity: dict[str, Any] | None  # the last verify run: at, outcome, error, head
    crashed: int  # runs closed as `crashed` (left open by a killed process)
    server: dict[str, Any] | None  # the last recorded event of the supervised Datasette child
    sources: list[dict[str, Any]]
    service: heartbeat.ServiceState | None = None  # the service's heartbeat file; None if it never ran here
    running: bool = False
    # posts a source showed under an identity another source owns, archived apart (newest first)
    conflicts: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    checkpoint: dict[str, Any] | None = None  # the last checkpoint run: at, outcome, error, tree_size, file

    def as_dict(self) -> dict[str, Any]:
        return {"archive": self.archive, "totals": self.totals, "fixity": self.fixity, "crashed": self.crashed,
                "server": self.server, "running": self.running,
                "service": dataclasses.asdict(self.service) if self.service else None, "sources": self.sources,
                "identity_conflicts": self.conflicts, "checkpoint": self.checkpoint}

    def problems(self, intervals: int = STALE_INTERVALS, now: dt.datetime | None = None) -> list[str]:
        """What `status --check` fails on, one line each: a service that died without stopping (killed,
        crashed, hung), a failed last fixity check, and an enabled source without a successful run (ok or
        not_modified) for `intervals` of its intervals. A service stopped on purpose is no problem."""
        now = now or dt.datetime.now(dt.UTC)
        found = []
        if self.service is not None and self.service.stopped_at is None and not self.service.running(now):
            found.append(f"service {self.service.describe(now)}")
        if self.fixity is not None and self.fixity["outcome"] != "ok":
            found.append(f"fixity check failed at {self.fixity['at']}: {self.fixity['error']}")
        for source in self.sources:
            if not source["enabled"]:
                continue
            try:
                interval = parse_schedule(source["schedule"] or "").nominal_interval()
            except ScheduleError:
                continue  # the configuration check reports it
            since = source["last_ok"] or source["first_run"] or source["synced_at"]
            if since is None:
                continue
            waited = (now - parse_time(since)).total_seconds()
            if waited > intervals * interval:
                what = f"no successful run since {since}" if source["last_ok"] else f"never succeeded (since {since})"
                failing = (source["last_failure"] or "") > (source["last_ok"] or "")  # the cause, if any, is known
                found.append(f"source {source['id']}: {what}, more than {intervals} x {source['schedule']}"
                             + (f"; last {source['last_outcome']}: {source['last_error'] or 'no reason recorded'}"
                                if failing else ""))
        return found


def archive_status(db_path: str | Path) -> ArchiveStatus:
    """Read the status of the archive at `db_path` on a read-only connection."""
    conn = connect(db_path, readonly=True)
    try:
        totals = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TOTALS}
        sources = [dict(row) for row in conn.execute(_SOURCE_STATUS_SQL)]
        found = conn.execute("SELECT started_at, outcome, error, json_extract(details, '$.head') FROM runs "
                             "WHERE kind = 'verify' ORDER BY id DESC LIMIT 1").fetchone()
        signed = conn.execute("SELECT started_at, outcome, error, json_extract(details, '$.tree_size'), "
                              "json_extract(details, '$.file') FROM runs WHERE kind = 'checkpoint' "
                              "ORDER BY id DESC LIMIT 1").fetchone()
        crashed = conn.execute("SELECT count(*) FROM runs WHERE outcome = 'crashed'").fetchone()[0]
        served = conn.execute("SELECT started_at, outcome, error, (SELECT count(*) FROM runs WHERE kind = 'serve' "
                              "AND outcome = 'failed') FROM runs WHERE kind = 'serve' ORDER BY id DESC LIMIT 1"
                              ).fetchone()
        conflicts = [dict(row) for row in conn.execute(_CONFLICTS_SQL)] if conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'identity_conflicts'").fetchone() else []
    finally:
        conn.close()
    fixity = dict(zip(("at", "outcome", "error", "head"), found, strict=True)) if found else None
    server = dict(zip(("at", "outcome", "error", "deaths"), served, strict=True)) if served else None
    for source in sources:
        outcome, _, error = (source.pop("last_error") or "").partition("\x1f")
        source["last_outcome"], source["last_error"] = outcome or None, error or None
    service = heartbeat.read(db_path)
    checkpoint = dict(zip(("at", "outcome", "error", "tree_size", "file"), signed, strict=True)) if signed else None
    return ArchiveStatus(str(db_path), totals, fixity, crashed, server, sources, service,
                         service is not None and service.running(), conflicts, checkpoint)


WIDTH = 100  # the compact layout fits a terminal this wide (--wide does not wrap)


def render(found: ArchiveStatus, *, wide: bool = False) -> list[str]:
    """The lines of `archiver status`: compact (at most WIDTH columns, each current failure's reason
    wrapped in full under its source) or wide (every column, reasons inline)."""
    fill = (lambda text, indent="": [text]) if wide else (
        lambda text, indent="": textwrap.wrap(text, WIDTH, subsequent_indent=indent or "  ", break_long_words=True,
                                              break_on_hyphens=False) or [""])
    lines = fill(f"archive {found.archive}: " + ", ".join(f"{n} {t}" for t, n in found.totals.items()))
    if found.service is None:
        lines += fill("service: no heartbeat here (`archiver run` has not run on this archive); next runs unknown")
    else:
        lines += fill(f"service: {found.service.describe()}"
                      + ("" if found.running else "; next runs are not shown while it is not running"))
    fixity = found.fixity
    if fixity is None:
        lines.append("last fixity check: never (run `archiver verify`)")
    elif fixity["outcome"] == "ok":
        lines.append(f"last fixity check: ok at {_minute(fixity['at'])}" + (", " if wide else "\n  ")
                     + f"chain head {fixity['head']}")
    else:
        lines += fill(f"last fixity check: FAILED at {_minute(fixity['at'])}: {fixity['error']}")
    signed = found.checkpoint
    if signed is None:
        lines.append("last checkpoint: never (run `archiver checkpoint`)")
    else:
        lines += fill(f"last checkpoint: {signed['outcome']} at {_minute(signed['at'])}"
                      + (f", tree size {signed['tree_size']} in {signed['file']}" if signed["tree_size"] else "")
                      + (f": {signed['error']}" if signed["error"] else ""))
    if found.crashed:
        lines.append(f"crashed runs: {found.crashed} (left open by a killed process, closed at the next start)")
    if found.conflicts:
        latest = found.conflicts[0]
        lines += fill(f"identity conflicts: {len(found.conflicts)} (latest: {latest['source_id'] or 'an import'} "
                      f"showed {latest['platform']} {latest['native_id']!r}, held by "
                      f"{latest['held_by'] or 'another source'}; archived apart as post {latest['other_post_id']})")
    if found.server is not None and found.server["deaths"]:
        lines += fill(f"public face: Datasette died {found.server['deaths']} time(s); last at "
                      f"{_minute(found.server['at'])}: {found.server['error']}")
    if not found.sources:
        return lines
    table: list[tuple[str, ...]]
    if wide:
        table = [("source", "kind", "last ok", "last failure", "next run", "runs", "failed", "partial", "crashed",
                  "missed", "posts", "reason")]
    else:
        table = [("source", "last ok", "last failure", "next run", "runs", "failed", "missed")]
    reasons: dict[int, str] = {}
    for s in found.sources:
        name = s["id"] + ("" if s["enabled"] else " (off)")
        next_run = _minute(s["next_run"]) if found.running and s["enabled"] else "-"
        failing = (s["last_failure"] or "") > (s["last_ok"] or "")
        reason = f"{s['last_outcome']}: {s['last_error'] or 'no reason recorded'}" if failing else ""
        if wide:
            table.append((name, s["kind"], _minute(s["last_ok"]), _minute(s["last_failure"]), next_run,
                          str(s["runs"]), str(s["failed_runs"] - s["partial_runs"] - s["crashed_runs"]),
                          str(s["partial_runs"]), str(s["crashed_runs"]), str(s["missed_runs"]), str(s["posts"]),
                          reason or "-"))
        else:
            if reason:
                reasons[len(table)] = reason
            table.append((name, _minute(s["last_ok"]), _minute(s["last_failure"]), next_run, str(s["runs"]),
                          str(s["failed_runs"]), str(s["missed_runs"])))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    numeric = {i for i, title in enumerate(table[0]) if title in ("runs", "failed", "partial", "crashed", "missed",
                                                                   "posts")}
    for index, row in enumerate(table):
        lines.append("  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
        if index in reasons:
            lines += textwrap.wrap(reasons[index], WIDTH, initial_indent="    ", subsequent_indent="    ",
                                   break_long_words=True, break_on_hyphens=False)
    return lines


def _minute(timestamp: str | None) -> str:
    return timestamp[:16].replace("T", " ") if timestamp else "-"
