"""Making an SQLite connection unable to change anything: shared by the Datasette plugin (every
connection Datasette opens on the archive) and by the SQL exports.

Two layers, because either alone has gaps: `PRAGMA query_only` makes SQLite refuse any change to
the database file, and an authorizer refuses, at prepare time, statements that could change
something else or reach another file (ATTACH, setting a pragma, schema changes)."""

from __future__ import annotations

import sqlite3

# Pragmas that only report: allowed with an argument (a table or index name), never a value change.
READ_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "database_list", "function_list", "module_list", "pragma_list",
    "compile_options", "collation_list",
})
# Pragmas that report a value when called without an argument (and change it with one).
_QUERY_PRAGMAS = frozenset({"schema_version", "user_version", "data_version", "journal_mode", "page_size",
                            "page_count", "freelist_count", "encoding", "query_only", "foreign_keys"})

_DENIED_ACTIONS = frozenset({
    sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE,
    sqlite3.SQLITE_DELETE, sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_REINDEX, sqlite3.SQLITE_ANALYZE,
    sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_CREATE_TEMP_INDEX,
    sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_TRIGGER, sqlite3.SQLITE_CREATE_TEMP_VIEW,
    sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_DROP_VIEW,
    sqlite3.SQLITE_DROP_VTABLE, sqlite3.SQLITE_DROP_TEMP_INDEX, sqlite3.SQLITE_DROP_TEMP_TABLE,
    sqlite3.SQLITE_DROP_TEMP_TRIGGER, sqlite3.SQLITE_DROP_TEMP_VIEW, sqlite3.SQLITE_SAVEPOINT,
})


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        # SQLite asks this while connecting a virtual table (the full-text index) to the schema;
        # nothing is written (query_only), and writing the schema for real needs a denied pragma
        return sqlite3.SQLITE_OK
    if action in _DENIED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in READ_PRAGMAS or (name in _QUERY_PRAGMAS and arg2 is None):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def lock_down(conn: sqlite3.Connection) -> None:
    """Make `conn` read-only for good: nothing executed on it afterwards can write or attach."""
    conn.execute("PRAGMA query_only = 1")
    conn.set_authorizer(_authorize)
