"""Making an SQLite connection unable to change anything: shared by the Datasette plugin (every
connection Datasette opens on the archive) and by the SQL exports.

Two layers, because either alone has gaps: `PRAGMA query_only` makes SQLite refuse any change to
the database file, and an authorizer refuses, at prepare time, statements that could change
something else or reach another file (ATTACH, setting a pragma, schema changes).

A connection that strangers query (the public face) is also bounded by construction (`bound`): SQLite's
time limit works through the progress handler, which cannot interrupt one expensive function call
(`hex(zeroblob(4e8))`, `printf('%.*c', 1e9, 'x')`), so every value, statement and result has a size
limit that SQLite or the row factory enforces while the query runs, and only the functions a reader
needs can be called."""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


# What a reader may call: core, date, math, JSON, window and aggregate functions, full-text search
# auxiliaries and Datasette's own escape_fts. Left out: load_extension, fts3_tokenizer (leaks a library
# address, takes a pointer), fts5() (hands out the API pointer), sqlite_log, the rtree debugging
# functions, zeroblob / randomblob (no reader needs to make bytes; the length limit bounds them anyway)
# and printf / format: SQLite 3.40 loops once per character of a requested precision (`%.*c` with 1e9
# takes seconds) even after the length limit has stopped the output.
READER_FUNCTIONS = frozenset({
    "->", "->>", "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "avg", "bm25", "ceil",
    "ceiling", "changes", "char", "coalesce", "concat", "concat_ws", "cos", "cosh", "count", "cume_dist",
    "current_date", "current_time", "current_timestamp", "date", "datetime", "degrees", "dense_rank",
    "escape_fts", "exp", "first_value", "floor", "fts5_source_id", "glob", "group_concat", "hex",
    "highlight", "ifnull", "iif", "instr", "julianday", "lag", "last_insert_rowid", "last_value", "lead",
    "length", "like", "likelihood", "likely", "ln", "log", "log10", "log2", "lower", "ltrim", "match", "max",
    "median", "min", "mod", "nth_value", "ntile", "nullif", "octet_length", "percent_rank", "pi", "pow",
    "power", "quote", "radians", "random", "rank", "replace", "round", "row_number", "rtrim",
    "sign", "sin", "sinh", "snippet", "soundex", "sqlite_compileoption_get", "sqlite_compileoption_used",
    "sqlite_source_id", "sqlite_version", "sqrt", "strftime", "string_agg", "substr", "substring", "subtype",
    "sum", "tan", "tanh", "time", "timediff", "total", "total_changes", "trim", "trunc", "typeof", "unhex",
    "unicode", "unixepoch", "unlikely", "upper",
})

# Limits for a connection strangers query (sqlite3.Connection.setlimit): one value at most 2 MB (the
# longest archived text is far shorter; payload bytes are read with `unbounded_values`), one statement
# at most 100 kB, no attached database, shallow expressions, and no sorter worker threads.
READER_LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: 2_000_000,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_COLUMN: 200,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 100,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 64,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 1_000,
    sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH: 10,
    sqlite3.SQLITE_LIMIT_WORKER_THREADS: 0,
}
# All values of one result together (the rows Datasette keeps in memory to render one page).
RESULT_BYTES = 16_000_000


class ResultTooLarge(sqlite3.OperationalError):
    pass


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


def _authorize_reader(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    if action == sqlite3.SQLITE_FUNCTION:
        name = (arg2 or "").lower()
        allowed = name in READER_FUNCTIONS or name.startswith(("json", "jsonb"))
        return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
    return _authorize(action, arg1, arg2, db, trigger)


class _ResultBudget:
    """A row factory (sqlite3.Row rows, as Datasette expects) that stops a result once its values add up to
    more than `limit` bytes: the error ends the query before the rows fill the server's memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent: weakref.WeakKeyDictionary[sqlite3.Cursor, int] = weakref.WeakKeyDictionary()

    def __call__(self, cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> sqlite3.Row:
        size = sum(len(value) if isinstance(value, str | bytes) else 8 for value in row)
        total = self.spent.get(cursor, 0) + size
        if total > self.limit:
            raise ResultTooLarge(f"result larger than {self.limit:,} bytes: select fewer rows or shorter values")
        self.spent[cursor] = total
        return sqlite3.Row(cursor, row)


def _instr(haystack: Any, needle: Any) -> int | None:
    """SQLite's instr(), in linear time: the built-in compares the needle at every position (a 2 MB text and
    a 500 kB needle that fails at its last byte take seconds, in one call no time limit can interrupt)."""
    if haystack is None or needle is None:
        return None
    if isinstance(haystack, bytes) and isinstance(needle, bytes):
        return haystack.find(needle) + 1
    return str(haystack).find(str(needle)) + 1


def bound(conn: sqlite3.Connection) -> None:
    """Bound what any statement on `conn` can cost in memory (see the module notes); after `lock_down`."""
    for limit, value in READER_LIMITS.items():
        conn.setlimit(limit, value)
    conn.create_function("instr", 2, _instr, deterministic=True)
    conn.set_authorizer(_authorize_reader)
    conn.row_factory = _ResultBudget(RESULT_BYTES)


@contextmanager
def unbounded_values(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`conn` able to read one long value (an archived payload) with the archive's own SQL, then bounded again."""
    length = conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH)
    factory = conn.row_factory
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000_000)
    conn.row_factory = None
    try:
        yield conn
    finally:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, length)
        conn.row_factory = factory
