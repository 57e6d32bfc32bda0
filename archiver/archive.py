"""The archive writer: the only code that writes evidence. One call records one exchange and what it
shows (posts seen, posts gone) in one transaction, and appends a chain entry for every row it adds.

`Archive` is used from one thread; `WriterThread` lets many fetch threads share one Archive by
queueing work to the thread that owns the connection and batching it into few transactions."""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver import __version__
from archiver.canonical import CANONICAL_RULE, GENESIS, RowDigester, canonical_text, content_digest, entry_digest
from archiver.database import checkpoint, connect, latest_version, migrated_schema
from archiver.models import Exchange, Gone, Observation, PostDraft, RecordResult, VersionDraft, utcnow
from archiver.sites import site_of

CAPTURE_COLUMNS = (
    "id", "run_id", "source_id", "kind", "method", "requested_url", "final_url", "redirects",
    "http_version", "status", "request_headers", "response_headers", "started_at", "ended_at",
    "server_ip", "user_agent", "archiver_version", "transferred_sha256", "transferred_size",
    "payload_sha256", "size", "content_type", "charset", "robots", "revisit_of", "error", "details",
)
VERSION_COLUMNS = (
    "id", "post_id", "number", "canonical_rule", "title", "text", "extra", "content_sha256", "raw",
    "capture_id", "observed_at", "claimed_at", "extractor", "extractor_version", "facts",
)
EVENT_COLUMNS = ("id", "post_id", "type", "at", "capture_id", "version_id", "details")
SOURCE_VERSION_COLUMNS = ("id", "source_id", "kind", "locator", "name", "organisation", "role", "country",
                          "schedule", "options", "enabled", "publish", "at")
RUN_OUTCOME_COLUMNS = ("id", "run_id", "source_id", "kind", "scheduled_at", "started_at", "ended_at", "outcome",
                       "error", "n_captures", "n_new", "n_edited", "n_deleted", "details")
CHAINED = {
    "captures": CAPTURE_COLUMNS, "versions": VERSION_COLUMNS, "events": EVENT_COLUMNS,
    # schema 5: the rows behind `sources`, `runs`, `post_seen`, identity conflicts and published copies
    "source_versions": SOURCE_VERSION_COLUMNS, "run_outcomes": RUN_OUTCOME_COLUMNS,
    "sightings": ("id", "capture_id", "at", "post_ids"),
    "identity_conflicts": ("id", "platform", "native_id", "post_id", "owner", "other_post_id", "other_owner",
                           "source_id", "capture_id", "at"),
    "publications": ("id", "at", "head_seq", "head_sha256", "options", "withheld_count", "withheld_sha256",
                     "reasons"),
    # the transparency log's records (archiver/checkpoint.py appends them)
    "checkpoint_keys": ("id", "key_name", "key_id", "public_key", "created_at"),
    "checkpoints": ("id", "tree_size", "root_hash", "note", "created_at"),
    "checkpoint_timestamps": ("id", "checkpoint_id", "tsa_url", "response", "gen_time", "created_at"),
}
# columns added to a chained table after its first schema: digested only when not NULL, so that rows
# written before they existed keep their digest
ADDED_COLUMNS = frozenset({"facts"})
# per table: its columns (id first), the INSERT of a row with its id, and its chain digester
_APPEND = {table: (columns, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                   RowDigester(table, columns, ADDED_COLUMNS))
           for table, columns in CHAINED.items()}
_CHAIN_INSERT = ("INSERT INTO chain (seq, table_name, row_id, row_sha256, prev_sha256, entry_sha256) "
                 "VALUES (?, ?, ?, ?, ?, ?)")
# rows of a page that are written together, in this order (each refers only to rows of the ones before)
_WRITES = {"posts": None, "versions": _APPEND["versions"][1], "events": _APPEND["events"][1],
           "identity_conflicts": _APPEND["identity_conflicts"][1], "sightings": _APPEND["sightings"][1],
           "post_counts": "UPDATE posts SET version_count = ?, current_version = ? WHERE id = ?",
           "chain": _CHAIN_INSERT}
# the source definition as `sources` holds it and `source_versions` chains it
SOURCE_FIELDS = SOURCE_VERSION_COLUMNS[2:-1]
RUN_FIELDS = RUN_OUTCOME_COLUMNS[2:]
# platforms whose posts belong to an account (the identity owner); every other kind belongs to an origin
ACCOUNT_PLATFORMS = frozenset({"bluesky", "mastodon", "telegram", "x", "youtube"})
# platforms whose account ids are only unique on one server
_SERVER_ACCOUNTS = frozenset({"mastodon"})

# a post's publication as its facts give it: of its earliest-dated version once a version was found
# after a later one (an edit read before the tweet it edits), else of its current version (verify's rule)
PUBLICATION_FACTS = ("published_at", "published_raw", "published_where")
_VIEW_COLUMNS = ("url, author_id, author_handle, author_name, kind, published_at, published_raw, published_where, "
                 "status, title, text, language, reply_to, quote_of, repost_of, media, tags, publish")
_VIEW_NAMES = tuple(_VIEW_COLUMNS.split(", "))
_VIEW_COUNT = len(_VIEW_NAMES)
_POST_WRITE = (f"INSERT INTO posts (id, platform, native_id, source_id, first_seen_at, owner, {_VIEW_COLUMNS}) "
               f"VALUES (?, ?, ?, ?, ?, ?, {', '.join('?' * _VIEW_COUNT)})")
# the columns the search indexes hold (posts_fts: of `posts`, versions_fts: of `versions`), as the
# migrations declare them; the writer fills both, not triggers
_SEARCH = migrated_schema(latest_version()).search
_FTS_COLUMNS = _SEARCH["posts_fts"].columns
_VERSION_FTS_COLUMNS = _SEARCH["versions_fts"].columns
_FTS_SET_ORDER = tuple(_FTS_COLUMNS.split(", "))
_FTS_SET = frozenset(_FTS_SET_ORDER)
# the post-level facts each version is chained with (versions.facts, a JSON object with these keys)
POST_FACTS = ("platform", "native_id", "source_id", "owner", "url", "author_id", "author_handle", "author_name",
              "kind", "published_at", "published_raw", "published_where", "language", "reply_to", "quote_of",
              "repost_of", "media", "tags", "publish")
# what deciding about a sighting needs: the post's state, owner and its current version's content
_CURRENT = ("SELECT p.native_id, p.id, p.status, p.version_count, v.content_sha256, p.owner, p.source_id, "
            "v.extractor, v.extractor_version, v.title, v.text, v.extra "
            "FROM posts p LEFT JOIN versions v ON v.id = p.current_version")
_LOOKUP_CHUNK = 500
_LOOK_UP = object()  # a post whose prefetched state was used already: look it up again


# compact JSON as json.dumps(ensure_ascii=False, separators=(",", ":")) writes it, with one encoder built
# once (json.dumps builds a new one on every call with arguments: a cost per row of every import)
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json(value: Any) -> str | None:
    if value is None or value == [] or value == {}:
        return None
    return _compact_json(value)


def origin(url: str | None) -> str | None:
    """scheme://host[:port] of a URL (RFC 6454's origin), None when it has none."""
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return None
    return f"{parts.scheme.lower()}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def owner_of(post: PostDraft, where: str | None) -> str | None:
    """Who a post belongs to, as far as the exchange it came from can show: the account for social
    kinds and imports (its platform authenticates it), else the origin the document was served from
    (`where`, the capture's origin) -- never something the document itself claims."""
    if post.platform in ACCOUNT_PLATFORMS:
        if post.author_id is None:
            return None
        server = f"@{where}" if post.platform in _SERVER_ACCOUNTS and where else ""
        return f"account:{post.author_id}{server}"
    return f"origin:{where}" if where else None


def same_owner(held: str, owner: str) -> bool:
    """Whether two owners are one: the same, or two origins of one site (archiver.sites), so that a
    site moving to https or between `www.host` and `host` keeps its posts."""
    if held == owner:
        return True
    if not (held.startswith("origin:") and owner.startswith("origin:")):
        return False
    site = site_of(held.removeprefix("origin:"))
    return site is not None and site == site_of(owner.removeprefix("origin:"))


def _changed(before: tuple[Any, ...] | None, draft: VersionDraft) -> list[str]:
    """What of a version's content differs from the version current before it, as the content digest
    counts it: `title`, `text` (canonical, so white space alone is no change) and each key of `extra`
    (`extra.replies`)."""
    if before is None:
        return []
    title, text, extra = before
    changed = [name for name, old, new in (("title", title, draft.title), ("text", text, draft.text))
               if canonical_text(old) != canonical_text(new)]
    held = json.loads(extra) if extra else {}
    read = draft.extra or {}
    return changed + [f"extra.{key}" for key in sorted(set(held) | set(read)) if held.get(key) != read.get(key)]


def qualified(native_id: str, owner: str | None) -> str:
    """The separate identity given to an item whose identity another owner holds."""
    return f"{native_id} [{owner or 'unknown owner'}]"


class Archive:
    """A connection to one archive file that writes through the evidence rules."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path)
        self.conn = connect(self.path, create=create)
        self._head: tuple[int, str] | None = None  # (last seq, last entry digest) inside a transaction
        # inside a transaction: the first post and version id it may add (every row from there on is new,
        # whatever savepoints rolled back, and is indexed for search at COMMIT)
        self._new_from: tuple[int, int] | None = None
        self._ids: dict[str, int] = {}  # inside a transaction: the next id of each table it appended to
        self._rows: dict[str, list[Any]] | None = None  # while a page is observed: its rows, written at once
        # posts this transaction changed a searched column of, with the values they were indexed with (a
        # temporary table: it rolls back with the transaction and its savepoints)
        self.conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS reindexed (id INTEGER PRIMARY KEY, {_FTS_COLUMNS})")
        self._chain_unchained()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE at the outermost level, a savepoint inside one: nested calls compose,
        and a failure rolls back exactly its own rows (and the chain head with them)."""
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self._head = self._read_head()
            self._new_from = self.conn.execute(
                "SELECT (SELECT coalesce(max(id), 0) + 1 FROM posts), "
                "(SELECT coalesce(max(id), 0) + 1 FROM versions)").fetchone()
            self._ids = {}
            try:
                yield
                self._index_new_rows()
                # COMMIT can fail too (disk full, I/O error, a deferred constraint): then nothing of the
                # transaction is durable, and it is rolled back like any other failure
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            finally:
                self._head = self._new_from = None
            return
        saved_head, saved_ids = self._head, dict(self._ids)
        self.conn.execute("SAVEPOINT nested")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO nested")
            self.conn.execute("RELEASE nested")
            self._head, self._ids = saved_head, saved_ids
            raise
        self.conn.execute("RELEASE nested")

    def _index_new_rows(self) -> None:
        """Index what this transaction added and changed, set-based: FTS5 takes it as one batch (it
        writes what it holds at every savepoint, so rows indexed one by one cost a segment per page).
        A changed post leaves the index with the values it was indexed with and comes back with its new
        ones; a post added here is indexed with what it holds now."""
        assert self._new_from is not None
        posts_from, versions_from = self._new_from
        self.conn.execute(f"INSERT INTO posts_fts (posts_fts, rowid, {_FTS_COLUMNS}) "
                          f"SELECT 'delete', id, {_FTS_COLUMNS} FROM temp.reindexed")
        self.conn.execute(f"INSERT INTO posts_fts (rowid, {_FTS_COLUMNS}) SELECT id, {_FTS_COLUMNS} FROM posts "
                          f"WHERE id >= ? UNION ALL SELECT p.id, {', '.join(f'p.{c}' for c in _FTS_SET_ORDER)} "
                          "FROM temp.reindexed r JOIN posts p ON p.id = r.id", (posts_from,))
        self.conn.execute("DELETE FROM temp.reindexed")
        self.conn.execute(f"INSERT INTO versions_fts (rowid, {_VERSION_FTS_COLUMNS}) "
                          f"SELECT id, {_VERSION_FTS_COLUMNS} FROM versions "
                          "WHERE id >= ?", (versions_from,))

    def _reindex_post(self, post_id: int, columns: Iterable[str], update: Callable[[], Any]) -> None:
        """Run `update`, which changes `columns` of post `post_id`; an older post whose searched columns
        change is noted, with the values it was indexed with (the first ones, if changed twice), for
        re-indexing at COMMIT."""
        assert self._new_from is not None, "an update outside a transaction"
        if post_id < self._new_from[0] and not _FTS_SET.isdisjoint(columns):
            self.conn.execute(f"INSERT OR IGNORE INTO temp.reindexed (id, {_FTS_COLUMNS}) "
                              f"SELECT id, {_FTS_COLUMNS} FROM posts WHERE id = ?", (post_id,))
        update()

    def head(self) -> tuple[int, str]:
        """The chain's last (seq, entry digest) as this connection sees it (inside a transaction: its own)."""
        return self._head if self._head is not None else self._read_head()

    def _read_head(self) -> tuple[int, str]:
        row = self.conn.execute("SELECT seq, entry_sha256 FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def _next_id(self, table: str) -> int:
        """The id the next row of `table` gets (as SQLite would choose it: one more than the largest),
        known before the row is written, so that a page's rows can be written together."""
        row_id = self._ids.get(table)
        if row_id is None:
            row_id = self.conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]
        self._ids[table] = row_id + 1
        return int(row_id)

    def _append(self, table: str, values: dict[str, Any]) -> int:
        """Insert one row of an append-only table and its chain entry (while a page is observed: with
        the page's other rows)."""
        columns, insert, digester = _APPEND[table]
        row = [values.get(name) for name in columns]
        row[0] = row_id = self._next_id(table)
        assert self._head is not None, "append outside a transaction"
        seq, prev = self._head
        digest = digester(row)
        entry = entry_digest(prev, table, row_id, digest)
        self._head = (seq + 1, entry)
        if self._rows is not None:
            self._rows[table].append(row)
            self._rows["chain"].append((seq + 1, table, row_id, digest, prev, entry))
        else:
            self.conn.execute(insert, row)
            self.conn.execute(_CHAIN_INSERT, (seq + 1, table, row_id, digest, prev, entry))
        return row_id

    def _flush(self) -> None:
        """Write the rows of the page observed so far, one statement per table."""
        if self._rows is None:
            return
        for table, rows in self._rows.items():
            if rows:
                self.conn.executemany(_WRITES[table] or _POST_WRITE, rows)
                rows.clear()

    def record_publication(self, **record: Any) -> tuple[dict[str, Any], tuple[Any, ...]]:
        """Append a publication record (a published copy: `archiver snapshot`); returns the row as
        written and its chain entry (seq, table, row id, row digest, previous, entry digest), which the
        copy ends with."""
        values = {**record, "at": utcnow(), "options": _json(record["options"]) or "{}",
                  "reasons": _json(record["reasons"])}
        values["id"] = self._append("publications", values)
        entry = self.conn.execute("SELECT seq, table_name, row_id, row_sha256, prev_sha256, entry_sha256 FROM chain "
                                  "WHERE seq = ?", (self._head[0] if self._head else 0,)).fetchone()
        return values, tuple(entry)

    # -- sources and runs ---------------------------------------------------------------------

    def _chain_unchained(self) -> None:
        """Chain what an archive from before schema 5 holds unchained: each source's definition, and the
        outcome of each finished run (once: later ones are chained as they are written)."""
        legacy_sources = self.conn.execute(
            "SELECT id FROM sources s WHERE NOT EXISTS "
            "(SELECT 1 FROM source_versions v WHERE v.source_id = s.id) ORDER BY id").fetchall()
        legacy_runs = self.conn.execute("SELECT NOT EXISTS (SELECT 1 FROM run_outcomes) "
                                        "AND EXISTS (SELECT 1 FROM runs WHERE outcome IS NOT NULL)").fetchone()[0]
        if not legacy_sources and not legacy_runs:
            return
        with self.transaction():
            for (source_id,) in legacy_sources:
                self._chain_source(source_id, utcnow())
            if legacy_runs:
                for (run_id,) in self.conn.execute(
                        "SELECT id FROM runs WHERE outcome IS NOT NULL ORDER BY id").fetchall():
                    self._chain_run(run_id)

    def _chain_source(self, source_id: str, at: str) -> None:
        """Append the source's current definition, unless it is already the latest chained one."""
        row = self.conn.execute(f"SELECT {', '.join(SOURCE_FIELDS)} FROM sources WHERE id = ?",
                                (source_id,)).fetchone()
        latest = self.conn.execute(f"SELECT {', '.join(SOURCE_FIELDS)} FROM source_versions WHERE source_id = ? "
                                   "ORDER BY id DESC LIMIT 1", (source_id,)).fetchone()
        if latest is None or tuple(latest) != tuple(row):
            self._append("source_versions", {"source_id": source_id, **dict(zip(SOURCE_FIELDS, row, strict=True)),
                                             "at": at})

    def _chain_run(self, run_id: int) -> None:
        row = self.conn.execute(f"SELECT {', '.join(RUN_FIELDS)} FROM runs WHERE id = ?", (run_id,)).fetchone()
        self._append("run_outcomes", {"run_id": run_id, **dict(zip(RUN_FIELDS, row, strict=True))})

    def sync_sources(self, sources: list[dict[str, Any]]) -> None:
        """Make `sources` match the configuration (a current view, rebuilt by verify from the definitions
        chained in `source_versions`, one appended for each change; runs keep their history)."""
        now = utcnow()
        with self.transaction():
            configured = set()
            for source in sources:
                configured.add(source["id"])
                self.conn.execute(
                    "INSERT INTO sources (id, kind, locator, name, organisation, role, country, schedule, "
                    "options, enabled, publish, synced_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (id) DO UPDATE SET kind=excluded.kind, locator=excluded.locator, "
                    "name=excluded.name, organisation=excluded.organisation, role=excluded.role, "
                    "country=excluded.country, schedule=excluded.schedule, options=excluded.options, "
                    "enabled=excluded.enabled, publish=excluded.publish, synced_at=excluded.synced_at",
                    (source["id"], source["kind"], source["locator"], source.get("name"),
                     source.get("organisation"), source.get("role"), source.get("country"),
                     source.get("schedule"), _json(source.get("options")),
                     int(source.get("enabled", True)), int(source.get("publish", True)), now))
            for (source_id,) in self.conn.execute("SELECT id FROM sources ORDER BY id").fetchall():
                if source_id not in configured:
                    self.conn.execute("UPDATE sources SET enabled = 0, synced_at = ? WHERE id = ?",
                                      (now, source_id))
                self._chain_source(source_id, now)

    def start_run(self, kind: str, source_id: str | None = None, scheduled_at: str | None = None,
                  started_at: str | None = None) -> int:
        with self.transaction():
            cursor = self.conn.execute(
                "INSERT INTO runs (source_id, kind, scheduled_at, started_at) VALUES (?, ?, ?, ?)",
                (source_id, kind, scheduled_at, started_at or utcnow()))
        return int(cursor.lastrowid)

    def finish_run(self, run_id: int, outcome: str, error: str | None = None,
                   details: dict[str, Any] | None = None) -> None:
        with self.transaction():
            ended = self.conn.execute(
                "UPDATE runs SET ended_at = ?, outcome = ?, error = ?, details = ? "
                "WHERE id = ? AND outcome IS NULL",
                (utcnow(), outcome, error, _json(details), run_id)).rowcount
            if ended:
                self._chain_run(run_id)

    def close_crashed_runs(self) -> list[int]:
        """Runs still open (no outcome) are runs of a process that was killed: only one service writes
        at a time, so at its start they are closed as `crashed`. Returns their ids."""
        with self.transaction():
            ids = [row[0] for row in self.conn.execute("SELECT id FROM runs WHERE outcome IS NULL ORDER BY id")]
            for run_id in ids:  # each closed as any run ends: its outcome chained
                self.finish_run(run_id, "crashed", "the process running it was killed; closed at the next start")
        return ids

    def record_run(self, kind: str, outcome: str, *, source_id: str | None = None,
                   scheduled_at: str | None = None, error: str | None = None,
                   details: dict[str, Any] | None = None) -> int:
        """A run that has no work inside it (missed, skipped): started and ended at once."""
        now = utcnow()
        with self.transaction():
            cursor = self.conn.execute(
                "INSERT INTO runs (source_id, kind, scheduled_at, started_at, ended_at, outcome, error, "
                "details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (source_id, kind, scheduled_at, now, now, outcome, error, _json(details)))
            self._chain_run(int(cursor.lastrowid))
        return int(cursor.lastrowid)

    def set_state(self, source_id: str, state: dict[str, str]) -> None:
        with self.transaction():
            self._set_state(source_id, state)

    def _set_state(self, source_id: str, state: dict[str, str]) -> None:
        now = utcnow()
        for key, value in state.items():
            self.conn.execute(
                "INSERT INTO source_state (source_id, key, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source_id, key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at", (source_id, key, value, now))

    # -- exchanges and what they show ----------------------------------------------------------

    def record(self, exchange: Exchange, observation: Observation | None = None, *,
               run_id: int | None = None, source_id: str | None = None) -> RecordResult:
        """Record one exchange and the posts it shows, all or nothing."""
        with self.transaction():
            for earlier in exchange.related:
                self._record_capture(earlier, run_id, source_id)
            result = self._record_capture(exchange, run_id, source_id)
            if observation is not None:
                self._observe(result, observation, exchange.started_at, source_id,
                              origin(exchange.final_url or exchange.requested_url))
            self._count_run(run_id, result, captures=1 + len(exchange.related))
        return result

    def observe(self, capture_id: int, at: str, observation: Observation, *,
                run_id: int | None = None, source_id: str | None = None) -> RecordResult:
        """Record more posts shown by an already recorded capture (streaming imports use this to
        write a large file's posts in batches that all point at the one capture of the file)."""
        result = RecordResult(capture_id=capture_id)
        with self.transaction():
            url = self.conn.execute("SELECT coalesce(final_url, requested_url) FROM captures WHERE id = ?",
                                    (capture_id,)).fetchone()
            self._observe(result, observation, at, source_id, origin(url[0]) if url else None)
            self._count_run(run_id, result, captures=0)
        return result

    def _record_capture(self, exchange: Exchange, run_id: int | None, source_id: str | None) -> RecordResult:
        payload_sha256 = None
        size = None
        stored = False
        if (payload := exchange.stored) is not None:
            payload_sha256, size = payload.sha256, payload.size
            cursor = self.conn.execute(
                "INSERT OR IGNORE INTO payloads (sha256, size, compression, data) VALUES (?, ?, ?, ?)",
                (payload.sha256, payload.size, payload.compression, payload.data))
            stored = cursor.rowcount > 0
        elif exchange.revisit_of is not None:
            row = self.conn.execute("SELECT payload_sha256, size FROM captures WHERE id = ?",
                                    (exchange.revisit_of,)).fetchone()
            if row is None:
                raise ValueError(f"revisit of capture {exchange.revisit_of}, which does not exist")
            payload_sha256, size = row
        capture_id = self._append("captures", {
            "run_id": run_id, "source_id": source_id, "kind": exchange.kind, "method": exchange.method,
            "requested_url": exchange.requested_url, "final_url": exchange.final_url,
            "redirects": _json(exchange.redirects), "http_version": exchange.http_version,
            "status": exchange.status, "request_headers": _json([list(h) for h in exchange.request_headers]),
            "response_headers": _json([list(h) for h in exchange.response_headers]),
            "started_at": exchange.started_at, "ended_at": exchange.ended_at,
            "server_ip": exchange.server_ip, "user_agent": exchange.user_agent,
            "archiver_version": __version__, "transferred_sha256": exchange.transferred_sha256,
            "transferred_size": exchange.transferred_size, "payload_sha256": payload_sha256,
            "size": size, "content_type": exchange.content_type, "charset": exchange.charset,
            "robots": exchange.robots, "revisit_of": exchange.revisit_of, "error": exchange.error,
            "details": _json(exchange.details),
        })
        return RecordResult(capture_id=capture_id, payload_stored=stored)

    def _count_run(self, run_id: int | None, result: RecordResult, captures: int = 1) -> None:
        if run_id is None:
            return
        self.conn.execute(
            "UPDATE runs SET n_captures = n_captures + ?, n_new = n_new + ?, n_edited = n_edited + ?, "
            "n_deleted = n_deleted + ? WHERE id = ?",
            (captures, result.new, result.edited, result.deleted, run_id))

    def _observe(self, result: RecordResult, observation: Observation, at: str,
                 source_id: str | None, where: str | None) -> None:
        current: dict[tuple[str, str], Any] = self._current([(p.platform, p.native_id) for p in observation.posts])
        gone = {(g.platform, g.native_id) for g in observation.gone}
        seen: list[tuple[int, str, int]] = []
        self._rows = {table: [] for table in _WRITES}
        try:
            for post in observation.posts:
                # a post listed twice in one page is looked up again: its first sighting may have changed it
                key = (post.platform, post.native_id)
                row = current.pop(key, _LOOK_UP)
                if row is _LOOK_UP:
                    row = self._current([key])[key]
                seen.append((self._observe_post(result, post, at, source_id, where, row, key in gone),
                             at, result.capture_id))
            self._flush()
        finally:
            self._rows = None
        if seen:
            self.conn.executemany(
                "INSERT INTO post_seen (post_id, last_seen_at, last_capture_id) VALUES (?, ?, ?) ON CONFLICT "
                "(post_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, "
                "last_capture_id = excluded.last_capture_id", seen)
            # the chained record `post_seen` is rebuilt from: one row per page, not one per post
            self._append("sightings", {"capture_id": result.capture_id, "at": at,
                                       "post_ids": _json([post_id for post_id, _, _ in seen])})
        for gone in observation.gone:
            self._observe_gone(result, gone, at, source_id, where)
        if observation.state and source_id is not None:
            self._set_state(source_id, observation.state)

    def _current(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[Any, ...] | None]:
        """What the archive holds for each (platform, native_id) of a page (None: never seen), one query
        per platform and chunk instead of one per post."""
        self._flush()
        found: dict[tuple[str, str], tuple[Any, ...] | None] = dict.fromkeys(keys)
        by_platform: dict[str, list[str]] = {}
        for platform, native_id in found:
            by_platform.setdefault(platform, []).append(native_id)
        for platform, ids in by_platform.items():
            for start in range(0, len(ids), _LOOKUP_CHUNK):
                chunk = ids[start:start + _LOOKUP_CHUNK]
                for row in self.conn.execute(
                        f"{_CURRENT} WHERE p.platform = ? AND p.native_id IN ({', '.join('?' * len(chunk))})",
                        (platform, *chunk)):
                    found[(platform, row[0])] = row[1:]
        return found

    @staticmethod
    def _same_owner(row: tuple[Any, ...], owner: str | None, source_id: str | None) -> bool:
        """Whether a sighting may add to the post `row` (from `_current`): the same owner when both are
        known, else (a post archived before owners were kept, a post without an account) the same source."""
        held_owner, held_source = row[4], row[5]
        if held_owner is not None and owner is not None:
            return same_owner(held_owner, owner)
        return held_source is None or source_id is None or held_source == source_id

    def _observe_post(self, result: RecordResult, post: PostDraft, at: str, source_id: str | None,
                      where: str | None, row: tuple[Any, ...] | None, shown_gone: bool = False) -> int:
        """Record one sighting of a post; `row` is what `_current` found for it. Returns its id. A post the
        same observation says is gone (an export's deleted-tweets.js) shows what it said, not that it is
        back: it is never restored by it."""
        if not post.versions:
            raise ValueError(f"{post.platform} post {post.native_id} has no content")
        owner = owner_of(post, where)
        native_id = post.native_id
        conflict_with = None
        if row is not None and not self._same_owner(row, owner, source_id):
            # someone else's identity: this owner's own post under a qualified identity, never an edit
            native_id = qualified(post.native_id, owner)
            conflict_with = row
            row = self._current([(post.platform, native_id)])[(post.platform, native_id)]
        if row is None:
            # a new post is inserted with its whole current view at once (with the page's other rows)
            post_id = self._next_id("posts")
            new_row = (post_id, post.platform, native_id, source_id, at, owner, *self._view(post, post.versions[-1]))
            if self._rows is not None:
                self._rows["posts"].append(new_row)
            else:
                self.conn.execute(_POST_WRITE, new_row)
            status, count, current, stored, read_by = "live", 0, None, None, None
            if conflict_with is not None:
                self._append("identity_conflicts", {
                    "platform": post.platform, "native_id": post.native_id, "post_id": conflict_with[0],
                    "owner": conflict_with[4], "other_post_id": post_id, "other_owner": owner,
                    "source_id": source_id, "capture_id": result.capture_id, "at": at})
                result.conflicts += 1
        else:
            post_id, status, count, current = row[:4]
            read_by = tuple(row[6:8])  # the extractor that read the current version
            stored = tuple(row[8:])
        facts = None
        # the (content, claimed date) pairs held, read when a draft first needs them. A post new here holds
        # none: read anyway, each new dated post wrote out the page's batched rows (a statement per post)
        known: set[tuple[str, str | None]] | None = set() if row is None else None
        current_claim: str | None = None  # when the platform says the current version was made
        latest_version = latest_draft = None
        found_earlier = False
        shown = stored  # the (title, text, extra) of the version current before each draft
        # read by another extractor than the one that read the current version: what differs may be the
        # reading, not the source (see the events below)
        reread = read_by is not None and read_by != (post.extractor, post.extractor_version)
        reread_unclaimed = reread
        for draft in post.versions:
            # content identical to the stored current version, field for field, has its digest: the
            # common case of a re-poll is decided without canonicalising and hashing the text
            if stored is not None and (draft.title, draft.text, _json(draft.extra)) == stored:
                continue
            if draft.partial and row is not None:
                continue  # an incomplete reading of a post held: what it lacks is no edit
            stored = None
            digest = draft.content_sha256 or content_digest(draft.title, draft.text, draft.extra)
            if digest == current:
                continue
            # a version the platform dates is the one held with that content and date, whenever it comes
            # back (an older export imported after a newer one): only an undated reading can be a revert
            if len(post.versions) > 1 or reread or draft.claimed_at:
                if known is None:
                    self._flush()
                    held = self.conn.execute(
                        "SELECT v.content_sha256, v.claimed_at, v.id = p.current_version FROM versions v "
                        "JOIN posts p ON p.id = v.post_id WHERE v.post_id = ?", (post_id,)).fetchall()
                    known = {(r[0], r[1]) for r in held}
                    current_claim = next((r[1] for r in held if r[2]), None)
                if (digest, draft.claimed_at) in known:
                    continue
            count += 1
            held_claims = {claimed for _, claimed in known or () if claimed}
            # made before the current version by the platform's own dates (an edit chain whose newer
            # version came first: a search's pages, a flattened file): kept, but the current view stays
            earlier = bool(draft.claimed_at and current_claim and draft.claimed_at < current_claim)
            if facts is None:
                facts = self._facts(post, native_id, source_id, owner)
            version_id = self._append("versions", {
                "post_id": post_id, "number": count, "canonical_rule": CANONICAL_RULE,
                "title": draft.title, "text": draft.text, "extra": _json(draft.extra),
                "content_sha256": digest, "raw": draft.raw, "capture_id": result.capture_id,
                "observed_at": at, "claimed_at": draft.claimed_at, "extractor": post.extractor,
                "extractor_version": post.extractor_version, "facts": facts,
            })
            if earlier:
                # never current (verify's rule): found late, or an earlier version read anew
                details: dict[str, Any] = {"claimed_at": draft.claimed_at, "current_claimed_at": current_claim}
                if reread and draft.claimed_at in held_claims:
                    details["extractor"] = {"from": "/".join(map(str, read_by or ())),
                                            "to": f"{post.extractor}/{post.extractor_version}"}
                    result.reextracted += 1
                else:
                    result.earlier += 1
                self._event(post_id, "earlier_version", at, result.capture_id, version_id, details)
                found_earlier = True
                continue
            latest_version, latest_draft = version_id, draft
            current_claim = draft.claimed_at
            before, shown = shown, (draft.title, draft.text, _json(draft.extra))
            if count == 1:
                self._event(post_id, "first_seen", at, result.capture_id, latest_version)
                result.new += 1
            elif reread and (draft.claimed_at in held_claims if draft.claimed_at and held_claims
                             else reread_unclaimed):
                # the same content may read differently after an extractor change: the new reading is kept
                # as a version, but nothing says the source changed it (a false "edited" is false evidence).
                # A version the platform dates is a re-reading when a held version has that date; without
                # dates to compare (not given, or not kept by the old extractor), only the sighting's first.
                self._event(post_id, "reextracted", at, result.capture_id, latest_version,
                            {"extractor": {"from": "/".join(map(str, read_by or ())),
                                           "to": f"{post.extractor}/{post.extractor_version}"}})
                result.reextracted += 1
                reread_unclaimed = False
            else:
                edit: dict[str, Any] = {"claimed_at": draft.claimed_at} if draft.claimed_at else {}
                if changed := _changed(before, draft):
                    edit["changed"] = changed  # a UN letter's new reply is `extra.replies`, not its text
                if post.kind == "repost" and post.repost_of:
                    edit["original"] = post.repost_of  # what changed is what it reposts: a repost is never edited
                self._event(post_id, "edited", at, result.capture_id, latest_version, edit or None)
                result.edited += 1
            current = digest
        back = status != "live" and not shown_gone
        if back:
            self._event(post_id, "restored", at, result.capture_id, latest_version, {"was": status})
            result.restored += 1
        if row is None:
            if self._rows is not None:
                self._rows["post_counts"].append((count, latest_version, post_id))
            else:
                self.conn.execute(_WRITES["post_counts"], (count, latest_version, post_id))
            if latest_draft is not post.versions[-1] and latest_draft is not None:
                # the page repeated a content already taken: the view shows the version that is current
                self._flush()
                self.conn.execute("UPDATE posts SET title = ?, text = ? WHERE id = ?",
                                  (latest_draft.title, latest_draft.text, post_id))
        elif latest_draft is not None:
            # only the columns that changed are written: each one written rewrites its indexes (and, for
            # the searched ones, the post's search entry)
            self._flush()
            held = self.conn.execute(f"SELECT {_VIEW_COLUMNS} FROM posts WHERE id = ?", (post_id,)).fetchone()
            changed = {name: value for name, value, old in zip(_VIEW_NAMES, self._view(post, latest_draft), held,
                                                               strict=True) if value != old}
            changed.update(version_count=count, current_version=latest_version)
            if status != "live" and not back:
                changed.pop("status", None)
            self._reindex_post(post_id, changed, lambda: self.conn.execute(
                f"UPDATE posts SET {', '.join(f'{name} = ?' for name in changed)} WHERE id = ?",
                (*changed.values(), post_id)))
        elif back or count != row[2]:
            # restored as it was, or only earlier versions added: the view keeps its current version
            self.conn.execute("UPDATE posts SET status = ?, version_count = ? WHERE id = ?",
                              ("live" if back else status, count, post_id))
        if found_earlier or (row is not None and latest_draft is not None and self._has_earlier(post_id)):
            self._keep_publication(post_id)
        return int(post_id)

    def _has_earlier(self, post_id: int) -> bool:
        self._flush()
        return self.conn.execute("SELECT 1 FROM events WHERE post_id = ? AND type = 'earlier_version' LIMIT 1",
                                 (post_id,)).fetchone() is not None

    def _keep_publication(self, post_id: int) -> None:
        """The publication a post with a version found after a later one shows: its earliest-dated
        version's (the tweet an edit edits, read after the edit, knows when the post was published)."""
        self._flush()
        found = self.conn.execute("SELECT facts FROM versions WHERE post_id = ? AND claimed_at IS NOT NULL "
                                  "AND facts IS NOT NULL ORDER BY claimed_at, id LIMIT 1", (post_id,)).fetchone()
        if found is None:
            return
        facts = json.loads(found[0])
        self.conn.execute(f"UPDATE posts SET {', '.join(f'{name} = ?' for name in PUBLICATION_FACTS)} WHERE id = ?",
                          (*(facts[name] for name in PUBLICATION_FACTS), post_id))

    @staticmethod
    def _view(post: PostDraft, draft: VersionDraft) -> tuple[Any, ...]:
        """The current-view columns of `posts` (_VIEW_COLUMNS) for the post's latest content."""
        return (post.url, post.author_id, post.author_handle, post.author_name, post.kind, post.published_at,
                post.published_raw, post.published_where, "live", draft.title, draft.text, post.language,
                post.reply_to, post.quote_of, post.repost_of, _json(post.media), _json(post.tags),
                int(post.publish))

    @staticmethod
    def _facts(post: PostDraft, native_id: str, source_id: str | None, owner: str | None) -> str:
        """The post-level facts a version is seen with, chained in `versions.facts`: everything `posts`
        shows that is not the version's own content (keys POST_FACTS; verify rebuilds `posts` from them)."""
        values = (post.platform, native_id, source_id, owner, post.url, post.author_id, post.author_handle,
                  post.author_name, post.kind, post.published_at, post.published_raw, post.published_where,
                  post.language, post.reply_to, post.quote_of, post.repost_of, _json(post.media),
                  _json(post.tags), int(post.publish))
        return _compact_json(dict(zip(POST_FACTS, values, strict=True)))

    def _observe_gone(self, result: RecordResult, gone: Gone, at: str, source_id: str | None,
                      where: str | None) -> None:
        row = None
        for native_id in (gone.native_id, qualified(gone.native_id, f"origin:{where}" if where else None)):
            found = self.conn.execute("SELECT id, status, owner, source_id FROM posts WHERE platform = ? "
                                      "AND native_id = ?", (gone.platform, native_id)).fetchone()
            # only the post's own source, or its own origin, can say that it left
            if found is not None and (found[3] == source_id or source_id is None
                                      or (where is not None and found[2] is not None
                                          and same_owner(found[2], f"origin:{where}"))):
                row = found
                break
        if row is None:
            return  # never archived (or not this source's): nothing to say it left
        post_id, status = row[:2]
        if gone.confirmed and status != "deleted":
            self._event(post_id, "deleted", at, result.capture_id, None, {"reason": gone.reason})
            self.conn.execute("UPDATE posts SET status = 'deleted' WHERE id = ?", (post_id,))
            result.deleted += 1
        elif not gone.confirmed and status == "live":
            self._event(post_id, "missing", at, result.capture_id, None, {"reason": gone.reason})
            self.conn.execute("UPDATE posts SET status = 'missing' WHERE id = ?", (post_id,))
            result.missing += 1

    def _event(self, post_id: int, kind: str, at: str, capture_id: int, version_id: int | None,
               details: dict[str, Any] | None = None) -> int:
        return self._append("events", {"post_id": post_id, "type": kind, "at": at,
                                       "capture_id": capture_id, "version_id": version_id,
                                       "details": _json(details)})


class WriterThread:
    """The one thread that owns the archive's write connection. Other threads `submit` work (a
    callable taking the Archive) and get a Future, resolved only after the work is committed.
    Queued work is batched into one transaction, each item in its own savepoint, so one bad item
    fails alone and a busy service commits a few times a second, not once per item."""

    _STOP = object()

    def __init__(self, path: str | Path, *, batch: int = 200) -> None:
        self.path = Path(path)
        self._batch = batch
        self._queue: queue.Queue[Any] = queue.Queue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="archive-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, work: Callable[[Archive], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        if not self._thread.is_alive():
            future.set_exception(RuntimeError("the archive writer is closed"))
            return future
        self._queue.put((work, future))
        return future

    def call(self, work: Callable[[Archive], Any]) -> Any:
        return self.submit(work).result()

    def close(self) -> None:
        """Finish every queued item, commit, and close the connection."""
        if self._thread.is_alive():
            self._queue.put(self._STOP)
            self._thread.join()

    def _run(self) -> None:
        try:
            archive = Archive(self.path)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            stopping = False
            while not stopping:
                items = [self._queue.get()]
                while len(items) < self._batch:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if items[-1] is self._STOP or self._STOP in items:
                    stopping = True
                    items = [item for item in items if item is not self._STOP]
                self._commit_batch(archive, items)
            # a clean stop leaves every commit in the main file; a checkpoint that cannot run (a full
            # disk) leaves the WAL for the next one, and loses nothing
            with contextlib.suppress(sqlite3.Error):
                checkpoint(archive.conn)
        finally:
            archive.close()

    @staticmethod
    def _commit_batch(archive: Archive, items: list[tuple[Callable[[Archive], Any], Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            with archive.transaction():
                for work, future in items:
                    if not future.set_running_or_notify_cancel():
                        continue
                    try:
                        with archive.transaction():
                            outcomes.append((future, work(archive), None))
                    except Exception as exc:
                        outcomes.append((future, None, exc))
        except sqlite3.Error as exc:  # BEGIN (busy) or COMMIT failed: nothing in the batch is durable
            for _, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, value, error in outcomes:
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)
