"""What `archiver status` reports, as data: the archive's totals, its last fixity check, the public
face's supervision, and each source's recent runs. The CLI only formats this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver.database import connect

TOTALS = ("sources", "runs", "captures", "payloads", "posts", "versions", "events")

# `failed_runs` counts every run that did not do its work: failed, partial and crashed
_SOURCE_STATUS_SQL = """
SELECT s.id, s.kind, s.enabled,
  (SELECT max(started_at) FROM runs r
     WHERE r.source_id = s.id AND r.outcome IN ('ok', 'not_modified')) AS last_ok,
  (SELECT max(started_at) FROM runs r
     WHERE r.source_id = s.id AND r.outcome IN ('failed', 'partial', 'crashed')) AS last_failure,
  (SELECT error FROM runs r WHERE r.source_id = s.id AND r.outcome IN ('failed', 'partial', 'crashed')
     ORDER BY started_at DESC LIMIT 1) AS last_error,
  (SELECT value FROM source_state t WHERE t.source_id = s.id AND t.key = 'next_run') AS next_run,
  (SELECT count(*) FROM runs r WHERE r.source_id = s.id AND r.kind = 'fetch') AS runs,
  (SELECT count(*) FROM runs r
     WHERE r.source_id = s.id AND r.outcome IN ('failed', 'partial', 'crashed')) AS failed_runs,
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
    conflicts: list[dict[str, Any]]  # identity conflicts, latest first

    def as_dict(self) -> dict[str, Any]:
        return {"archive": self.archive, "totals": self.totals, "fixity": self.fixity, "crashed": self.crashed,
                "server": self.server, "sources": self.sources, "identity_conflicts": self.conflicts}


def archive_status(db_path: str | Path) -> ArchiveStatus:
    """Read the status of the archive at `db_path` on a read-only connection."""
    conn = connect(db_path, readonly=True)
    try:
        totals = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TOTALS}
        sources = [dict(row) for row in conn.execute(_SOURCE_STATUS_SQL)]
        found = conn.execute("SELECT started_at, outcome, error, json_extract(details, '$.head') FROM runs "
                             "WHERE kind = 'verify' ORDER BY id DESC LIMIT 1").fetchone()
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
    return ArchiveStatus(str(db_path), totals, fixity, crashed, server, sources, conflicts)
