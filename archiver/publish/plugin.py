"""The archive's Datasette plugin: locks every connection down to reading and bounds what a query can
cost, refuses the permissions that could change or bulk-download the archive, gives every database that
holds an archive (whatever its file name) the project's metadata and settings, and adds the pages a
researcher needs (a post with its versions, diffs, events and provenance; search; raw payload download).

It is registered as the package archiver.publish, so Datasette serves its templates/ and static/ however
it is started (`datasette serve`, `-i`, `package`, `publish`, `archiver serve`)."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import sqlite3
import weakref
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

import yaml
from datasette import hookimpl
from datasette.database import Database
from datasette.utils import escape_fts, tilde_decode, tilde_encode
from datasette.utils.asgi import NotFound, Request, Response
from markupsafe import Markup

from archiver.bundle import post_bundle
from archiver.database import ArchiveError
from archiver.payloads import decode_payload
from archiver.proofs import inclusion_bundle, version_checkpoints
from archiver.publication import PUBLISHED_ROWS, TEMP_VIEWS
from archiver.publish.facets import precounted
from archiver.publish.feeds import atom, feed_entries
from archiver.publish.labels import sort_links, table_body, table_columns
from archiver.publish.pages import (
    HIT_END,
    HIT_START,
    checkpoint_line,
    citation,
    diffs_between,
    download_name,
    highlight,
    safe_link,
    stayed_up,
    time_element,
)
from archiver.readonly import bound, lock_down, unbounded_values

PLUGIN = "archiver"  # the distribution name Datasette mounts static/ under: /-/static-plugins/archiver/
# The project's Datasette settings: each replaces Datasette's default, and a value given on the command
# line (--setting, anything but the default) is kept. num_sql_threads stays Datasette's default (3).
SETTINGS: dict[str, Any] = {
    "sql_time_limit_ms": 2000,
    "max_returned_rows": 1000,
    "default_page_size": 20,
    "allow_download": False,
    "allow_csv_stream": True,
    "max_csv_mb": 50,
    "suggest_facets": False,
    "allow_facet": True,
    "default_facet_size": 10,
    "facet_time_limit_ms": 200,
    "truncate_cells_html": 500,
    "default_cache_ttl": 5,
}
# Tables whose presence marks a database as an archive (db/migrations/0001_initial.sql).
ARCHIVE_TABLES = frozenset({"sources", "captures", "posts", "versions", "events", "chain"})
# Requests that run SQL a stranger wrote (?sql=, ?_where=): one at a time, so the other SQL threads stay
# free for ordinary pages; one that waits longer than this many time limits is told to come back.
ARBITRARY_SQL_ARGS = frozenset({"sql", "_where"})
ARBITRARY_SQL_SLOTS = 1
ARBITRARY_SQL_WAIT_LIMITS = 3
_BUNDLES = asyncio.Semaphore(1)  # evidence bundles are CPU work: one at a time
_archives: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()
# per Datasette instance, the archives served immutable that hold no unpublished row (a published copy):
# their table pages need no condition, so Datasette can use the inspected counts and whole-table facets
_nothing_hidden: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

SEARCH_LIMIT = 50
HOME_LATEST = 8  # statements of each kind (new, edited, deleted) on the home page
# The distinct platforms, one index seek each: a plain DISTINCT reads the whole platform index.
_PLATFORMS = """
    WITH RECURSIVE seen (platform) AS (
        SELECT min(platform) FROM posts
        UNION ALL SELECT (SELECT min(platform) FROM posts WHERE platform > seen.platform) FROM seen
        WHERE seen.platform IS NOT NULL)
    SELECT platform FROM seen WHERE platform IS NOT NULL"""
SEARCH_CAP = 5000  # full-text matches considered per search, newest archived first (plugin setting search_cap)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# what looks like an FTS5 operator in a simple search, where it is searched as a word
_OPERATORS = re.compile(r"\b(?:OR|AND|NOT|NEAR)\b|\w\*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# A post (or a payload) is published unless it or its source says otherwise.
_PUBLISHED = "p.publish = 1 AND coalesce(s.publish, 1) = 1"


# -- lock-down ----------------------------------------------------------------------------------

def cached(datasette: Any, response: Any) -> Any:
    """The plugin's pages carry the same Cache-Control as Datasette's own (default_cache_ttl), so a caching
    proxy in front of the face (deploy/nginx-archiver-public.conf) keeps them as long as it keeps a table page."""
    ttl = datasette.setting("default_cache_ttl")
    response.headers["Cache-Control"] = f"max-age={ttl}" if ttl else "no-cache"
    return response


@hookimpl
def prepare_connection(conn: Any, database: str, datasette: Any) -> None:
    # Datasette's own in-memory databases (_internal, and _memory used by /-/versions to probe
    # features) hold nothing of the archive and must stay writable for Datasette itself
    served = datasette.databases.get(database)
    if database in ("_internal", "_memory") or (served is not None and served.is_memory):
        return
    if is_archive(conn):
        for name, sql in TEMP_VIEWS.items():  # what the public does not see, named for PUBLISHED_ROWS
            conn.execute(f"CREATE TEMP VIEW IF NOT EXISTS {name} AS {sql}")
    lock_down(conn)
    bound(conn)


def holds_unpublished(conn: Any) -> bool:
    return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM unpublished_sources) "
                             "OR EXISTS (SELECT 1 FROM unpublished_posts)").fetchone()[0])


def is_archive(conn: Any) -> bool:
    """Whether the database holds an archive, by its schema (whatever the file is called)."""
    found = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in found} >= ARCHIVE_TABLES


@hookimpl
def startup(datasette: Any) -> Any:
    from datasette.app import DEFAULT_SETTINGS  # not at import: Datasette loads plugins while importing app

    async def inner() -> None:
        names = [name for name, db in datasette.databases.items()
                 if not db.is_memory and await db.execute_fn(is_archive)]
        _archives[datasette] = names
        # an immutable copy never changes while served: what it holds can be known once
        immutable = [datasette.get_database(name) for name in names if not datasette.get_database(name).is_mutable]
        _nothing_hidden[datasette] = {db.name for db in immutable if not await db.execute_fn(holds_unpublished)}
        precounted[datasette] = {db.name for db in immutable if await db.table_exists("facet_counts")}
        for name, value in SETTINGS.items():
            if datasette._settings.get(name) == DEFAULT_SETTINGS[name]:
                datasette._settings[name] = value
        # Datasette copies these three to attributes as it starts, before any plugin runs: copy them again
        datasette.max_returned_rows = datasette.setting("max_returned_rows")
        datasette.sql_time_limit_ms = datasette.setting("sql_time_limit_ms")
        datasette.page_size = datasette.setting("default_page_size")
        # local metadata (--metadata) is applied over the plugin's, as Datasette does for plugin metadata
        served = datasette._metadata_recursive_update(archive_metadata(datasette, names),
                                                      copy.deepcopy(datasette._metadata_local or {}))
        _metadata[datasette] = (served, _table_rules(served))
    return inner


# Per Datasette instance: the metadata the face serves (packaged, with the operator's over it), and the
# part of it the callers of metadata("tables") read.
_metadata: weakref.WeakKeyDictionary[Any, tuple[dict[str, Any], dict[str, Any]]] = weakref.WeakKeyDictionary()
# What Datasette 0.65 reads of a table's metadata when it asks for key "tables": the permission check of
# every table (`_table_permission_allows`, which deep-copies each source of metadata on every call: 59 calls
# on the home page) and a facet's size. Everything else of a table is asked for with the table named.
_TABLE_RULES = ("allow", "facet_size")


def _table_rules(metadata: dict[str, Any]) -> dict[str, Any]:
    rules = {name: {table: {key: block[key] for key in _TABLE_RULES if key in block}
                    for table, block in (database.get("tables") or {}).items()}
             for name, database in (metadata.get("databases") or {}).items()}
    return {"databases": {name: {"tables": {table: rule for table, rule in tables.items() if rule}}
                          for name, tables in rules.items()}}


@hookimpl
def get_metadata(datasette: Any, key: str | None, database: str | None, table: str | None) -> Any:
    # the operator's --metadata stays Datasette's local metadata (applied after this, so over it, as before)
    served = _metadata.get(datasette)
    if served is None:
        return None
    return served[1] if key == "tables" else served[0]


@cache
def _packaged_metadata() -> dict[str, Any]:
    return yaml.safe_load(files(__package__).joinpath("metadata.yml").read_text(encoding="utf-8"))


def archive_metadata(datasette: Any, names: list[str]) -> dict[str, Any]:
    """The packaged metadata with its `database` block given to each archive database in `names`."""
    metadata = copy.deepcopy(_packaged_metadata())
    block = metadata.pop("database")
    metadata["databases"] = {name: copy.deepcopy(block) for name in names}
    if names:
        metadata["description_html"] = metadata["description_html"].format(
            base=datasette.urls.path("/"), database=datasette.urls.database(names[0]))
    else:
        metadata.pop("description_html")
    return metadata


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    slots = asyncio.Semaphore(ARBITRARY_SQL_SLOTS)

    def wrap(app: Any) -> Any:
        async def face(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            query = scope.get("query_string", b"").decode("latin-1")
            arbitrary = bool(ARBITRARY_SQL_ARGS & parse_qs(query).keys())
            hidden = await _published_only(datasette, scope)
            if hidden is None:
                await Response.text("Not found\n", status=404).asgi_send(send)
                return
            if not arbitrary:
                await app(hidden, receive, send)
                return
            wait = ARBITRARY_SQL_WAIT_LIMITS * datasette.setting("sql_time_limit_ms") / 1000
            try:
                await asyncio.wait_for(slots.acquire(), wait)
            except TimeoutError:
                await Response.text("Busy: other SQL queries are running; try again in a few seconds.\n",
                                    status=503, headers={"Retry-After": "5"}).asgi_send(send)
                return
            try:
                await app(hidden, receive, send)
            finally:
                slots.release()
        return face
    return wrap


_TABLE_PATH = re.compile(r"^/(?P<db>[^/]+)/(?P<table>[a-z_]+?)(?:\.(?:json|csv))?$")
_ROW_PATH = re.compile(r"^/(?P<db>[^/]+)/(?P<table>[a-z_]+)/(?P<pk>[^/]+?)(?:\.json)?$")
_ROW_KEYS = {"sources": "id", "posts": "id", "versions": "id", "events": "id", "post_seen": "post_id",
             "captures": "id", "runs": "id", "source_versions": "id", "run_outcomes": "id", "sightings": "id",
             "identity_conflicts": "id"}


async def _published_only(datasette: Any, scope: dict[str, Any]) -> dict[str, Any] | None:
    """The request with the unpublished rows of an archive table filtered out of its table view, or None
    for the page of an unpublished row (answered 404). Public SQL (?sql=) is the reader's own: see
    docs/publishing.md for a copy that holds no unpublished row at all."""
    path = scope.get("path", "")
    shown = _nothing_hidden.get(datasette, set())
    archives = {tilde_encode(name): name for name in _archives.get(datasette, []) if name not in shown}
    table = _TABLE_PATH.match(path)
    if table and table["db"] in archives and table["table"] in PUBLISHED_ROWS:
        condition = urlencode({"_where": PUBLISHED_ROWS[table["table"]]}).encode()
        query = scope.get("query_string", b"")
        return dict(scope, query_string=query + b"&" + condition if query else condition)
    row = _ROW_PATH.match(path)
    if row and row["db"] in archives and row["table"] in PUBLISHED_ROWS:
        key = _ROW_KEYS.get(row["table"])
        if key is None:
            return None
        db = datasette.get_database(archives[row["db"]])
        shown = await db.execute(f"SELECT EXISTS (SELECT 1 FROM {row['table']} WHERE {key} = :pk "
                                 f"AND {PUBLISHED_ROWS[row['table']]})", {"pk": tilde_decode(row["pk"])})
        if not shown.rows[0][0]:
            return None
    return scope


@hookimpl
def permission_allowed(datasette: Any, actor: Any, action: str, resource: Any) -> Any:
    if action == "view-database-download":
        return False
    if action == "view-table" and resource and resource[1] == "payloads":
        return False  # response bodies are downloaded one by one from a post's page, never browsed
    if action == "view-query":
        async def inner() -> bool | None:
            database, name = resource
            query = await datasette.get_canned_query(database, name, actor)
            return False if query and query.get("write") else None
        return inner
    return None


# -- presentation hooks -------------------------------------------------------------------------

@hookimpl
def extra_css_urls(datasette: Any) -> list[str]:
    return [datasette.urls.static_plugins(PLUGIN, "archiver.css")]


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]]:
    return [{"href": datasette.urls.path("/-/search"), "label": "Search statements"}]


@hookimpl
def extra_template_vars(view_name: str, database: str | None, datasette: Any) -> Any:
    if view_name in ("table", "row"):  # templates/_table.html labels the columns of an archive's tables only
        return {"archiver_archive": database in _archives.get(datasette, [])}
    if view_name != "index":
        return None

    async def inner() -> dict[str, Any]:
        names = _archives.get(datasette)
        if not names:
            return {"latest": None}
        db = datasette.get_database(names[0])
        latest = {}
        for kind in ("first_seen", "edited", "deleted"):
            rows = await _rows(db, f"""
                SELECT e.at, p.platform, p.native_id, p.title, substr(p.text, 1, 100) AS excerpt, p.author_name,
                       p.author_handle, s.organisation, v.number
                FROM events e JOIN posts p ON p.id = e.post_id LEFT JOIN sources s ON s.id = p.source_id
                LEFT JOIN versions v ON v.id = e.version_id
                WHERE e.type = :kind AND {_PUBLISHED} ORDER BY e.type, e.at DESC LIMIT {HOME_LATEST}""",
                {"kind": kind})
            for row in rows:
                row["path"] = post_path(datasette, row["platform"], row["native_id"])
            latest[kind] = rows
        return {"latest": latest}
    return inner


@hookimpl
def prepare_jinja2_environment(env: Any) -> None:
    env.filters["utc"] = time_element
    env.globals["archiver_columns"] = table_columns  # templates/_table.html: labels and phone cards
    env.globals["archiver_sort_links"] = sort_links  # its sort links
    env.globals["archiver_table_body"] = table_body  # and its rows


# the JSON keys under which an import recorded the file's place on the operator's disk
_OPERATOR_PATHS = {("captures", "details"): "path", ("runs", "details"): "file"}


def _post_link(row: Any, value: Any, column: str, table: str | None, datasette: Any) -> Markup | None:
    """A post_id (in query results and the tables that refer to posts) links to the post's page."""
    if isinstance(value, int) and table in (None, "versions", "events", "post_seen"):
        return Markup('<a href="{}">post {}</a>').format(datasette.urls.path(f"/-/post/{value}"), value)
    return None


def _imported_file(row: Any, value: Any, column: str, table: str | None, datasette: Any) -> Markup | None:
    """An imported file is shown by its name, never by where it lay on the operator's disk (archives older
    than this rule recorded file:///path/to/name)."""
    if table == "captures" and isinstance(value, str) and value.startswith("file:"):
        return Markup("imported file {}").format(unquote(value.removeprefix("file:").rsplit("/", 1)[-1]))
    return None


def _without_operator_path(row: Any, value: Any, column: str, table: str | None, datasette: Any) -> Markup | None:
    if (table, column) in _OPERATOR_PATHS and isinstance(value, str):
        details = _details(value)
        if _OPERATOR_PATHS[table, column] in details:
            details.pop(_OPERATOR_PATHS[table, column])
            return Markup("{}").format(json.dumps(details, ensure_ascii=False))
    return None


def _native_id_link(row: Any, value: Any, column: str, table: str | None, datasette: Any) -> Markup | None:
    """A post's own native id in the posts table links to the post's page."""
    if table == "posts" and isinstance(value, str) and "platform" in row.keys():  # noqa: SIM118 - `in` a sqlite3.Row tests values
        return Markup('<a href="{}">{}</a>').format(post_path(datasette, row["platform"], value), value)
    return None


# what render_cell changes, by column: it is called for every cell of every page, so other columns leave at once
_CELL_RULES = {"post_id": _post_link, "requested_url": _imported_file, "final_url": _imported_file,
               "native_id": _native_id_link, **{column: _without_operator_path for _, column in _OPERATOR_PATHS}}


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, datasette: Any) -> Markup | None:
    rule = _CELL_RULES.get(column)
    return rule(row, value, column, table, datasette) if rule is not None else None


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/post/(?P<post_id>\d+)$", post_by_id),
        (r"^/-/post/(?P<platform>[^/]+)/(?P<native_id>[^/.]+)(?P<format>\.json)?$", post_page),
        (r"^/-/bundle/(?P<platform>[^/]+)/(?P<native_id>[^/.]+)\.zip$", bundle_download),
        (r"^/-/proof/(?P<platform>[^/]+)/(?P<native_id>[^/.]+)/(?P<number>\d+)\.json$", proof_download),
        (r"^/-/checkpoint/(?P<size>\d+)\.txt$", checkpoint_download),
        (r"^/-/payload/(?P<sha256>[0-9a-f]{64})$", payload_download),
        (r"^/-/search$", search_page),
        (r"^/-/feed\.atom$", feed_page),
        (r"^/-/feed/source/(?P<source>[^/]+)\.atom$", feed_page),
        (r"^/-/feed/author/(?P<platform>[^/]+)/(?P<author>[^/]+)\.atom$", feed_page),
        (r"^/-/feed/post/(?P<platform>[^/]+)/(?P<native_id>[^/.]+)\.atom$", feed_page),
    ]


# -- pages --------------------------------------------------------------------------------------

async def archive_database(datasette: Any) -> Database:
    """The database holding the archive: the plugin's `database` setting, or the first archive served."""
    configured = (datasette.plugin_config("archiver") or {}).get("database")
    if configured:
        return datasette.get_database(configured)
    names = _archives.get(datasette)
    if not names:
        raise NotFound("no archive database is being served")
    return datasette.get_database(names[0])


async def _rows(db: Database, sql: str, params: Any = None) -> list[dict[str, Any]]:
    results = await db.execute(sql, params or {}, truncate=False)
    return [dict(row) for row in results.rows]


def post_path(datasette: Any, platform: str, native_id: str, suffix: str = "") -> str:
    """The post's address in any copy of the archive: its platform and the platform's own id (tilde-encoded
    as Datasette encodes names), never the row id a rebuild would change."""
    return datasette.urls.path(f"/-/post/{tilde_encode(platform)}/{tilde_encode(native_id)}{suffix}")


def proof_path(datasette: Any, platform: str, native_id: str, number: int) -> str:
    """Where the inclusion proof of a post's version `number` downloads, keyed as the post's address is."""
    return datasette.urls.path(f"/-/proof/{tilde_encode(platform)}/{tilde_encode(native_id)}/{number}.json")


async def post_by_id(datasette: Any, request: Request) -> Response:
    """A row id (as in table views) sends the reader on to the post's lasting address."""
    db = await archive_database(datasette)
    found = await _rows(db, f"""SELECT p.platform, p.native_id FROM posts p LEFT JOIN sources s ON s.id = p.source_id
                                WHERE p.id = :id AND {_PUBLISHED}""", {"id": int(request.url_vars["post_id"])})
    if not found:
        raise NotFound(f"no published post {request.url_vars['post_id']}")
    query = f"?{request.query_string}" if request.query_string else ""
    return Response.redirect(post_path(datasette, found[0]["platform"], found[0]["native_id"]) + query)


async def _published_post(db: Database, request: Request) -> tuple[str, str, dict[str, Any], list[dict[str, Any]]]:
    """The platform, native id, row and versions of the published post a request's address names."""
    platform, native_id = tilde_decode(request.url_vars["platform"]), tilde_decode(request.url_vars["native_id"])
    found = await _rows(db, f"""
        SELECT p.*, s.name AS source_name, s.organisation AS organisation, seen.last_seen_at,
               seen.last_capture_id
        FROM posts p LEFT JOIN sources s ON s.id = p.source_id LEFT JOIN post_seen seen ON seen.post_id = p.id
        WHERE p.platform = :platform AND p.native_id = :native_id AND {_PUBLISHED}""",
        {"platform": platform, "native_id": native_id})
    if not found:
        raise NotFound(f"no published {platform} post {native_id}")
    versions = await _rows(db, """
        SELECT id, number, title, text, content_sha256, capture_id, observed_at, claimed_at, extractor,
               extractor_version
        FROM versions WHERE post_id = :id ORDER BY number""", {"id": found[0]["id"]})
    if all(version["claimed_at"] for version in versions):
        # the platform dates every version: shown in the order it made them, which is not the archive's
        # order when an earlier version was found after a later one (an `earlier_version` event)
        versions.sort(key=lambda version: (version["claimed_at"], version["number"]))
    return platform, native_id, found[0], versions


async def bundle_download(datasette: Any, request: Request) -> Response:
    """The post's evidence bundle (archiver/bundle.py), made in a thread, one at a time."""
    db = await archive_database(datasette)
    platform, native_id, post, versions = await _published_post(db, request)
    captures = await _rows(db, "SELECT capture_id FROM versions WHERE post_id = :id UNION "
                               "SELECT capture_id FROM events WHERE post_id = :id AND capture_id IS NOT NULL",
                           {"id": post["id"]})
    try:
        proofs = await db.execute_fn(lambda conn: {v["number"]: inclusion_bundle(conn, v["id"]) for v in versions})
    except ArchiveError as exc:  # a damaged node cache: no bundle rather than a false proof in it
        return Response.text(f"{exc}\n", status=503)
    async with _BUNDLES:
        body = await asyncio.to_thread(
            post_bundle, db.path, {key: post[key] for key in _POST_FIELDS},
            [{key: v[key] for key in _VERSION_FIELDS} for v in versions], [row["capture_id"] for row in captures],
            proofs)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{platform}-{native_id}").strip("-")[:100]
    return Response(body, content_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}.zip"', "X-Content-Type-Options": "nosniff"})


async def proof_download(datasette: Any, request: Request) -> Response:
    """The inclusion proof of one version of a published post against the latest checkpoint
    (archiver.proofs.inclusion_bundle, with the signed note in it), as a JSON download."""
    db = await archive_database(datasette)
    platform, native_id, _, versions = await _published_post(db, request)
    number = int(request.url_vars["number"])
    version = next((v for v in versions if v["number"] == number), None)
    if version is None:
        raise NotFound(f"{platform} post {native_id} has no version {number}")
    try:
        proof = await db.execute_fn(lambda conn: inclusion_bundle(conn, version["id"]))
    except ArchiveError as exc:  # a damaged node cache: no proof rather than a false one
        return Response.text(f"{exc}\n", status=503)
    if proof is None:
        raise NotFound(f"version {number} of {platform} post {native_id} is not yet in a checkpoint")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{platform}-{native_id}-version-{number}").strip("-")[:100]
    return Response(json.dumps(proof, ensure_ascii=False, indent=2), content_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="{name}.proof.json"', "X-Content-Type-Options": "nosniff"})


async def checkpoint_download(datasette: Any, request: Request) -> Response:
    """A signed checkpoint, byte for byte the note `archiver checkpoint` wrote (checkpoint-<size>.txt)."""
    db = await archive_database(datasette)
    size = int(request.url_vars["size"])
    found = await _rows(db, "SELECT note FROM checkpoints WHERE tree_size = :size ORDER BY id DESC LIMIT 1",
                        {"size": size}) if await db.table_exists("checkpoints") else []
    if not found:
        raise NotFound(f"no checkpoint of tree size {size}")
    return Response(found[0]["note"].encode(), content_type="text/plain; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="checkpoint-{size}.txt"', "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=31536000, immutable"})  # a signed note never changes


async def post_page(datasette: Any, request: Request) -> Response:
    db = await archive_database(datasette)
    platform, native_id, post, versions = await _published_post(db, request)
    post_id = post["id"]
    # the word diffs are CPU work: done in a thread (cached, size-bounded), never on the event loop
    texts = [version["text"] for version in versions]
    diffs = await asyncio.to_thread(diffs_between, texts) if len(texts) > 1 else []
    path = post_path(datasette, platform, native_id)
    checkpoints = await db.execute_fn(lambda conn: version_checkpoints(conn, [v["id"] for v in versions]))
    for index, version in enumerate(versions):
        version["diff"] = diffs[index - 1] if index else None
        version["compared"] = versions[index - 1]["number"] if index else None
        version["title_changed"] = index > 0 and versions[index - 1]["title"] != version["title"]
        version["permalink"] = f"{path}#version-{version['number']}"
        version["checkpoint"] = checkpoints[version["id"]]
        version["proof"] = proof_path(datasette, platform, native_id, version["number"])
    query = (request.args.get("q") or "").strip()
    if query:
        await _highlight_versions(db, versions, match_query({"q": query, "advanced": request.args.get("advanced")}))
    events = await _rows(db, "SELECT id, type, at, capture_id, version_id, details FROM events "
                             "WHERE post_id = :id ORDER BY id", {"id": post_id})
    for event in events:
        event["details"] = json.loads(event["details"]) if event["details"] else {}
    deletion = next((e for e in reversed(events) if e["type"] == "deleted"), None)
    captures = await _rows(db, """
        SELECT id, kind, method, requested_url, final_url, started_at, ended_at, status, server_ip,
               http_version, content_type, transferred_sha256, transferred_size, payload_sha256, size, robots,
               revisit_of, error, details
        FROM captures WHERE id IN (SELECT capture_id FROM versions WHERE post_id = :id
                                   UNION SELECT capture_id FROM events WHERE post_id = :id)
        ORDER BY id""", {"id": post_id})
    for capture in captures:
        details = _details(capture.pop("details"))
        if capture["kind"] == "import":
            # an imported file is shown as the file it was: its name, never where it lay on the operator's disk
            capture["requested_url"] = capture["final_url"] = None
            capture["imported"] = {key: details.get(key) for key in ("name", "format", "size", "imported_at")}
        capture["requested_link"] = safe_link(capture["requested_url"])
        capture["final_link"] = safe_link(capture["final_url"])
        capture["robots_txt"] = _robots_sources(details)
        tls = details.get("tls")
        capture["tls"] = tls if isinstance(tls, dict) and tls.get("certificate_sha256") else None
    current = next((v for v in versions if v["id"] == post["current_version"]), versions[-1] if versions else None)
    cite = citation(post, current, datasette.absolute_url(request, current["permalink"]), checkpoint_line(
        current["checkpoint"], datasette.absolute_url(request, current["proof"]))) if current else ""
    claimed_start = post["published_at"]
    if request.url_vars.get("format"):
        return Response.json({
            "post": {key: post[key] for key in _POST_FIELDS}, "url": datasette.absolute_url(request, path),
            "citation": cite,
            "versions": [{key: v[key] for key in _VERSION_FIELDS} | {
                "permalink": datasette.absolute_url(request, v["permalink"]),
                "checkpoint": {key: value for key, value in v["checkpoint"].items() if key != "note"}
                if v["checkpoint"] else None,
                "proof": datasette.absolute_url(request, v["proof"]) if v["checkpoint"] else None}
                for v in versions],
            "events": events,
            "captures": [{key: value for key, value in c.items() if not key.endswith("_link")} for c in captures],
        }, default=str)
    context = {
        "post": post,
        "post_link": safe_link(post["url"]),
        "versions": versions,
        "events": events,
        "deletion": deletion,
        # what the archive saw: last seen live, then confirmed gone (the deletion happened in between)
        "observed_window": _span(post["last_seen_at"], deletion["at"]) if deletion else None,
        # what the source claims: publication date to the confirmed deletion
        "claimed_span": stayed_up(claimed_start, deletion["at"]) if deletion and claimed_start else None,
        "captures": captures,
        "citation": cite,
        "path": path,
        "bundle": datasette.urls.path(f"/-/bundle/{tilde_encode(platform)}/{tilde_encode(native_id)}.zip"),
        "feed": datasette.urls.path(f"/-/feed/post/{tilde_encode(platform)}/{tilde_encode(native_id)}.atom"),
        "author_feed": datasette.urls.path(f"/-/feed/author/{tilde_encode(platform)}/"
                                           f"{tilde_encode(post['author_handle'])}.atom")
        if post["author_handle"] else None,
        "source_feed": datasette.urls.path(f"/-/feed/source/{tilde_encode(post['source_id'])}.atom")
        if post["source_id"] else None,
        "query": query,
        "database": db.name,
    }
    return cached(datasette, Response.html(await datasette.render_template("archiver_post.html", context,
                                                                           request=request)))


_POST_FIELDS = ("platform", "native_id", "url", "author_handle", "author_name", "organisation", "kind",
                "published_at", "published_raw", "first_seen_at", "last_seen_at", "status", "title", "text",
                "version_count")
_VERSION_FIELDS = ("number", "title", "text", "content_sha256", "observed_at", "claimed_at", "extractor",
                   "extractor_version")


def _span(start: str | None, end: str | None) -> str | None:
    return stayed_up(start, end) if start and end else None


async def _highlight_versions(db: Database, versions: list[dict[str, Any]], query: str) -> None:
    """Each version's text with the search's terms in <mark> (FTS5 highlight, so the same words as the search)."""
    ids = ", ".join(str(int(version["id"])) for version in versions)
    try:
        marked = {row["rowid"]: row["text"] for row in await _rows(db, f"""
            SELECT rowid, highlight(versions_fts, 1, :start, :end) AS text FROM versions_fts
            WHERE versions_fts MATCH :q AND rowid IN ({ids})""", {"q": query, "start": HIT_START, "end": HIT_END})}
    except sqlite3.OperationalError:  # a malformed advanced query: the page is shown without marks
        return
    for version in versions:
        if version["id"] in marked:
            version["highlighted"] = highlight(marked[version["id"]])


def _details(details: str | None) -> dict[str, Any]:
    try:
        loaded = json.loads(details) if details else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _robots_sources(details: dict[str, Any]) -> list[dict[str, Any]]:
    """The robots.txt files a capture's robots decision was made from (fetch layer, `robots_txt`)."""
    listed = details.get("robots_txt", [])
    sources = []
    for item in listed if isinstance(listed, list) else []:
        if not isinstance(item, dict):
            continue
        sha256 = item.get("sha256")
        sources.append({"url": str(item.get("url")), "link": safe_link(item.get("url")),
                        "status": item.get("status"), "fetched_at": item.get("fetched_at"),
                        "sha256": sha256 if isinstance(sha256, str) and _SHA256.fullmatch(sha256) else None})
    return sources


async def payload_download(datasette: Any, request: Request) -> Response:
    """The raw bytes of a captured response, always as a download: archived HTML must never be
    rendered by the browser in the archive's origin."""
    db = await archive_database(datasette)
    sha256 = request.url_vars["sha256"]

    def read(conn: Any) -> tuple[str | None, bytes, str | None, str | None] | None:
        # an archived body may be longer than any value public SQL may make: read with the archive's own SQL
        with unbounded_values(conn):
            return conn.execute(f"""
                SELECT p.compression, p.data, c.requested_url, c.content_type
                FROM payloads p JOIN captures c ON c.id = (
                    SELECT min(id) FROM captures WHERE payload_sha256 = :sha AND {PUBLISHED_ROWS["captures"]}
                        AND json_extract(details, '$.withhold_payload') IS NULL)
                WHERE p.sha256 = :sha""", {"sha": sha256}).fetchone()

    found = await db.execute_fn(read)
    if not found:
        raise NotFound(f"no published payload {sha256}")
    body = decode_payload(found[0], found[1])
    return Response(body, content_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{download_name(found[2], found[3], sha256)}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        # addressed by its digest: these bytes never change
        "Cache-Control": "public, max-age=31536000, immutable",
    })


async def search_page(datasette: Any, request: Request) -> Response:
    db = await archive_database(datasette)
    form = {key: (request.args.get(key) or "").strip()
            for key in ("q", "account", "platform", "since", "until", "advanced")}
    errors = [f"{key} must be a date like 2024-05-31" for key in ("since", "until")
              if form[key] and not _DATE.match(form[key])]
    platforms = [row["platform"] for row in await _rows(db, _PLATFORMS)]
    results: list[dict[str, Any]] = []
    more = capped = False
    cap = int((datasette.plugin_config("archiver") or {}).get("search_cap", SEARCH_CAP))
    searched = any(value for key, value in form.items() if key != "advanced")
    if form["q"] and not await db.table_exists("versions_fts"):
        errors.append("This copy of the archive predates the search of every version (no versions_fts index): "
                      "`archiver init --db` on the file upgrades it.")
    if searched and not errors:
        try:
            results, more, capped = await _search(db, form, cap)
        except sqlite3.OperationalError as exc:  # only an advanced query can be malformed
            errors.append(f"Not a search this index understands ({exc}): see “How to search” below.")
    context = {"form": form, "errors": errors, "platforms": platforms, "results": results, "more": more,
               "searched": searched, "limit": SEARCH_LIMIT, "capped": capped, "cap": cap, "database": db.name,
               "operators": bool(form["q"] and not form["advanced"] and _OPERATORS.search(form["q"]))}
    return cached(datasette, Response.html(await datasette.render_template("archiver_search.html", context,
                                                                           request=request)))


async def feed_page(datasette: Any, request: Request) -> Response:
    """The Atom feed of the archive, or of one source, author (platform and handle) or post."""
    db = await archive_database(datasette)
    parts = {key: tilde_decode(value) for key, value in request.url_vars.items()}
    if "source" in parts:
        where, title = "p.source_id = :source", f"Statements of {parts['source']}"
    elif "author" in parts:
        where = "p.platform = :platform AND p.author_handle = :author"
        title = f"{parts['author']} on {parts['platform']}"
    elif "native_id" in parts:
        where = "p.platform = :platform AND p.native_id = :native_id"
        title = f"{parts['platform']} post {parts['native_id']}"
    else:
        where, title = "1", _packaged_metadata().get("title", "Archive")
    rows = await feed_entries(db, _PUBLISHED, where, parts)
    if "native_id" in parts and rows:
        title = f"Changes to “{rows[0]['title'] or parts['native_id']}”"
    body = atom(
        rows, title=f"{title}: new, edited and deleted statements",
        feed_url=datasette.absolute_url(request, request.path), page_url=datasette.absolute_url(request, "/"),
        post_url=lambda row: datasette.absolute_url(request, post_path(datasette, row["platform"], row["native_id"])))
    return cached(datasette, Response(body, content_type="application/atom+xml; charset=utf-8"))


def match_query(form: dict[str, str]) -> str:
    """The FTS5 query: the words as written (each a term, "quoted phrases" kept), or in advanced mode the
    reader's own FTS5 query (phrases, prefix*, OR, NOT, NEAR)."""
    return form["q"] if form["advanced"] else escape_fts(form["q"])


async def _search(db: Database, form: dict[str, str], cap: int) -> tuple[list[dict[str, Any]], bool, bool]:
    where = [_PUBLISHED]
    params: dict[str, Any] = {"limit": SEARCH_LIMIT + 1}
    matched = ""
    if form["q"]:
        # Every version is searched, so a word an edit removed is found. A word found in most posts would
        # make every match a candidate for the date sort (seconds on a million posts): the candidates are
        # the most recently archived matching versions, at most SEARCH_CAP, which the index yields newest
        # first without reading the rest.
        matched = """, matched AS (
            SELECT v.post_id, group_concat(v.number) AS numbers, max(v.number) AS last_number,
                   max(v.id) AS last_version
            FROM hits JOIN versions v ON v.id = hits.version_id GROUP BY v.post_id)"""
        where.append("p.id IN (SELECT post_id FROM matched)")
        params["q"] = match_query(form)
        params["cap"] = cap
    if form["account"]:
        where.append("(p.author_handle LIKE :account OR p.author_name LIKE :account OR s.organisation LIKE :account "
                     "OR s.name LIKE :account OR p.source_id = :account_exact)")
        params["account"] = f"%{form['account']}%"
        params["account_exact"] = form["account"]
    if form["platform"]:
        where.append("p.platform = :platform")
        params["platform"] = form["platform"]
    if form["since"]:
        where.append("coalesce(p.published_at, p.first_seen_at) >= :since")
        params["since"] = form["since"]
    if form["until"]:
        # times are ISO text: every time on that day sorts before the day followed by 'U' ('T' < 'U')
        where.append("coalesce(p.published_at, p.first_seen_at) < :until")
        params["until"] = form["until"] + "U"
    hits = ("WITH hits AS (SELECT rowid AS version_id FROM versions_fts WHERE versions_fts MATCH :q "
            "ORDER BY rowid DESC LIMIT :cap)" if form["q"] else "WITH hits AS (SELECT NULL AS version_id)")
    rows = await _rows(db, f"""
        {hits}{matched}
        SELECT p.id, p.platform, p.native_id, p.author_handle, p.author_name, s.organisation, p.published_at,
               p.first_seen_at, p.status, p.title, p.version_count, substr(p.text, 1, 280) AS excerpt
               {", m.numbers, m.last_number, m.last_version, (SELECT observed_at FROM versions later "
                "WHERE later.post_id = p.id AND later.number = m.last_number + 1) AS edited_out_at, "
                "EXISTS (SELECT 1 FROM hits WHERE version_id = p.current_version) AS in_current"
                if form["q"] else ""}
        FROM posts p LEFT JOIN sources s ON s.id = p.source_id
        {"JOIN matched m ON m.post_id = p.id" if form["q"] else ""}
        WHERE {' AND '.join(where)}
        ORDER BY coalesce(p.published_at, p.first_seen_at) DESC LIMIT :limit""", params)
    more = len(rows) > SEARCH_LIMIT
    rows = rows[:SEARCH_LIMIT]
    for row in rows:
        row["path"] = post_path(db.ds, row["platform"], row["native_id"])
    capped = False
    if form["q"]:
        found = await _rows(db, "SELECT count(*) AS n FROM (SELECT rowid FROM versions_fts WHERE versions_fts "
                                "MATCH :q ORDER BY rowid DESC LIMIT :over)", {"q": params["q"], "over": cap + 1})
        capped = found[0]["n"] > cap
    if form["q"] and rows:
        ids = ", ".join(str(int(row["last_version"])) for row in rows)
        snippets = {row["rowid"]: row["snippet"] for row in await _rows(db, f"""
            SELECT rowid, snippet(versions_fts, -1, :start, :end, '…', 24) AS snippet
            FROM versions_fts WHERE versions_fts MATCH :q AND rowid IN ({ids})""",
            {"q": params["q"], "start": HIT_START, "end": HIT_END})}
        for row in rows:
            row["snippet"] = highlight(snippets.get(row["last_version"]))
            row["matched_numbers"] = sorted(int(number) for number in str(row["numbers"]).split(","))
            row["only_earlier"] = not row["in_current"]
    return rows, more, capped
