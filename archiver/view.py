"""Read-only knowledge of the archive that planning and parsing need: per-source state (cursors),
stored validators for conditional GET, and what is already known about posts. Reads only."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from archiver.database import connect
from archiver.platforms.memory import KnownPost, Validators


class ArchiveView:
    """The archive file as `ArchiveMemory` for parsers and planning: one read connection, safe to share
    between threads for reads (SQLite serialises them)."""

    def __init__(self, path: str | Path) -> None:
        self.conn: sqlite3.Connection = connect(path, readonly=True)

    def close(self) -> None:
        self.conn.close()

    def state(self, source_id: str, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM source_state WHERE source_id = ? AND key = ?",
                                (source_id, key)).fetchone()
        return row[0] if row else None

    def validators(self, url: str) -> Validators | None:
        """ETag / Last-Modified of the newest successful capture of `url` that has a payload."""
        row = self.conn.execute(
            "SELECT id, response_headers FROM captures WHERE requested_url = ? AND status = 200 "
            "AND payload_sha256 IS NOT NULL ORDER BY id DESC LIMIT 1", (url,)).fetchone()
        if row is None:
            return None
        headers = {name.lower(): value for name, value in json.loads(row[1] or "[]")}
        if "etag" not in headers and "last-modified" not in headers:
            return None
        return Validators(row[0], headers.get("etag"), headers.get("last-modified"))

    def post(self, platform: str, native_id: str) -> KnownPost | None:
        row = self.conn.execute(
            "SELECT p.platform, p.native_id, p.url, p.status, v.content_sha256, s.last_seen_at, "
            "p.published_at, p.published_raw, p.published_where "
            "FROM posts p LEFT JOIN versions v ON v.id = p.current_version "
            "LEFT JOIN post_seen s ON s.post_id = p.id "
            "WHERE p.platform = ? AND p.native_id = ?", (platform, native_id)).fetchone()
        return KnownPost(*row) if row else None

    def posts_of_source(self, source_id: str, statuses: tuple[str, ...] = ("live",)) -> list[KnownPost]:
        marks = ", ".join("?" * len(statuses))
        rows = self.conn.execute(
            "SELECT p.platform, p.native_id, p.url, p.status, v.content_sha256, s.last_seen_at, "
            "p.published_at, p.published_raw, p.published_where "
            "FROM posts p LEFT JOIN versions v ON v.id = p.current_version "
            "LEFT JOIN post_seen s ON s.post_id = p.id "
            f"WHERE p.source_id = ? AND p.status IN ({marks}) ORDER BY p.id", (source_id, *statuses))
        return [KnownPost(*row) for row in rows]
