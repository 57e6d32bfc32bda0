"""The archive writer's evidence rules, on real SQLite files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver.archive import Archive, WriterThread
from archiver.cli import main
from archiver.models import Exchange, Gone, Observation, PostDraft, VersionDraft, utcnow
from archiver.verify import verify
from tests.tampering import unguarded


def exchange(body: bytes | None, url: str = "https://example.org/feed", status: int = 200) -> Exchange:
    return Exchange(requested_url=url, method="GET", started_at=utcnow(), ended_at=utcnow(), status=status,
                    body=body, final_url=url, response_headers=[("Content-Type", "text/plain")])


def post(native_id: str, text: str, title: str | None = None, **extra: object) -> PostDraft:
    return PostDraft(platform="web", native_id=native_id, url=f"https://example.org/{native_id}",
                     versions=[VersionDraft(text=text, title=title, extra=dict(extra), raw=f"<p>{text}</p>")],
                     extractor="test")


def count(archive: Archive, sql: str, *args: object) -> int:
    return archive.conn.execute(sql, args).fetchone()[0]


def test_same_content_twice_is_one_payload_and_one_version(archive: Archive) -> None:
    first = archive.record(exchange(b"<rss>same</rss>"), Observation(posts=[post("a", "Hello  world")]))
    second = archive.record(exchange(b"<rss>same</rss>"), Observation(posts=[post("a", "Hello world")]))
    assert (first.new, second.new, second.edited) == (1, 0, 0)
    assert first.payload_stored and not second.payload_stored
    assert count(archive, "SELECT count(*) FROM captures") == 2
    assert count(archive, "SELECT count(*) FROM payloads") == 1
    assert count(archive, "SELECT count(*) FROM versions") == 1
    assert [r[0] for r in archive.conn.execute("SELECT type FROM events")] == ["first_seen"]
    assert verify(archive.path).ok


def test_a_body_replaced_after_it_was_prepared_is_stored_under_its_own_digest(archive: Archive) -> None:
    import hashlib

    reused = exchange(b"first body " * 40).prepare()  # digested and compressed, as a fetch thread does
    archive.record(reused)
    reused.body = b"second body " * 40
    archive.record(reused)
    stored = archive.conn.execute("SELECT payload_sha256 FROM captures ORDER BY id").fetchall()
    assert [row[0] for row in stored] == [hashlib.sha256(b"first body " * 40).hexdigest(),
                                          hashlib.sha256(b"second body " * 40).hexdigest()]
    assert verify(archive.path).ok


def test_a_new_reading_by_a_changed_extractor_is_a_version_but_never_an_edit(archive: Archive) -> None:
    archive.record(exchange(b"<p>page</p>"), Observation(posts=[post("a", "Menu Statement on the talks.")]))
    upgraded = post("a", "Statement on the talks.")  # the same page read by a newer extractor
    upgraded.extractor_version = "2"
    result = archive.record(exchange(b"<p>page</p>"), Observation(posts=[upgraded]))
    assert (result.edited, result.reextracted) == (0, 1)
    events = archive.conn.execute("SELECT type, details FROM events ORDER BY id").fetchall()
    assert [e[0] for e in events] == ["first_seen", "reextracted"]
    assert '"from":"test/1"' in events[1][1] and '"to":"test/2"' in events[1][1]
    assert count(archive, "SELECT version_count FROM posts") == 2  # the new reading is kept, and current
    # a change the same extractor then reads is an edit again
    edited = post("a", "Statement on the stalled talks.")
    edited.extractor_version = "2"
    assert archive.record(exchange(b"<p>page 2</p>"), Observation(posts=[edited])).edited == 1
    assert verify(archive.path).ok


def test_a_dated_edit_history_read_again_by_a_changed_extractor_adds_no_edit(archive: Archive) -> None:
    def history(extractor_version: str, suffix: str, *claims: str) -> PostDraft:
        draft = PostDraft(platform="x", native_id="1", extractor="x", extractor_version=extractor_version,
                          versions=[VersionDraft(text=f"Version {n}{suffix}", claimed_at=claimed)
                                    for n, claimed in enumerate(claims, start=1)])
        return draft

    claims = ("2026-01-01T10:00:00Z", "2026-01-01T10:05:00Z", "2026-01-01T10:09:00Z")
    archive.record(exchange(b"a"), Observation(posts=[history("1", "", *claims)]))
    # the same three dated versions, read differently by a newer extractor
    result = archive.record(exchange(b"b"), Observation(posts=[history("2", " (read anew)", *claims)]))
    assert (result.edited, result.reextracted) == (0, 3)
    # the re-readings of the two earlier versions are never current, not even for a moment
    events = [kind for (kind,) in archive.conn.execute("SELECT type FROM events ORDER BY id")]
    assert events == ["first_seen", "edited", "edited", "earlier_version", "earlier_version", "reextracted"]
    assert count(archive, "SELECT text FROM posts") == "Version 3 (read anew)"
    # a fourth version the platform dates anew is an edit
    later = archive.record(exchange(b"c"), Observation(posts=[history("2", " (read anew)", *claims,
                                                                      "2026-01-02T08:00:00Z")]))
    assert (later.edited, later.reextracted) == (1, 0)
    assert verify(archive.path).ok


def test_changed_content_is_a_second_version_and_an_edited_event(archive: Archive) -> None:
    archive.record(exchange(b"v1"), Observation(posts=[post("a", "We call for an inquiry.")]))
    result = archive.record(exchange(b"v2"), Observation(posts=[post("a", "We call for an independent inquiry.")]))
    assert result.edited == 1
    rows = archive.conn.execute("SELECT number, text, capture_id FROM versions ORDER BY number").fetchall()
    assert [tuple(r) for r in rows] == [(1, "We call for an inquiry.", 1),
                                        (2, "We call for an independent inquiry.", 2)]
    events = archive.conn.execute("SELECT type, capture_id, version_id FROM events ORDER BY id").fetchall()
    assert [tuple(e) for e in events] == [("first_seen", 1, 1), ("edited", 2, 2)]
    current = archive.conn.execute("SELECT text, version_count, status FROM posts").fetchone()
    assert tuple(current) == ("We call for an independent inquiry.", 2, "live")


def test_extra_content_counts_as_an_edit(archive: Archive) -> None:
    archive.record(exchange(b"1"), Observation(posts=[post("a", "same text", cid="bafy1")]))
    result = archive.record(exchange(b"2"), Observation(posts=[post("a", "same text", cid="bafy2")]))
    assert result.edited == 1


def test_a_post_listed_twice_in_one_page_is_decided_on_what_its_first_sighting_left(archive: Archive) -> None:
    page = [post("a", "first text"), post("b", "other"), post("a", "first text"), post("a", "second text")]
    result = archive.record(exchange(b"page"), Observation(posts=page))
    assert (result.new, result.edited) == (2, 1)
    rows = archive.conn.execute("SELECT p.native_id, v.number, v.text FROM versions v JOIN posts p "
                                "ON p.id = v.post_id ORDER BY v.id").fetchall()
    assert [tuple(r) for r in rows] == [("a", 1, "first text"), ("b", 1, "other"), ("a", 2, "second text")]
    seen = archive.conn.execute("SELECT count(*), count(DISTINCT last_capture_id) FROM post_seen").fetchone()
    assert tuple(seen) == (2, 1)
    assert verify(archive.path).ok


def test_a_page_of_more_posts_than_one_lookup_holds(archive: Archive) -> None:
    first = archive.record(exchange(b"1"), Observation(posts=[post(f"p{i}", f"text {i}") for i in range(1200)]))
    page = [post(f"p{i}", f"text {i}" if i % 100 else f"edited {i}") for i in range(1300)]
    second = archive.record(exchange(b"2"), Observation(posts=page))
    assert (first.new, second.new, second.edited) == (1200, 100, 12)
    assert count(archive, "SELECT count(*) FROM post_seen WHERE last_capture_id = 2") == 1300


def test_missing_deleted_and_restored(archive: Archive) -> None:
    archive.record(exchange(b"list"), Observation(posts=[post("a", "text")]))
    missing = archive.record(exchange(b"list2"), Observation(gone=[Gone("web", "a", False, "left the listing")]))
    deleted = archive.record(exchange(None, "https://example.org/a", 404),
                             Observation(gone=[Gone("web", "a", True, "HTTP 404")]))
    again = archive.record(exchange(None, "https://example.org/a", 404),
                           Observation(gone=[Gone("web", "a", True, "HTTP 404")]))
    restored = archive.record(exchange(b"back"), Observation(posts=[post("a", "text")]))
    assert (missing.missing, deleted.deleted, again.deleted, restored.restored) == (1, 1, 0, 1)
    events = [tuple(r) for r in archive.conn.execute("SELECT type, capture_id FROM events ORDER BY id")]
    assert events == [("first_seen", 1), ("missing", 2), ("deleted", 3), ("restored", 5)]
    assert count(archive, "SELECT count(*) FROM versions") == 1  # restoring the same text is not an edit
    assert archive.conn.execute("SELECT status FROM posts").fetchone()[0] == "live"


def test_gone_for_an_unknown_post_records_nothing(archive: Archive) -> None:
    result = archive.record(exchange(b"x"), Observation(gone=[Gone("web", "never-seen", True, "404")]))
    assert result.deleted == 0 and count(archive, "SELECT count(*) FROM events") == 0


def test_history_versions_are_appended_once_with_their_claimed_times(archive: Archive) -> None:
    history = PostDraft(platform="mastodon", native_id="https://m.example/1", extractor="test", versions=[
        VersionDraft(text="first", claimed_at="2026-01-01T00:00:00.000000Z"),
        VersionDraft(text="second", claimed_at="2026-01-01T00:10:00.000000Z")])
    first = archive.record(exchange(b"h"), Observation(posts=[history]))
    second = archive.record(exchange(b"h"), Observation(posts=[history]))
    assert (first.new, first.edited, second.new, second.edited) == (1, 1, 0, 0)
    claimed = [r[0] for r in archive.conn.execute("SELECT claimed_at FROM versions ORDER BY number")]
    assert claimed == ["2026-01-01T00:00:00.000000Z", "2026-01-01T00:10:00.000000Z"]


def test_a_failing_record_leaves_nothing_behind(archive: Archive) -> None:
    archive.record(exchange(b"ok"), Observation(posts=[post("a", "text")]))
    empty = PostDraft(platform="web", native_id="b", versions=[])
    with pytest.raises(ValueError, match="no content"):
        archive.record(exchange(b"new payload"), Observation(posts=[post("c", "fine"), empty]))
    assert count(archive, "SELECT count(*) FROM captures") == 1
    assert count(archive, "SELECT count(*) FROM payloads") == 1
    assert count(archive, "SELECT count(*) FROM posts") == 1
    assert verify(archive.path).ok


def test_append_only_tables_refuse_rewrites(archive: Archive) -> None:
    archive.record(exchange(b"x"), Observation(posts=[post("a", "text")]))
    for sql in ("UPDATE versions SET text = 'rewritten'", "DELETE FROM events", "UPDATE captures SET status = 500",
                "DELETE FROM chain", "DELETE FROM payloads"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            archive.conn.execute(sql)


def test_writer_thread_serves_many_fetch_threads(db_path: Path) -> None:
    Archive(db_path, create=True).close()
    writer = WriterThread(db_path)
    results: list[int] = []
    lock = threading.Lock()

    def fetch_thread(n: int) -> None:
        for i in range(25):
            body = f"{n}-{i}".encode()
            result = writer.call(lambda a, b=body, k=f"{n}-{i}": a.record(
                exchange(b), Observation(posts=[post(k, f"text {k}")])))
            with lock:
                results.append(result.new)

    threads = [threading.Thread(target=fetch_thread, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failing = writer.submit(lambda a: a.record(exchange(b"bad"), Observation(posts=[
        PostDraft(platform="web", native_id="bad", versions=[])])))
    with pytest.raises(ValueError):
        failing.result()
    writer.close()
    assert sum(results) == 200
    with Archive(db_path) as archive:
        assert count(archive, "SELECT count(*) FROM posts") == 200
        assert count(archive, "SELECT count(*) FROM captures") == 200
    report = verify(db_path)
    assert report.ok, report.problems
    assert report.chain_entries == 800  # a capture, a version, an event and a sighting each


def _tamper(db_path: Path, *statements: str) -> None:
    """What someone with write access to the file could do: drop the guards, rewrite, put them back."""
    with unguarded(db_path) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.fixture
def filled(db_path: Path) -> Path:
    with Archive(db_path, create=True) as archive:
        archive.record(exchange(b"<html>first page body</html>" * 20), Observation(posts=[post("a", "one")]))
        archive.record(exchange(b"second"), Observation(posts=[post("a", "one, edited"), post("b", "two")]))
    return db_path


def run_verify(db_path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["verify", "--db", str(db_path)])
    return result.exit_code, result.output


def test_verify_passes_and_is_recorded_as_a_run(filled: Path) -> None:
    code, output = run_verify(filled)
    assert code == 0, output
    assert "checked 2 payload digests, 3 version digests, 10 chain entries" in output  # 2 sightings
    conn = sqlite3.connect(filled)
    assert conn.execute("SELECT kind, outcome FROM runs").fetchall() == [("verify", "ok")]
    # the head the check reached: its own run's outcome is chained after it
    head = conn.execute("SELECT entry_sha256 FROM chain WHERE seq = 10").fetchone()[0]
    assert conn.execute("SELECT table_name FROM chain WHERE seq = 11").fetchone() == ("run_outcomes",)
    status = CliRunner().invoke(main, ["status", "--db", str(filled)])
    assert "last fixity check: ok at " in status.output and f"chain head {head}" in status.output


def test_verify_names_a_flipped_payload_byte(filled: Path) -> None:
    conn = sqlite3.connect(filled)
    sha, data = conn.execute("SELECT sha256, data FROM payloads WHERE compression = 'none'").fetchone()
    conn.close()
    flipped = bytes([data[0] ^ 1]) + data[1:]
    _tamper(filled, f"UPDATE payloads SET data = x'{flipped.hex()}' WHERE sha256 = '{sha}'")
    code, output = run_verify(filled)
    assert code == 1
    assert f"payload {sha}: content digest is" in output


def test_verify_names_a_flipped_compressed_payload(filled: Path) -> None:
    conn = sqlite3.connect(filled)
    sha, data = conn.execute("SELECT sha256, data FROM payloads WHERE compression = 'zlib'").fetchone()
    conn.close()
    middle = len(data) // 2
    flipped = data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1:]
    _tamper(filled, f"UPDATE payloads SET data = x'{flipped.hex()}' WHERE sha256 = '{sha}'")
    code, output = run_verify(filled)
    assert code == 1 and f"payload {sha}" in output


def test_verify_names_a_changed_version_text(filled: Path) -> None:
    _tamper(filled, "UPDATE versions SET text = 'one, edited.' WHERE id = 2")
    code, output = run_verify(filled)
    assert code == 1
    assert "versions row 2: content digest" in output


def test_verify_names_a_changed_capture_column(filled: Path) -> None:
    _tamper(filled, "UPDATE captures SET status = 404 WHERE id = 1")
    code, output = run_verify(filled)
    assert code == 1 and "captures row 1: contents differ from what the chain recorded" in output


def test_verify_names_a_deleted_chain_row(filled: Path) -> None:
    _tamper(filled, "DELETE FROM chain WHERE seq = 4")
    code, output = run_verify(filled)
    assert code == 1
    assert "chain entry 4 is missing" in output


def test_verify_names_a_deleted_event(filled: Path) -> None:
    _tamper(filled, "DELETE FROM events WHERE id = 2")
    code, output = run_verify(filled)
    assert code == 1 and "(events row 2): the row is missing" in output


def test_verify_names_a_row_outside_the_chain(filled: Path) -> None:
    _tamper(filled, "INSERT INTO events (post_id, type, at) VALUES (1, 'deleted', '2026-01-01T00:00:00.000000Z')")
    code, output = run_verify(filled)
    assert code == 1 and "events row 4: not in the chain" in output
