"""Test support for the social platforms: a loopback server routed by path (query strings read by
the route), one poll of a source through the real fetch layer, and exchanges for parser tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from archiver.archive import Archive
from archiver.config import Settings
from archiver.fetch import Fetcher
from archiver.jobs import RunReport, run_source, submit_now
from archiver.models import Exchange, Source
from archiver.view import ArchiveView
from tests.loopback import Reply


class PathRoutes(dict):
    """`routes["/api/x"] = handler(query) -> Reply`: the loopback server looks a request up by its
    full path; this matches the path alone and hands the route the parsed query."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        parts = urlsplit(key)
        route = super().get(parts.path)
        if route is None:
            return default
        if isinstance(route, Reply):
            return route
        query = {name: values if len(values) > 1 else values[0]
                 for name, values in parse_qs(parts.query).items()}
        return lambda handler: route(query, handler)


Handler = Callable[[dict[str, Any], BaseHTTPRequestHandler], Reply]


def poll(db_path: Path, source: Source, **settings: Any) -> RunReport:
    """One run of `source` through the real Fetcher against loopback servers."""
    fetcher = Fetcher(Settings(allow_private=True, host_delay=0, respect_robots=False, retries=0, **settings))
    with Archive(db_path, create=True) as archive:
        view = ArchiveView(db_path)
        try:
            return run_source(source, fetcher, submit_now(archive), view)
        finally:
            view.close()
            fetcher.close()


def rows(db_path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def exchange(url: str, body: bytes | str | None, status: int = 200,
             headers: list[tuple[str, str]] | None = None, final_url: str | None = None) -> Exchange:
    data = body.encode() if isinstance(body, str) else body
    return Exchange(requested_url=url, method="GET", started_at="2026-11-28T12:00:00.000000Z", status=status,
                    body=data, final_url=final_url or url, response_headers=headers or [])


def events(db_path: Path, native_id: str) -> list[str]:
    return [kind for (kind,) in rows(db_path, "SELECT e.type FROM events e JOIN posts p ON p.id = e.post_id "
                                              "WHERE p.native_id = ? ORDER BY e.id", native_id)]
