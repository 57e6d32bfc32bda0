"""Atom feeds of new, edited and deleted statements: of the whole archive, of one source, of one author
and of one post. Links are absolute (a feed is read away from the site), times carry their zone, and an
"edited" entry holds the word diff from the version before it. Built with feedgen."""

from __future__ import annotations

import asyncio
from typing import Any

from datasette.utils import tilde_encode
from feedgen.feed import FeedGenerator
from markupsafe import Markup, escape

from archiver.models import parse_time
from archiver.publish.pages import word_diff

FEED_ENTRIES = 50
_TITLES = {"first_seen": "New", "edited": "Edited", "deleted": "Deleted"}
# the archive's events with what an entry shows; `where` narrows them to one source, author or post
EVENTS_SQL = """
    SELECT e.id, e.type, e.at, json_extract(e.details, '$.reason') AS reason, p.platform, p.native_id, p.title,
           p.author_name, p.author_handle, s.organisation, coalesce(v.text, p.text) AS text, v.number,
           previous.number AS previous_number, previous.text AS previous_text
    FROM events e JOIN posts p ON p.id = e.post_id LEFT JOIN sources s ON s.id = p.source_id
    LEFT JOIN versions v ON v.id = e.version_id
    -- an edit is shown against the version current before it: an earlier version found late never was
    LEFT JOIN versions previous ON e.type = 'edited' AND previous.id = (
        SELECT max(b.id) FROM versions b WHERE b.post_id = v.post_id AND b.id < v.id AND b.id NOT IN (
            SELECT version_id FROM events WHERE post_id = v.post_id AND type = 'earlier_version'))
    WHERE e.type IN ('first_seen', 'edited', 'deleted') AND {published} AND {where}
    ORDER BY e.id DESC LIMIT {limit}"""


def diff_html(old: str | None, new: str | None) -> str:
    """The word diff as HTML: archived text escaped, deletions in <del>, insertions in <ins>."""
    segments = word_diff(old, new)
    if segments is None:
        return "<p>The versions are too long to compare in a feed; the post's page shows both.</p>"
    parts = []
    for operation, text in segments:
        tag = {"del": "del", "ins": "ins"}.get(operation)
        parts.append(Markup("<{0}>{1}</{0}>").format(tag, text) if tag else escape(text))
    return str(Markup('<p style="white-space: pre-wrap">{}</p>').format(Markup("").join(parts)))


def _content(row: dict[str, Any]) -> str:
    if row["type"] == "edited" and row["previous_text"] is not None:
        return (str(Markup("<p>Changes from version {}:</p>").format(row["previous_number"]))
                + diff_html(row["previous_text"], row["text"]))
    if row["type"] == "deleted":
        return str(Markup("<p>Confirmed deleted{}.</p>").format(f" ({row['reason']})" if row["reason"] else ""))
    return str(Markup('<p style="white-space: pre-wrap">{}</p>').format(row["text"] or ""))


def atom(rows: list[dict[str, Any]], *, title: str, feed_url: str, page_url: str,
         post_url: Any) -> bytes:
    """The feed XML. `post_url(row)` is the absolute address of the post an entry is about."""
    feed = FeedGenerator()
    feed.id(feed_url)
    feed.title(title)
    feed.link(href=feed_url, rel="self")
    feed.link(href=page_url, rel="alternate")
    feed.updated(parse_time(rows[0]["at"]) if rows else parse_time("1970-01-01T00:00:00Z"))
    for row in reversed(rows):  # feedgen puts each added entry first: add oldest first, newest ends on top
        entry = feed.add_entry()
        # the same in every copy and after a rebuild: what happened to which post, and when
        entry.id(f"tag:archiver,2024:{row['platform']}:{tilde_encode(row['native_id'])}:{row['type']}:{row['at']}")
        who = row["author_name"] or row["author_handle"] or row["organisation"] or row["platform"]
        entry.title(f"{_TITLES[row['type']]}: {who} - {row['title'] or (row['text'] or '')[:80] or row['native_id']}")
        entry.updated(parse_time(row["at"]))
        link = post_url(row) + (f"#version-{row['number']}" if row["type"] == "edited" and row["number"] else "")
        entry.link(href=link, rel="alternate")
        if row["author_name"] or row["author_handle"]:
            entry.author(name=row["author_name"] or row["author_handle"])
        entry.content(_content(row), type="html")
    return feed.atom_str(pretty=True)


async def feed_entries(db: Any, published: str, where: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    results = await db.execute(EVENTS_SQL.format(published=published, where=where, limit=FEED_ENTRIES), params)
    rows = [dict(row) for row in results.rows]
    # word diffs are CPU work: computed (and cached) in a thread, off the event loop
    await asyncio.to_thread(lambda: [word_diff(r["previous_text"], r["text"]) for r in rows
                                     if r["type"] == "edited" and r["previous_text"] is not None])
    return rows
