"""Facet counts of a published copy: how many rows of a table hold each value of a column, counted once
when the copy is made (the copy never changes after), so that a public face reads a reader's `?_facet=`
of a whole table from a few rows instead of grouping every row on every page view."""

from __future__ import annotations

import sqlite3

# The columns a reader facets a large table by (each an index's first column, or a short scan); the face
# counts any other column, or a filtered table, as Datasette does.
FACET_COLUMNS: dict[str, tuple[str, ...]] = {
    "posts": ("platform", "author_handle", "status", "source_id"),
    "events": ("type",),
}


def recount_sql() -> str:
    """One SELECT of every kept count as the tables hold them now: (table_name, column_name, value, count)."""
    return " UNION ALL ".join(
        f"SELECT '{table}' AS table_name, '{column}' AS column_name, {column} AS value, count(*) AS count "
        f"FROM {table} WHERE {column} IS NOT NULL GROUP BY {column}"
        for table, columns in FACET_COLUMNS.items() for column in columns)


def count_facets(conn: sqlite3.Connection) -> None:
    """Fill `facet_counts` from the tables as they are now (in the snapshot's own transaction)."""
    conn.execute("DELETE FROM facet_counts")
    conn.execute(f"INSERT INTO facet_counts (table_name, column_name, value, count) {recount_sql()}")


def counted(conn: sqlite3.Connection, table: str, column: str, limit: int) -> list[tuple[object, int]] | None:
    """The `limit` most frequent values of `table.column` with their counts, most frequent first (ties by
    value, as Datasette orders a facet), or None when the copy holds no counts for it."""
    if column not in FACET_COLUMNS.get(table, ()):
        return None
    rows = conn.execute("SELECT value, count FROM facet_counts WHERE table_name = ? AND column_name = ? "
                        "ORDER BY count DESC, value LIMIT ?", (table, column, limit)).fetchall()
    if not rows and conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} IS NOT NULL)").fetchone()[0]:
        return None  # a copy made before the counts were kept
    return [(value, count) for value, count in rows]
