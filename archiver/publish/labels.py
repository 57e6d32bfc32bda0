"""Readable labels for the columns of Datasette's table views, and the key fields a phone shows of each
row. The SQL names stay what they are (`?_sort=`, `?_facet=` and SQL use them; the page shows each one
beside its label): the labels are only what a reader sees. One map, used by the table header on a wide
screen and by each row's card on a phone (templates/_table.html), computed once per column of a page,
never per cell; the rows themselves are printed by `table_body`, in Python."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette.utils import to_css_class
from markupsafe import Markup, escape

# A column name means the same in every table of the archive, so labels are keyed by name; a table that
# uses a name differently says so in TABLE_LABELS.
LABELS = {
    "id": "ID",
    "post_id": "Post",
    "capture_id": "Capture",
    "version_id": "Version",
    "run_id": "Run",
    "source_id": "Source",
    "checkpoint_id": "Checkpoint",
    "other_post_id": "Other post",
    "platform": "Platform",
    "native_id": "Platform's ID",
    "url": "Address",
    "author_id": "Author's account ID",
    "author_handle": "Author",
    "author_name": "Author's name",
    "kind": "Kind",
    "published_at": "Published (claimed)",
    "published_raw": "Published, as found",
    "published_where": "Where the date was found",
    "first_seen_at": "First seen",
    "last_seen_at": "Last seen live",
    "last_capture_id": "Last seen in capture",
    "status": "Status",
    "title": "Title",
    "text": "Text",
    "language": "Language",
    "reply_to": "Reply to",
    "quote_of": "Quote of",
    "repost_of": "Repost of",
    "media": "Media",
    "tags": "Tags",
    "version_count": "Versions",
    "current_version": "Current version",
    "publish": "Published here",
    "owner": "Owner",
    "number": "Version",
    "canonical_rule": "Canonical text rule",
    "extra": "Other content",
    "content_sha256": "Content SHA-256",
    "raw": "Raw fragment",
    "observed_at": "Seen",
    "claimed_at": "Made (claimed)",
    "extractor": "Extractor",
    "extractor_version": "Extractor version",
    "facts": "Facts",
    "type": "Event",
    "at": "When",
    "details": "Details",
    "method": "Method",
    "requested_url": "Requested URL",
    "final_url": "Final URL",
    "redirects": "Redirects",
    "http_version": "HTTP version",
    "request_headers": "Request headers",
    "response_headers": "Response headers",
    "started_at": "Started",
    "ended_at": "Ended",
    "server_ip": "Server IP",
    "user_agent": "User agent",
    "archiver_version": "Archiver version",
    "transferred_sha256": "SHA-256 as transferred",
    "transferred_size": "Bytes transferred",
    "payload_sha256": "Payload SHA-256",
    "size": "Bytes",
    "content_type": "Content type",
    "charset": "Character set",
    "robots": "robots.txt",
    "revisit_of": "Confirms capture",
    "error": "Error",
    "locator": "Fetched from",
    "name": "Name",
    "organisation": "Organisation",
    "role": "Role",
    "country": "Country",
    "schedule": "Schedule",
    "options": "Options",
    "enabled": "Enabled",
    "synced_at": "Synced",
    "scheduled_at": "Due",
    "outcome": "Outcome",
    "n_captures": "Captures",
    "n_new": "New",
    "n_edited": "Edited",
    "n_deleted": "Deleted",
    "post_ids": "Posts shown",
    "other_owner": "Other owner",
    "tree_size": "Tree size",
    "root_hash": "Root hash",
    "note": "Signed note",
    "created_at": "Created",
    "key_name": "Key name",
    "key_id": "Key ID",
    "public_key": "Verifier key",
    "tsa_url": "Timestamp authority",
    "response": "Response",
    "gen_time": "Timestamped",
    "head_seq": "Chain head entry",
    "head_sha256": "Chain head",
    "withheld_count": "Withheld rows",
    "withheld_sha256": "Withheld list SHA-256",
    "reasons": "Reasons",
    "table_name": "Table",
    "row_key": "Row",
    "reason": "Reason",
    "row_id": "Row",
    "seq": "Entry",
    "row_sha256": "Row SHA-256",
    "prev_sha256": "Previous entry SHA-256",
    "entry_sha256": "Entry SHA-256",
}
TABLE_LABELS = {
    ("sources", "id"): "Source",
    ("posts", "kind"): "Kind of post",
    ("captures", "kind"): "Kind of capture",
    ("runs", "kind"): "Kind of run",
    ("run_outcomes", "kind"): "Kind of run",
    ("runs", "error"): "Why it failed",
    ("run_outcomes", "error"): "Why it failed",
    ("sightings", "at"): "Seen",
    ("source_versions", "at"): "Since",
}
# What a phone shows of each row (its card): the rest is on the row's own page, one tap away. A table
# not listed shows every column.
KEY_COLUMNS = {
    "posts": ("id", "platform", "native_id", "author_handle", "title", "published_at", "first_seen_at", "status"),
    "versions": ("id", "post_id", "number", "title", "text", "observed_at"),
    "events": ("id", "post_id", "type", "at", "capture_id"),
    "captures": ("id", "kind", "requested_url", "status", "started_at", "content_type"),
    "sources": ("id", "name", "kind", "organisation", "locator", "enabled"),
    "source_versions": ("id", "source_id", "name", "kind", "locator", "at"),
    "runs": ("id", "source_id", "kind", "started_at", "outcome", "error"),
    "run_outcomes": ("id", "run_id", "source_id", "started_at", "outcome", "error"),
    "post_seen": ("post_id", "last_seen_at", "last_capture_id"),
    "sightings": ("id", "capture_id", "at"),
    "identity_conflicts": ("id", "platform", "native_id", "post_id", "other_post_id", "at"),
    "checkpoints": ("id", "tree_size", "root_hash", "created_at"),
    "checkpoint_keys": ("id", "key_name", "public_key", "created_at"),
    "checkpoint_timestamps": ("id", "checkpoint_id", "tsa_url", "gen_time"),
    "publications": ("id", "at", "head_seq", "withheld_count"),
}


def label(table: str, column: str) -> str:
    """The reader's name for `column` of `table`: the project's label, else the SQL name in words."""
    return TABLE_LABELS.get((table, column)) or LABELS.get(column) or column.replace("_", " ").capitalize()


def table_columns(table: str | None, columns: list[str]) -> list[dict[str, Any]]:
    """Per column of a table page: its label, and whether a phone's card shows it. `table` is None for a
    database that is not an archive, whose columns keep their names and all show."""
    if table is None:
        return [{"name": name, "label": name, "key": True} for name in columns]
    keys = KEY_COLUMNS.get(table)
    return [{"name": name, "label": label(table, name), "key": keys is None or name in keys} for name in columns]


_SORT_ARGS = ("_sort", "_sort_desc", "_next")


def sort_links(request: Any, columns: list[str], sort: str | None, fix_path: Callable[[str], str]) -> list[str]:
    """Each column's sort link in its header, as Datasette's own template makes it (the request's arguments
    with _sort, _sort_desc and _next replaced: descending for the column the rows are sorted by), the
    request's arguments parsed once per page instead of once per column."""
    kept = [(key, value) for key, value in parse_qsl(request.query_string) if key not in _SORT_ARGS]
    return [fix_path(f"{request.path}?{urlencode([*kept, ('_sort_desc' if name == sort else '_sort', name)])}")
            for name in columns]


@lru_cache(maxsize=4096)
def _cell_start(column: str, value_type: str) -> str:
    """A cell's opening tag: a page repeats each column's (and value type's) once per row."""
    return f'<td class="col-{escape(to_css_class(column))} type-{escape(value_type)}">'


def table_body(display_rows: Iterable[Iterable[dict[str, Any]]]) -> Markup:
    """The rows of a table page, each cell exactly as Datasette's own template prints it (its class from the
    column and the value's type, the value escaped unless Datasette or a plugin made it markup). Printed here
    rather than in the template: Jinja's async rendering checks every value of every cell for an awaitable,
    and the 520 cells of a page of posts made the template the largest part of the page's time."""
    parts = []
    for row in display_rows:
        parts.append("<tr>")
        parts.extend(f'{_cell_start(cell["column"], cell["value_type"])}{escape(cell["value"])}</td>' for cell in row)
        parts.append("</tr>\n")
    return Markup("".join(parts))
