"""The search indexes are filled by the writer once per transaction, not by triggers: after new posts,
edits of every searched column, posts added and edited in one transaction, rolled-back savepoints and a
failed commit, each index holds exactly what indexing its table from scratch gives (every term, in every
document, column and position), and an update writes only the columns that changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from archiver import verify as verify_module
from archiver.archive import Archive
from archiver.models import Observation, PostDraft, VersionDraft
from archiver.verify import verify
from tests.test_archive import exchange, post

TOKENIZER = "unicode61 remove_diacritics 2"
INDEXES = {"posts_fts": ("posts", "title, text, author_handle, author_name"),
           "versions_fts": ("versions", "title, text")}


def differences(conn: sqlite3.Connection, index: str) -> list[tuple[object, ...]]:
    """Entries (term, document, column, offset) in which `index` and a fresh index of its table differ."""
    table, columns = INDEXES[index]
    conn.execute(f"CREATE VIRTUAL TABLE temp.fresh_{index} USING fts5 ({columns}, tokenize = '{TOKENIZER}')")
    conn.execute(f"INSERT INTO temp.fresh_{index} (rowid, {columns}) SELECT id, {columns} FROM {table}")
    conn.execute(f"CREATE VIRTUAL TABLE temp.held_{index}_terms USING fts5vocab (main, {index}, instance)")
    conn.execute(f"CREATE VIRTUAL TABLE temp.fresh_{index}_terms USING fts5vocab (temp, fresh_{index}, instance)")
    # counted, so that an entry indexed twice differs too
    held, fresh = (f"(SELECT *, count(*) FROM temp.{name}_{index}_terms GROUP BY term, doc, col, offset)"
                   for name in ("held", "fresh"))
    entries = conn.execute(f"SELECT * FROM (SELECT * FROM {held} EXCEPT SELECT * FROM {fresh}) UNION ALL "
                           f"SELECT * FROM (SELECT * FROM {fresh} EXCEPT SELECT * FROM {held})").fetchall()
    # and what ranking reads: each document's size, and the totals (rows, tokens per column) of record 1
    for kept in ("docsize", "data WHERE id = 1"):
        held_rows = conn.execute(f"SELECT * FROM main.{index}_{kept}").fetchall()
        fresh_rows = conn.execute(f"SELECT * FROM temp.fresh_{index}_{kept}").fetchall()
        if sorted(held_rows) != sorted(fresh_rows):
            entries.append((kept, held_rows, fresh_rows))
    return entries


def assert_indexes_exact(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        for index, (table, _) in INDEXES.items():
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0
            assert differences(conn, index) == [], index
    finally:
        conn.close()
    assert verify(path).ok


def by(handle: str, native_id: str, text: str, title: str | None = None) -> PostDraft:
    draft = post(native_id, text, title)
    draft.author_handle = handle
    return draft


def found(archive: Archive, query: str) -> list[str]:
    return [row[0] for row in archive.conn.execute(
        "SELECT p.native_id FROM posts_fts f JOIN posts p ON p.id = f.rowid WHERE posts_fts MATCH ? "
        "ORDER BY p.native_id", (query,))]


def test_new_posts_edits_of_every_searched_column_and_repeats_in_one_transaction(archive: Archive) -> None:
    archive.record(exchange(b"1"), Observation(posts=[by("ministry", "a", "ceasefire talks", "Talks"),
                                                      by("ministry", "b", "water access"),
                                                      by("council", "c", "detention report")]))
    with archive.transaction():  # as the writer thread batches pages: one transaction, a savepoint each
        archive.record(exchange(b"1e"), Observation(posts=[by("office", "e", "first statement")]))
        archive.record(exchange(b"2e"), Observation(posts=[by("office", "e", "second statement")]))
    with archive.transaction():
        archive.record(exchange(b"2"), Observation(posts=[by("ministry", "a", "ceasefire agreed", "Agreement"),
                                                          by("office", "b", "water access restored"),
                                                          by("council", "d", "new inquiry")]))
        archive.record(exchange(b"3"), Observation(posts=[by("council", "d", "new inquiry opened"),
                                                          by("council", "c", "detention report")]))
    assert found(archive, "agreed") == ["a"] and found(archive, "talks") == []
    assert found(archive, "author_handle:office") == ["b", "e"] and found(archive, "author_handle:ministry") == ["a"]
    assert found(archive, "opened") == ["d"] and found(archive, "first") == []
    versions = archive.conn.execute(
        "SELECT count(*) FROM versions_fts WHERE versions_fts MATCH 'talks OR inquiry OR statement'")
    assert versions.fetchone()[0] == 5  # every version stays searchable: a's first, d's and e's two
    assert_indexes_exact(archive.path)


def test_a_rolled_back_savepoint_and_a_failed_commit_leave_the_indexes_exact(archive: Archive) -> None:
    archive.record(exchange(b"1"), Observation(posts=[by("ministry", "a", "first words"), by("ministry", "b", "x")]))
    with archive.transaction():
        archive.record(exchange(b"2"), Observation(posts=[by("ministry", "c", "kept words")]))
        with pytest.raises(ValueError), archive.transaction():  # an item that fails after its edits
            archive.record(exchange(b"3"), Observation(posts=[by("ministry", "a", "rolled back words"),
                                                              by("ministry", "c", "also rolled back")]))
            raise ValueError("the item fails")
        archive.record(exchange(b"4"), Observation(posts=[by("office", "b", "y")]))
    with pytest.raises(sqlite3.IntegrityError), archive.transaction():  # fails at COMMIT: nothing of it stays
        archive.conn.execute("PRAGMA defer_foreign_keys = ON")
        archive.record(exchange(b"5"), Observation(posts=[by("ministry", "a", "lost words"),
                                                          by("ministry", "e", "lost post")]), run_id=999_999)
    assert found(archive, "rolled OR lost") == [] and found(archive, "first") == ["a"]
    assert found(archive, "kept") == ["c"] and found(archive, "author_handle:office") == ["b"]
    assert_indexes_exact(archive.path)


def test_an_edit_writes_only_the_columns_that_changed(archive: Archive) -> None:
    archive.record(exchange(b"1"), Observation(posts=[by("ministry", "a", "first text", "Title")]))
    written: list[str] = []
    archive.conn.set_trace_callback(written.append)
    try:
        archive.record(exchange(b"2"), Observation(posts=[by("ministry", "a", "second text", "Title")]))
    finally:
        archive.conn.set_trace_callback(None)
    updates = [sql for sql in written if sql.startswith("UPDATE posts")]
    assert len(updates) == 1
    assert updates[0].startswith("UPDATE posts SET text = 'second text', version_count = 2, current_version = 2 ")
    edited = PostDraft(platform="web", native_id="a", url="https://example.org/a", author_handle="ministry",
                       language="fr", extractor="test", versions=[VersionDraft(text="third text", title="Title")])
    archive.record(exchange(b"3"), Observation(posts=[edited]))
    row = archive.conn.execute("SELECT text, language, version_count FROM posts").fetchone()
    assert tuple(row) == ("third text", "fr", 3)
    assert_indexes_exact(archive.path)


def test_verify_finds_an_exact_index_equal_by_its_merged_pages(archive: Archive,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # an index written over many transactions, with edits (deleted entries) among them, is merged to
    # the same pages as one built at once: verify never needs to compare the entries one by one
    words = ["ceasefire", "talks", "water", "access", "detention", "report", "inquiry", "council", "minister"]
    for page in range(40):
        posts = [by("ministry", f"p{n}", " ".join(words[(n * 7 + k * page) % len(words)] + str(k % 13)
                                                  for k in range(60)), f"Title {n} {page}")
                 for n in range(page % 7, page % 7 + 12)]
        archive.record(exchange(f"page {page}".encode()), Observation(posts=posts))
    assert archive.conn.execute("SELECT count(*) FROM versions").fetchone()[0] > 200

    def entries_compared(*args: object) -> None:
        raise AssertionError("the merged pages differed")

    monkeypatch.setattr(verify_module, "_differing_entries", entries_compared)
    assert verify(archive.path, jobs=1).ok
    assert_indexes_exact(archive.path)
