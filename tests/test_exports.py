"""SQL exports: query results as CSV/JSON/JSONL read back equal to the database, in constant memory,
on a connection that cannot write; a dump that restores into an archive `verify` accepts; snapshots
that `datasette --immutable` serves."""

from __future__ import annotations

import base64
import csv
import io
import json
import sqlite3
import sys
import tracemalloc
import zlib
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from archiver.cli import main
from archiver.exports import export_query
from tests.test_publish import Built, build_archive, counts, free_port, start_datasette

QUERY = ("SELECT id, platform, native_id, title, text, version_count, published_at, NULL AS empty, 1.5 AS ratio "
         "FROM posts ORDER BY id")


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build_archive(tmp_path / "archive.db")


def expected(path: Path) -> tuple[list[str], list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    cursor = conn.execute(QUERY)
    columns = [c[0] for c in cursor.description]
    rows = cursor.fetchall()
    conn.close()
    return columns, rows


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_query_export_round_trips(built: Built, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"posts.{fmt}"
    code, _, err = run("export", "--db", str(built.path), "--sql", QUERY, "--format", fmt, "-o", str(out))
    assert code == 0, err
    assert "exported 3 rows" in err
    columns, rows = expected(built.path)
    text = out.read_text(encoding="utf-8")
    if fmt == "csv":
        read = list(csv.reader(io.StringIO(text, newline="")))
        assert read[0] == columns
        # CSV has only text: NULL is empty, numbers are their decimal form
        assert read[1:] == [["" if value is None else str(value) for value in row] for row in rows]
    else:
        objects = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
        assert objects == [dict(zip(columns, row, strict=True)) for row in rows]
    assert not list(tmp_path.glob("*.partial"))


def test_query_export_to_stdout_and_of_blobs(built: Built) -> None:
    code, out, err = run("export", "--db", str(built.path), "--sql",
                         "SELECT sha256, data, compression FROM payloads WHERE sha256 = "
                         f"'{built.payload_sha256}'", "--format", "jsonl")
    assert code == 0, err
    first = json.loads(out.splitlines()[0])
    data = base64.b64decode(first["data"])
    body = zlib.decompress(data) if first["compression"] == "zlib" else data
    assert body.startswith(b"<html>")
    code, out, _ = run("export", "--db", str(built.path), "--sql", "SELECT 1 AS x WHERE 0", "--format", "json")
    assert code == 0 and json.loads(out) == []


def test_export_streams_in_constant_memory(built: Built) -> None:
    """50,000 rows (about 6 MB of JSON) go through with a small, fixed peak of memory."""
    sql = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 50000) "
           "SELECT x, printf('%.100c', 'a') AS filler FROM n")

    class Counting(io.TextIOBase):
        size = 0

        def write(self, text: str) -> int:
            self.size += len(text)
            return len(text)

    sink = Counting()
    tracemalloc.start()
    try:
        rows = export_query(built.path, sql, "json", sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 50000 and sink.size > 5_000_000
    assert peak < 2_000_000, f"peak {peak} bytes: the export holds rows in memory"


@pytest.mark.parametrize("sql", [
    "DELETE FROM posts",
    "UPDATE posts SET text = 'rewritten'",
    "DROP TABLE posts",
    "INSERT INTO sources (id, kind, locator) VALUES ('evil', 'feed', 'x')",
    "ATTACH DATABASE 'evil.db' AS evil",
    "PRAGMA journal_mode = DELETE",
    "WITH x AS (SELECT 1) DELETE FROM posts",
])
def test_export_refuses_anything_but_reading(built: Built, tmp_path: Path, sql: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = counts(built.path)
    code, out, err = run("export", "--db", str(built.path), "--sql", sql, "--format", "csv")
    assert code == 2 and out == ""
    assert err.startswith("archiver: error: query ") and err.count("\n") == 1
    assert counts(built.path) == before
    assert not (tmp_path / "evil.db").exists()


def test_bad_query_is_one_line(built: Built) -> None:
    code, _, err = run("export", "--db", str(built.path), "--sql", "SELEC nothing")
    assert code == 2 and err == 'archiver: error: query failed: near "SELEC": syntax error\n'


def test_dump_restores_into_an_archive_that_verifies(built: Built, tmp_path: Path) -> None:
    dump = tmp_path / "archive.sql"
    code, _, err = run("export", "dump", "--db", str(built.path), str(dump))
    assert code == 0, err
    restored = tmp_path / "restored.db"
    conn = sqlite3.connect(restored)
    conn.executescript(dump.read_text(encoding="utf-8"))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite3.connect(built.path).execute(
        "PRAGMA user_version").fetchone()[0]
    # the full-text index was rebuilt, and the evidence tables are append-only again
    assert conn.execute("SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'framework'").fetchall() == [(built.edited,)]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM captures")
    conn.close()
    assert counts(restored) == counts(built.path)
    code, out, err = run("verify", "--db", str(restored))
    assert code == 0, err
    assert out.endswith("ok\n") and "4 payload digests" in out  # the robots.txt read first is one


def test_snapshot_is_consistent_and_served_immutable(built: Built, tmp_path: Path) -> None:
    snap = tmp_path / "snapshot.db"
    code, _, err = run("snapshot", "--db", str(built.path), str(snap))
    assert code == 0, err
    assert counts(snap) == counts(built.path)
    assert sqlite3.connect(snap).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    code, _, err = run("verify", "--db", str(snap))
    assert code == 0, err
    code, _, err = run("snapshot", "--db", str(built.path), str(snap))
    assert code == 2 and "already exists" in err

    port = free_port()
    command = [sys.executable, "-m", "datasette", "serve", "--immutable", str(snap), "--port", str(port)]
    server = start_datasette(command, f"http://127.0.0.1:{port}")
    try:
        posts = requests.get(f"{server.url}/snapshot/posts.json?_shape=objects", timeout=10).json()
    finally:
        server.stop()
    assert {row["id"] for row in posts["rows"]} == {built.edited, built.deleted, built.hostile}


def test_snapshot_without_payloads_keeps_digests_and_says_what_is_missing(built: Built, tmp_path: Path) -> None:
    snap = tmp_path / "light.db"
    code, out, err = run("snapshot", "--db", str(built.path), str(snap), "--without-payloads")
    assert code == 0, err
    assert "(withheld: 4 payloads)" in out
    conn = sqlite3.connect(snap)
    assert conn.execute("SELECT count(*) FROM payloads").fetchone() == (0,)
    original = sqlite3.connect(built.path)
    digests = "SELECT id, payload_sha256, transferred_sha256 FROM captures ORDER BY id"
    assert conn.execute(digests).fetchall() == original.execute(digests).fetchall()
    # the copy keeps its append-only protection, payloads included
    conn.execute("INSERT INTO payloads (sha256, size, compression, data) VALUES ('x', 1, 'none', X'00')")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM payloads")
    conn.close()
    assert counts(built.path)["payloads"] == 4  # the original is untouched
    code, out, err = run("verify", "--db", str(snap))
    assert code == 0, err  # the omission is declared: the copy verifies, and says what it lacks
    assert "withheld from this copy: 4 payloads" in out
    # a payload missing without being declared is still a broken archive
    conn = sqlite3.connect(snap)
    conn.execute("DELETE FROM withheld WHERE row_key = ?", (built.payload_sha256,))
    conn.commit()
    conn.close()
    code, _, err = run("verify", "--db", str(snap))
    assert code == 1 and f"payload {built.payload_sha256} is missing" in err


def test_published_only_snapshot_leaves_out_unpublished_posts_and_sources(tmp_path: Path) -> None:
    from archiver.archive import Archive
    from archiver.models import Exchange, Observation, PostDraft, VersionDraft

    def page(url: str, body: bytes, source: str, posts: list[PostDraft]) -> None:
        archive.record(Exchange(requested_url=url, method="GET", started_at="2026-11-01T10:00:00.000000Z",
                                status=200, body=body), Observation(posts=posts), source_id=source)

    def post(handle: str, native_id: str, text: str, publish: bool = True) -> PostDraft:
        return PostDraft(platform="bluesky", native_id=native_id, author_handle=handle, publish=publish,
                         versions=[VersionDraft(text=text, raw=f'{{"text": "{text}"}}')], extractor="test")

    db = tmp_path / "archive.db"
    with Archive(db, create=True) as archive:
        archive.sync_sources([
            {"id": "minister", "kind": "bluesky", "locator": "minister.example"},
            {"id": "private-person", "kind": "bluesky", "locator": "quiet.example"},  # labelled !no-unauthenticated
            {"id": "internal", "kind": "feed", "locator": "https://internal.example/feed", "publish": False}])
        page("https://bsky.example/minister", b'{"feed": "minister zebrafinch"}', "minister",
             [post("minister.example", "at://m/1", "We call for an inquiry zebrafinch")])
        page("https://bsky.example/quiet", b'{"feed": "quiet okapiword"}', "private-person",
             [post("quiet.example", "at://q/1", "Private words okapiword", publish=False)])
        page("https://bsky.example/quiet", b'{"feed": "quiet okapiword edited"}', "private-person",
             [post("quiet.example", "at://q/1", "Private words okapiword, edited", publish=False)])
        page("https://internal.example/feed", b"<rss>internal wombatword</rss>", "internal",
             [post("internal", "https://internal.example/1", "Internal note wombatword")])
    before = counts(db)
    snap = tmp_path / "public.db"
    code, out, err = run("snapshot", "--db", str(db), str(snap), "--published-only")
    assert code == 0, err
    assert "withheld: 3 captures, 3 events, 3 payloads, 3 sightings, 1 source_versions, 3 versions" in out, out
    after, before_chain = counts(db), before["chain"]
    assert after.pop("chain") == before.pop("chain") + 1  # the archive records the publication, nothing else
    assert after == before

    conn = sqlite3.connect(snap)
    assert conn.execute("SELECT native_id FROM posts").fetchall() == [("at://m/1",)]
    assert conn.execute("SELECT id FROM sources ORDER BY id").fetchall() == [("minister",), ("private-person",)]
    assert conn.execute("SELECT count(*) FROM versions").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM posts_fts WHERE posts_fts MATCH 'okapiword OR wombatword'"
                        ).fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM posts_fts WHERE posts_fts MATCH 'zebrafinch'").fetchone() == (1,)
    # the chain stays whole, and ends with the publication record
    assert conn.execute("SELECT count(*) FROM chain").fetchone() == (after_chain := before_chain + 1,)
    assert conn.execute("SELECT table_name FROM chain WHERE seq = ?", (after_chain,)).fetchone() == ("publications",)
    conn.close()
    raw = snap.read_bytes()  # vacuumed: no free page still holds what was left out
    for word in (b"okapiword", b"wombatword", b"internal.example"):
        assert word not in raw, word
    assert b"zebrafinch" in raw
    code, out, err = run("verify", "--db", str(snap))
    assert code == 0, err
    assert "withheld from this copy: 3 captures, 3 events, 3 payloads, 3 sightings, 1 source_versions, 3 versions" \
        in out


def test_csv_export_neutralises_formula_cells(built: Built) -> None:
    sql = ("SELECT '=HYPERLINK(\"http://x.test\",\"y\")' AS a, '+1' AS b, '-2+3' AS c, '@SUM(A1)' AS d, "
           "char(9) || '=1' AS e, char(13) || '=1' AS f, -5 AS g, 'plain -text' AS h, '' AS i, NULL AS j, "
           "'x' AS \"=cmd\"")
    code, out, err = run("export", "--db", str(built.path), "--sql", sql, "--format", "csv")
    assert code == 0, err
    header, row = list(csv.reader(io.StringIO(out, newline="")))
    assert header[-1] == "'=cmd"
    assert row == ["'=HYPERLINK(\"http://x.test\",\"y\")", "'+1", "'-2+3", "'@SUM(A1)", "'\t=1", "'\r=1",
                   "-5", "plain -text", "", "", "x"]  # a number is a number, not a formula
    code, kept, err = run("export", "--db", str(built.path), "--sql", sql, "--format", "csv", "--keep-formulas")
    assert code == 0, err
    assert list(csv.reader(io.StringIO(kept, newline="")))[1][:4] == [
        "=HYPERLINK(\"http://x.test\",\"y\")", "+1", "-2+3", "@SUM(A1)"]
    # JSON keeps every value exactly: only spreadsheets read CSV cells as formulas
    code, data, _ = run("export", "--db", str(built.path), "--sql", sql, "--format", "json")
    assert json.loads(data)[0]["b"] == "+1"
