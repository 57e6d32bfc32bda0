"""Read-only knowledge of the archive that planning and parsing need: per-source state (cursors),
stored validators for conditional GET, and what is already known about posts. Reads only."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver.database import connect
from archiver.models import Exchange, Observation
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


class RunView:
    """The archive as one run's parsers must see it while the run's records are still queued to the
    writer: a read that an earlier record of this run may change (the state a page left for the next,
    a post an item page stored, a URL captured) first waits for those records' commits; any other read
    goes straight to the shared view. Used by the run's own thread only."""

    def __init__(self, view: ArchiveView, source_id: str) -> None:
        self._view = view
        self._source_id = source_id
        self._pending: list[tuple[Future[Any], _Touches]] = []

    def queued(self, future: Future[Any], exchange: Exchange, observation: Observation | None) -> None:
        """Note a record queued for this run and what it writes that a read could ask for."""
        self._pending.append((future, _Touches.of(exchange, observation, self._source_id)))

    def _wait(self, needs: Callable[[_Touches], bool]) -> None:
        self._pending = [(future, touches) for future, touches in self._pending if not future.done()]
        waiting = [future for future, touches in self._pending if needs(touches)]
        if waiting:
            wait(waiting)

    def state(self, source_id: str, key: str) -> str | None:
        self._wait(lambda t: (source_id, key) in t.state)
        return self._view.state(source_id, key)

    def validators(self, url: str) -> Validators | None:
        self._wait(lambda t: url in t.urls)
        return self._view.validators(url)

    def post(self, platform: str, native_id: str) -> KnownPost | None:
        # a post held under a qualified identity ("id [owner]") is written by a sighting of "id"
        keys = {(platform, native_id), (platform, native_id.partition(" [")[0])}
        self._wait(lambda t: not keys.isdisjoint(t.posts))
        return self._view.post(platform, native_id)

    def posts_of_source(self, source_id: str, statuses: tuple[str, ...] = ("live",)) -> list[KnownPost]:
        self._wait(lambda t: source_id in t.sources)
        return self._view.posts_of_source(source_id, statuses)


@dataclass(frozen=True)
class _Touches:
    """What one queued record writes that `ArchiveMemory` reads: (source, key) of state, (platform,
    native id) of posts seen or gone, sources whose posts change, requested URLs of its captures."""
    state: frozenset[tuple[str, str]]
    posts: frozenset[tuple[str, str]]
    sources: frozenset[str]
    urls: frozenset[str]

    @classmethod
    def of(cls, exchange: Exchange, observation: Observation | None, source_id: str) -> _Touches:
        urls = frozenset(e.requested_url for e in (exchange, *exchange.related))
        if observation is None:
            return cls(frozenset(), frozenset(), frozenset(), urls)
        posts = frozenset((p.platform, p.native_id) for p in (*observation.posts, *observation.gone))
        return cls(frozenset((source_id, key) for key in observation.state), posts,
                   frozenset({source_id}) if posts else frozenset(), urls)
