"""What the public does not see: the rows of sources and posts marked `publish = 0`, with everything that
holds their content. One definition, used by the published snapshot (which leaves these rows out) and by
the live face (which hides them from every page it serves)."""

from __future__ import annotations

UNPUBLISHED_SOURCES = "SELECT id FROM sources WHERE publish = 0"
# two selects, not one OR: each finds its few rows in an index (posts_unpublished, posts_source_published)
UNPUBLISHED_POSTS = (f"SELECT id FROM posts WHERE publish = 0 "
                     f"UNION SELECT id FROM posts WHERE source_id IN ({UNPUBLISHED_SOURCES})")
# the captures an unpublished post was read from hold its content; so does all of an unpublished source's
UNPUBLISHED_CAPTURES = (f"SELECT capture_id FROM versions WHERE post_id IN ({UNPUBLISHED_POSTS}) "
                        f"UNION SELECT capture_id FROM events WHERE post_id IN ({UNPUBLISHED_POSTS}) "
                        f"UNION SELECT id FROM captures WHERE source_id IN ({UNPUBLISHED_SOURCES})")

# The live face keeps these as temporary views on each of its connections (made before the connection is
# locked down), so that the condition a table page gets is short enough to read in Datasette's filter line.
TEMP_VIEWS = {
    "unpublished_sources": UNPUBLISHED_SOURCES,
    "unpublished_posts": UNPUBLISHED_POSTS,
    "unpublished_captures": f"SELECT capture_id FROM ({UNPUBLISHED_CAPTURES}) WHERE capture_id IS NOT NULL",
}
# Per table, the condition a row must meet to be shown (an SQL expression on that table's columns).
PUBLISHED_ROWS = {
    "sources": "coalesce(publish, 1) = 1",
    "posts": "id NOT IN unpublished_posts",
    "versions": "post_id NOT IN unpublished_posts",
    "events": "post_id NOT IN unpublished_posts",
    "post_seen": "post_id NOT IN unpublished_posts",
    "captures": "id NOT IN unpublished_captures",
    "runs": "coalesce(source_id, '') NOT IN unpublished_sources",
    "source_state": "source_id NOT IN unpublished_sources",
    "source_versions": "source_id NOT IN unpublished_sources",
    "run_outcomes": "coalesce(source_id, '') NOT IN unpublished_sources",
    "sightings": "capture_id NOT IN unpublished_captures",
    "identity_conflicts": "post_id NOT IN unpublished_posts AND other_post_id NOT IN unpublished_posts",
}
