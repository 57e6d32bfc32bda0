"""The archive's Datasette plugin: locks every connection down to reading, refuses the permissions
that could change or bulk-download the archive, and adds the pages a researcher needs (a post with
its versions, diffs, events and provenance; search; raw payload download)."""

from __future__ import annotations

import json
import re
from typing import Any

from datasette import hookimpl
from datasette.database import Database
from datasette.utils import escape_fts
from datasette.utils.asgi import NotFound, Request, Response
from markupsafe import Markup

from archiver.payloads import decode_payload
from archiver.publish.pages import HIT_END, HIT_START, highlight, safe_link, stayed_up, word_diff
from archiver.readonly import lock_down

SEARCH_LIMIT = 50
# The distinct platforms, one index seek each: a plain DISTINCT reads the whole platform index.
_PLATFORMS = """
    WITH RECURSIVE seen (platform) AS (
        SELECT min(platform) FROM posts
        UNION ALL SELECT (SELECT min(platform) FROM posts WHERE platform > seen.platform) FROM seen
        WHERE seen.platform IS NOT NULL)
    SELECT platform FROM seen WHERE platform IS NOT NULL"""
SEARCH_CAP = 5000  # full-text matches considered per search, newest archived first (plugin setting search_cap)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# A post (or a payload) is published unless it or its source says otherwise.
_PUBLISHED = "p.publish = 1 AND coalesce(s.publish, 1) = 1"


# -- lock-down ----------------------------------------------------------------------------------

@hookimpl
def prepare_connection(conn: Any, database: str, datasette: Any) -> None:
    # Datasette's own in-memory databases (_internal, and _memory used by /-/versions to probe
    # features) hold nothing of the archive and must stay writable for Datasette itself
    served = datasette.databases.get(database)
    if database in ("_internal", "_memory") or (served is not None and served.is_memory):
        return
    lock_down(conn)


@hookimpl
def permission_allowed(datasette: Any, actor: Any, action: str, resource: Any) -> Any:
    if action == "view-database-download":
        return False
    if action == "view-query":
        async def inner() -> bool | None:
            database, name = resource
            query = await datasette.get_canned_query(database, name, actor)
            return False if query and query.get("write") else None
        return inner
    return None


# -- presentation hooks -------------------------------------------------------------------------

@hookimpl
def extra_css_urls() -> list[str]:
    return ["/archiver-static/archiver.css"]


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]]:
    return [{"href": datasette.urls.path("/-/search"), "label": "Search statements"}]


@hookimpl
def render_cell(value: Any, column: str, table: str | None, datasette: Any) -> Markup | None:
    # in query results (canned queries), a post_id column links to the post's own page
    if table is None and column == "post_id" and isinstance(value, int):
        href = datasette.urls.path(f"/-/post/{value}")
        return Markup(f'<a href="{href}">post {value}</a>')
    return None


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/post/(?P<post_id>\d+)$", post_page),
        (r"^/-/payload/(?P<sha256>[0-9a-f]{64})$", payload_download),
        (r"^/-/search$", search_page),
    ]


# -- pages --------------------------------------------------------------------------------------

async def archive_database(datasette: Any) -> Database:
    """The database holding the archive: the plugin's `database` setting, or the first one with posts."""
    configured = (datasette.plugin_config("archiver") or {}).get("database")
    if configured:
        return datasette.get_database(configured)
    for name, db in datasette.databases.items():
        if name != "_internal" and not db.is_memory and await db.table_exists("posts"):
            return db
    raise NotFound("no archive database is being served")


async def _rows(db: Database, sql: str, params: Any = None) -> list[dict[str, Any]]:
    results = await db.execute(sql, params or {}, truncate=False)
    return [dict(row) for row in results.rows]


async def post_page(datasette: Any, request: Request) -> Response:
    db = await archive_database(datasette)
    post_id = int(request.url_vars["post_id"])
    found = await _rows(db, f"""
        SELECT p.*, s.name AS source_name, s.organisation AS organisation, seen.last_seen_at,
               seen.last_capture_id
        FROM posts p LEFT JOIN sources s ON s.id = p.source_id LEFT JOIN post_seen seen ON seen.post_id = p.id
        WHERE p.id = :id AND {_PUBLISHED}""", {"id": post_id})
    if not found:
        raise NotFound(f"no published post {post_id}")
    post = found[0]
    versions = await _rows(db, """
        SELECT id, number, title, text, content_sha256, capture_id, observed_at, claimed_at, extractor,
               extractor_version
        FROM versions WHERE post_id = :id ORDER BY number""", {"id": post_id})
    previous = None
    for version in versions:
        version["diff"] = word_diff(previous["text"], version["text"]) if previous else None
        version["title_changed"] = previous is not None and previous["title"] != version["title"]
        previous = version
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
        capture["requested_link"] = safe_link(capture["requested_url"])
        capture["final_link"] = safe_link(capture["final_url"])
        capture["robots_txt"] = _robots_sources(capture.pop("details"))
    context = {
        "post": post,
        "post_link": safe_link(post["url"]),
        "versions": versions,
        "events": events,
        "deletion": deletion,
        "stayed_up": stayed_up(post["published_at"] or post["first_seen_at"], deletion["at"] if deletion else None),
        "captures": captures,
        "database": db.name,
    }
    return Response.html(await datasette.render_template("archiver_post.html", context, request=request))


def _robots_sources(details: str | None) -> list[dict[str, Any]]:
    """The robots.txt files a capture's robots decision was made from (fetch layer, `robots_txt`)."""
    try:
        listed = json.loads(details).get("robots_txt", []) if details else []
    except (ValueError, AttributeError):
        return []
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
    found = await _rows(db, """
        SELECT compression, data FROM payloads WHERE sha256 = :sha AND EXISTS (
            SELECT 1 FROM captures c LEFT JOIN sources s ON s.id = c.source_id
            WHERE c.payload_sha256 = :sha AND coalesce(s.publish, 1) = 1
              AND json_extract(c.details, '$.withhold_payload') IS NULL)""", {"sha": sha256})
    if not found:
        raise NotFound(f"no published payload {sha256}")
    body = decode_payload(found[0]["compression"], found[0]["data"])
    return Response(body, content_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{sha256}.bin"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    })


async def search_page(datasette: Any, request: Request) -> Response:
    db = await archive_database(datasette)
    form = {key: (request.args.get(key) or "").strip() for key in ("q", "account", "platform", "since", "until")}
    errors = [f"{key} must be a date like 2024-05-31" for key in ("since", "until")
              if form[key] and not _DATE.match(form[key])]
    platforms = [row["platform"] for row in await _rows(db, _PLATFORMS)]
    results: list[dict[str, Any]] = []
    more = capped = False
    cap = int((datasette.plugin_config("archiver") or {}).get("search_cap", SEARCH_CAP))
    searched = any(form.values())
    if searched and not errors:
        results, more, capped = await _search(db, form, cap)
    context = {"form": form, "errors": errors, "platforms": platforms, "results": results, "more": more,
               "searched": searched, "limit": SEARCH_LIMIT, "capped": capped,
               "cap": cap, "database": db.name}
    return Response.html(await datasette.render_template("archiver_search.html", context, request=request))


async def _search(db: Database, form: dict[str, str], cap: int) -> tuple[list[dict[str, Any]], bool, bool]:
    where = [_PUBLISHED]
    params: dict[str, Any] = {"limit": SEARCH_LIMIT + 1}
    if form["q"]:
        # A word found in most posts would make every match a candidate for the date sort (seconds on
        # a million posts): the candidates are the most recently archived matches, at most SEARCH_CAP,
        # which the full-text index yields newest first without reading the rest.
        where.append("p.id IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH :q ORDER BY rowid DESC LIMIT :cap)")
        params["q"] = escape_fts(form["q"])
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
    rows = await _rows(db, f"""
        SELECT p.id, p.platform, p.author_handle, p.author_name, s.organisation, p.published_at, p.first_seen_at,
               p.status, p.title, p.version_count, substr(p.text, 1, 280) AS excerpt
        FROM posts p LEFT JOIN sources s ON s.id = p.source_id
        WHERE {' AND '.join(where)}
        ORDER BY coalesce(p.published_at, p.first_seen_at) DESC LIMIT :limit""", params)
    more = len(rows) > SEARCH_LIMIT
    rows = rows[:SEARCH_LIMIT]
    capped = False
    if form["q"]:
        found = await _rows(db, "SELECT count(*) AS n FROM (SELECT rowid FROM posts_fts WHERE posts_fts MATCH :q "
                                "ORDER BY rowid DESC LIMIT :over)", {"q": params["q"], "over": cap + 1})
        capped = found[0]["n"] > cap
    if form["q"] and rows:
        ids = ", ".join(str(int(row["id"])) for row in rows)
        snippets = {row["rowid"]: row["snippet"] for row in await _rows(db, f"""
            SELECT rowid, snippet(posts_fts, -1, :start, :end, '…', 24) AS snippet
            FROM posts_fts WHERE posts_fts MATCH :q AND rowid IN ({ids})""",
            {"q": params["q"], "start": HIT_START, "end": HIT_END})}
        for row in rows:
            row["snippet"] = highlight(snippets.get(row["id"]))
    return rows, more, capped
