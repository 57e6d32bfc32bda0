"""The tamper suite: a real archive built through the CLI over loopback (a feed polled three times with
an edit and a deletion, an X account archive imported), then COPIES of it tampered with as an
adversary with write access to the file would (the append-only triggers dropped first), and
`archiver verify` run on each copy.

Every case declares what detects it:
- VERIFY: tampering that keeps the chain head (or breaks the chain) -- `archiver verify` alone;
- CHECKPOINT: tampering that rewrites the chain consistently, so the head itself changes (truncation,
  re-chaining): only a head kept from before can tell, `archiver verify --checkpoint FILE` with a
  checkpoint taken before the tampering. Until that command exists these cases are skipped, naming it.

The adversary of the CHECKPOINT cases is thorough: after rewriting the chain they also rebuild every
current view (posts, post_seen, runs, sources, the full-text index) to match, so that nothing but the
head gives them away."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver.canonical import content_digest
from archiver.cli import main
from archiver.verify import _split, verify
from tests.loopback import LoopbackServer, Reply
from tests.official_fixtures import rss, statement_page, write_config
from tests.tampering import rechain, remove_entry, unguarded

TWEETS = Path(__file__).parent / "fixtures" / "x_archive" / "tweets.js"
VERIFY, CHECKPOINT = "verify", "verify --checkpoint"


@dataclass
class Built:
    db: Path
    copy: Path  # `archiver snapshot --without-payloads` of it: a published copy
    checkpoint: Path | None  # taken before any tampering, when `archiver checkpoint` exists


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def has_checkpoints() -> bool:
    return "--checkpoint" in cli("verify", "--help")[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    tmp = tmp_path_factory.mktemp("tamper")
    db = tmp / "archive.db"
    code, output = cli("init", "--db", str(db))  # (with checkpoints: also the archive's signing key)
    assert code == 0, output
    with LoopbackServer() as site:
        items = [(f"tag:ministry.example,2026:{n}", f"{site.base}/s/{n}", f"Statement {n}",
                  f"Tue, 0{n} Jun 2026 10:00:00 GMT", f"The ministry's statement number {n}.") for n in (1, 2, 3)]
        for n in (1, 2, 3):
            site.routes[f"/s/{n}"] = Reply(200, statement_page(f"Statement {n}"), {"Content-Type": "text/html"})
        feed = {"Content-Type": "application/rss+xml; charset=utf-8"}
        site.routes["/rss.xml"] = Reply(200, rss(items), feed)
        config = write_config(tmp / "sources.toml", [
            {"id": "ministry", "kind": "feed", "locator": f"{site.base}/rss.xml", "organisation": "Ministry A"}])
        for step in ("first poll", "edit and deletion", "unchanged"):
            if step == "edit and deletion":  # statement 1 corrected, statement 2 withdrawn
                items[0] = (*items[0][:4], "The ministry's statement number 1, corrected.")
                site.routes["/rss.xml"] = Reply(200, rss([items[0], items[2]]), feed)
                del site.routes["/s/2"]
            code, output = cli("fetch", "ministry", "--config", str(config), "--db", str(db))
            assert code == 0, f"{step}: {output}"
    code, output = cli("import", "x-archive", "--db", str(db), str(TWEETS))
    assert code == 0, output
    code, output = cli("verify", "--db", str(db))
    assert code == 0 and output.endswith("ok\n"), output
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM events WHERE type = 'deleted'").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM events WHERE type = 'edited'").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM posts WHERE platform = 'x'").fetchone()[0] > 20
    conn.close()
    copy = tmp / "published.db"
    code, output = cli("snapshot", "--db", str(db), str(copy), "--without-payloads")
    assert code == 0, output
    checkpoint = None
    if has_checkpoints():
        checkpoint = tmp / "before.checkpoint"
        code, output = cli("checkpoint", "--db", str(db), "--out", str(checkpoint))
        assert code == 0, output
    yield Built(db, copy, checkpoint)


# -- the adversary's tools ------------------------------------------------------------------------

def one(conn: sqlite3.Connection, sql: str, *args: object) -> object:
    return conn.execute(sql, args).fetchone()[0]


def cut(conn: sqlite3.Connection, start: int) -> None:
    """Remove chain entries from `start` on together with the rows they cover."""
    for table, row_id in conn.execute("SELECT table_name, row_id FROM chain WHERE seq >= ?", (start,)).fetchall():
        conn.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
    conn.execute("DELETE FROM chain WHERE seq >= ?", (start,))


def rebuild_views(conn: sqlite3.Connection) -> None:
    """Make every current view agree with the (tampered) chained rows, as a careful forger would."""
    facts = "(SELECT facts FROM versions v WHERE v.post_id = posts.id ORDER BY v.id DESC LIMIT 1)"
    conn.execute("DELETE FROM posts WHERE id NOT IN (SELECT post_id FROM versions)")
    conn.execute(f"""UPDATE posts SET
        current_version = (SELECT max(id) FROM versions v WHERE v.post_id = posts.id),
        version_count = (SELECT count(*) FROM versions v WHERE v.post_id = posts.id),
        title = (SELECT title FROM versions v WHERE v.post_id = posts.id ORDER BY v.id DESC LIMIT 1),
        text = (SELECT text FROM versions v WHERE v.post_id = posts.id ORDER BY v.id DESC LIMIT 1),
        url = json_extract({facts}, '$.url'),
        status = coalesce((SELECT CASE type WHEN 'restored' THEN 'live' ELSE type END FROM events e
                           WHERE e.post_id = posts.id AND type IN ('missing', 'deleted', 'restored')
                           ORDER BY e.id DESC LIMIT 1), 'live')""")
    conn.execute("DELETE FROM post_seen")
    conn.execute("""INSERT INTO post_seen SELECT post_id, at, capture_id FROM (
        SELECT CAST(j.value AS INTEGER) AS post_id, s.at, s.capture_id,
               row_number() OVER (PARTITION BY j.value ORDER BY s.id DESC) AS rn
        FROM sightings s, json_each(s.post_ids) j) WHERE rn = 1 AND post_id IN (SELECT id FROM posts)""")
    conn.execute("DELETE FROM runs WHERE outcome IS NOT NULL AND id NOT IN (SELECT run_id FROM run_outcomes)")
    conn.execute("DELETE FROM sources WHERE id NOT IN (SELECT source_id FROM source_versions)")
    conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('rebuild')")
    conn.execute("INSERT INTO versions_fts (versions_fts) VALUES ('rebuild')")


# -- the cases ------------------------------------------------------------------------------------

Tamper = Callable[[sqlite3.Connection, Built], None]
CASES: dict[str, tuple[str, str, Tamper]] = {}


def case(name: str, detector: str, expect: str) -> Callable[[Tamper], Tamper]:
    """Register a tampering; `expect` is a fragment of the problem verify must name."""
    def register(tamper: Tamper) -> Tamper:
        CASES[name] = (detector, expect, tamper)
        return tamper
    return register


def deleted_event(conn: sqlite3.Connection) -> int:
    return int(one(conn, "SELECT id FROM events WHERE type = 'deleted'"))  # type: ignore[call-overload]


def edited_post(conn: sqlite3.Connection) -> int:
    return int(one(conn, "SELECT post_id FROM events WHERE type = 'edited'"))  # type: ignore[call-overload]


@case("version text", VERIFY, "versions row 1: content digest")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE versions SET text = 'The ministry said nothing of the kind.' WHERE id = 1")


@case("version text with its digest recomputed", VERIFY, "versions row 1: contents differ from what the chain")
def _(conn: sqlite3.Connection, built: Built) -> None:
    text = "The ministry said nothing of the kind."
    title, extra = conn.execute("SELECT title, extra FROM versions WHERE id = 1").fetchone()
    conn.execute("UPDATE versions SET text = ?, content_sha256 = ? WHERE id = 1",
                 (text, content_digest(title, text, json.loads(extra) if extra else None)))


@case("a capture header", VERIFY, "captures row 2: contents differ from what the chain")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE captures SET response_headers = replace(response_headers, 'rss', 'atom') WHERE id = 2")


@case("a capture time", VERIFY, "captures row 2: contents differ from what the chain")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE captures SET started_at = '2020-01-01T00:00:00.000000Z' WHERE id = 2")


@case("an event type", VERIFY, "contents differ from what the chain")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE events SET type = 'missing' WHERE id = ?", (deleted_event(conn),))


@case("chain entries removed, rows kept", VERIFY, "is missing (next is")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("DELETE FROM chain WHERE seq IN (5, 6)")


@case("a middle row removed", VERIFY, "the row is missing")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("DELETE FROM events WHERE id = ?", (deleted_event(conn),))


@case("a middle row removed, the chain renumbered and recomputed", CHECKPOINT, "")
def _(conn: sqlite3.Connection, built: Built) -> None:
    first_seen = one(conn, "SELECT id FROM events WHERE type = 'first_seen' ORDER BY id LIMIT 1 OFFSET 1")
    remove_entry(conn, "events", first_seen)  # type: ignore[arg-type]
    rebuild_views(conn)


@case("the tail truncated", CHECKPOINT, "")
def _(conn: sqlite3.Connection, built: Built) -> None:
    last = one(conn, "SELECT max(seq) FROM chain")
    if built.checkpoint is not None:  # the entries after the tree it signed (its own row) are not its to vouch for
        last = int(built.checkpoint.read_text().split("\n")[1])
    cut(conn, last - 1)  # type: ignore[operator]  # the import's and the verify run's outcomes
    rebuild_views(conn)


@case("history cut back to before a deletion", CHECKPOINT, "")
def _(conn: sqlite3.Connection, built: Built) -> None:
    cut(conn, one(conn, "SELECT seq FROM chain WHERE table_name = 'events' AND row_id = ?",  # type: ignore[arg-type]
                  deleted_event(conn)))
    rebuild_views(conn)


@case("a version rewritten, the chain suffix recomputed", CHECKPOINT, "")
def _(conn: sqlite3.Connection, built: Built) -> None:
    text = "The ministry said nothing of the kind."
    version_id, title, extra = conn.execute("SELECT id, title, extra FROM versions ORDER BY id DESC LIMIT 1 "
                                            "OFFSET 3").fetchone()
    conn.execute("UPDATE versions SET text = ?, content_sha256 = ? WHERE id = ?",
                 (text, content_digest(title, text, json.loads(extra) if extra else None), version_id))
    rechain(conn, one(conn, "SELECT seq FROM chain WHERE table_name = 'versions' AND row_id = ?",  # type: ignore[arg-type]
                      version_id))
    rebuild_views(conn)


@case("everything re-chained from genesis", CHECKPOINT, "")
def _(conn: sqlite3.Connection, built: Built) -> None:
    text = "The ministry said nothing of the kind."
    title, extra = conn.execute("SELECT title, extra FROM versions WHERE id = 1").fetchone()
    conn.execute("UPDATE versions SET text = ?, content_sha256 = ? WHERE id = 1",
                 (text, content_digest(title, text, json.loads(extra) if extra else None)))
    rechain(conn, 1)
    rebuild_views(conn)


for column, value in [("text", "'Rewritten current text.'"), ("author_name", "'Someone Else'"),
                      ("url", "'https://evil.example/1'"), ("published_at", "'2020-01-01T00:00:00.000000Z'"),
                      ("status", "'deleted'"), ("publish", "0"), ("author_handle", "'someone'")]:
    def _posts(conn: sqlite3.Connection, built: Built, column: str = column, value: str = value) -> None:
        conn.execute(f"UPDATE posts SET {column} = {value} WHERE id = ?", (edited_post(conn),))
    case(f"posts {column} changed", VERIFY, f": {column} is ")(_posts)


@case("an imported X post's author changed", VERIFY, ": author_handle is 'someone'")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE posts SET author_handle = 'someone' WHERE id = (SELECT min(id) FROM posts "
                 "WHERE platform = 'x')")


@case("posts current_version pointing at a missing version", VERIFY, "is not a version in the archive")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE posts SET current_version = 99999 WHERE id = ?", (edited_post(conn),))


@case("a post removed from the full-text index", VERIFY, "posts_fts: the index of term")
def _(conn: sqlite3.Connection, built: Built) -> None:
    post_id = edited_post(conn)
    conn.execute("INSERT INTO posts_fts (posts_fts, rowid, title, text, author_handle, author_name) "
                 "SELECT 'delete', id, title, text, author_handle, author_name FROM posts WHERE id = ?", (post_id,))


@case("two posts' numbers swapped in the full-text index, every term's counts kept", VERIFY,
      "posts_fts: the index of term '3' puts it in posts")
def _(conn: sqlite3.Connection, built: Built) -> None:
    # statements 1 and 3 each hold their number twice (title and text): swapped, each number is still in
    # one post twice, so only which post a word is in gives it away, and a search for one finds the other
    columns = "title, text, author_handle, author_name"
    swapped = {"1": "3", "3": "1"}
    posts = conn.execute(f"SELECT id, {columns} FROM posts WHERE title IN ('Statement 1', 'Statement 3')").fetchall()
    assert len(posts) == 2
    for post_id, title, text, *author in posts:
        number = title[-1]
        conn.execute(f"INSERT INTO posts_fts (posts_fts, rowid, {columns}) VALUES ('delete', ?, ?, ?, ?, ?)",
                     (post_id, title, text, *author))
        conn.execute(f"INSERT INTO posts_fts (rowid, {columns}) VALUES (?, ?, ?, ?, ?)",
                     (post_id, title.replace(number, swapped[number]), text.replace(number, swapped[number]), *author))


@case("a row of no words added to the full-text index, changing how results rank", VERIFY,
      "posts_fts: the index's counts of rows and words do not match the posts it indexes")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("INSERT INTO posts_fts (rowid, title, text, author_handle, author_name) "
                 "VALUES (999999, NULL, NULL, NULL, NULL)")


@case("a post's word counts in the full-text index shrunk, raising it in results ranked by relevance", VERIFY,
      "posts_fts: the word counts it keeps for posts 1 do not match")
def _(conn: sqlite3.Connection, built: Built) -> None:
    # bm25 ranks a shorter text higher for the same matches: one word per column, the totals left alone
    conn.execute("UPDATE posts_fts_docsize SET sz = x'01010101' WHERE id = 1")


@case("a word a version never held added to the search of every version", VERIFY,
      "versions_fts: the index of term 'massacre'")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("INSERT INTO versions_fts (versions_fts, rowid, title, text) SELECT 'delete', id, title, text "
                 "FROM versions WHERE id = (SELECT min(id) FROM versions)")
    conn.execute("INSERT INTO versions_fts (rowid, title, text) SELECT id, title, text || ' massacre' "
                 "FROM versions WHERE id = (SELECT min(id) FROM versions)")


@case("a source's organisation changed", VERIFY, "sources row ministry: organisation is 'Ministry B'")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE sources SET organisation = 'Ministry B' WHERE id = 'ministry'")


@case("runs deleted", VERIFY, "is missing (its run_outcomes rows are chained)")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("DELETE FROM runs WHERE kind = 'fetch' AND outcome = 'ok'")


@case("a run's outcome rewritten", VERIFY, "runs row 1: outcome is 'failed' but the chained rows give 'ok'")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE runs SET outcome = 'failed', error = 'timeout' WHERE id = 1")


@case("the recorded verify head erased", VERIFY, ": details is ")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE runs SET details = json_remove(details, '$.head') WHERE kind = 'verify'")


@case("post_seen changed", VERIFY, "post_seen row")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE post_seen SET last_seen_at = '2030-01-01T00:00:00.000000Z' WHERE post_id = 1")


@case("a forged withheld row in a live archive", VERIFY, "declared withheld in an archive that is not a published")
def _(conn: sqlite3.Connection, built: Built) -> None:
    event_id = deleted_event(conn)
    conn.execute("DELETE FROM events WHERE id = ?", (event_id,))
    conn.execute("INSERT INTO withheld VALUES ('events', ?, 'not published (publish = 0)')", (str(event_id),))
    conn.execute("UPDATE posts SET status = 'live' WHERE status = 'deleted'")


@case("a payload's bytes changed", VERIFY, ": content digest is ")
def _(conn: sqlite3.Connection, built: Built) -> None:
    sha, data = conn.execute("SELECT sha256, data FROM payloads WHERE compression = 'none' LIMIT 1").fetchone()
    conn.execute("UPDATE payloads SET data = ? WHERE sha256 = ?", (bytes([data[0] ^ 1]) + data[1:], sha))


@case("a payload deleted", VERIFY, "is missing")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("DELETE FROM payloads WHERE sha256 = (SELECT payload_sha256 FROM captures WHERE id = 2)")


@case("an identity-bearing fact of a version changed", VERIFY, "versions row 1: contents differ")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("UPDATE versions SET facts = json_set(facts, '$.author_name', 'Someone Else') WHERE id = 1")


@case("a column added to posts, with invented values", VERIFY, "schema: table posts is declared otherwise")
def _(conn: sqlite3.Connection, built: Built) -> None:
    # shown on every table page and row page, chained nowhere
    conn.execute("ALTER TABLE posts ADD COLUMN endorsed_by TEXT")
    conn.execute("UPDATE posts SET endorsed_by = 'the UN Special Rapporteur'")


@case("a table added beside the archive's", VERIFY, "schema: table corrections is not part of schema version")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("CREATE TABLE corrections (post_id INTEGER, note TEXT)")
    conn.execute("INSERT INTO corrections VALUES (1, 'The ministry withdrew this statement.')")


@case("the search index declared with another tokenizer", VERIFY, "schema: table posts_fts is declared otherwise")
def _(conn: sqlite3.Connection, built: Built) -> None:
    # a stemming tokenizer: a search for one word then finds posts that hold only another; the index's
    # entries are left as they were, so they still agree with the posts
    conn.execute("PRAGMA writable_schema = 1")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'unicode61', 'porter unicode61') "
                 "WHERE name = 'posts_fts'")


@case("a search index's settings changed", VERIFY, "schema: the settings of versions_fts (versions_fts_config)")
def _(conn: sqlite3.Connection, built: Built) -> None:
    # the ranking function every search by relevance uses, weighted to bury the texts' own words
    conn.execute("INSERT INTO versions_fts (versions_fts, rank) VALUES ('rank', 'bm25(0.0, 0.0)')")


@case("an append-only trigger replaced by one that refuses nothing", VERIFY,
      "schema: trigger versions_append_only_u is declared otherwise")
def _(conn: sqlite3.Connection, built: Built) -> None:
    conn.execute("CREATE TRIGGER versions_append_only_u BEFORE UPDATE ON versions BEGIN SELECT 1; END")


def tampered(built: Built, tmp_path: Path, tamper: Tamper, source: Path | None = None) -> Path:
    path = tmp_path / "tampered.db"
    shutil.copy(source or built.db, path)
    with unguarded(path) as conn:
        conn.execute("BEGIN")
        tamper(conn, built)
        conn.execute("COMMIT")
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_tampering_is_detected(built: Built, tmp_path: Path, name: str) -> None:
    detector, expect, tamper = CASES[name]
    path = tampered(built, tmp_path, tamper)
    if detector == VERIFY:
        code, output = cli("verify", "--db", str(path), "--no-record")
        assert code == 1, f"{name}: passed verify\n{output}"
        assert expect in output, output
        return
    # the chain was rewritten consistently: verify alone is satisfied, and the head has changed
    code, output = cli("verify", "--db", str(path), "--no-record")
    assert code == 0, f"{name}: the adversary left a trace verify sees (make the case cleaner)\n{output}"
    original = sqlite3.connect(built.db)
    old_head = one(original, "SELECT entry_sha256 FROM chain ORDER BY seq DESC LIMIT 1")
    original.close()
    assert f"chain head {old_head}" not in output
    if built.checkpoint is None:
        pytest.skip("detected only against a head kept from before: `archiver checkpoint` and "
                    "`archiver verify --checkpoint FILE` are not in this archiver yet")
    untouched = tmp_path / "untouched.db"  # the control: the same check on an untampered copy passes
    shutil.copy(built.db, untouched)
    code, output = cli("verify", "--db", str(untouched), "--no-record", "--checkpoint", str(built.checkpoint))
    assert code == 0, output
    code, output = cli("verify", "--db", str(path), "--no-record", "--checkpoint", str(built.checkpoint))
    assert code == 1, f"{name}: passed verify --checkpoint\n{output}"


def test_a_forged_withheld_row_in_a_published_copy_is_detected(built: Built, tmp_path: Path) -> None:
    code, output = cli("verify", "--db", str(built.copy))
    assert code == 0 and "withheld from this copy: " in output, output  # the declared withholding passes

    def forge(conn: sqlite3.Connection, built: Built) -> None:
        event_id = deleted_event(conn)
        conn.execute("DELETE FROM events WHERE id = ?", (event_id,))
        conn.execute("INSERT INTO withheld VALUES ('events', ?, 'snapshot without payloads')", (str(event_id),))
        conn.execute("UPDATE posts SET status = 'live' WHERE status = 'deleted'")

    path = tampered(built, tmp_path, forge, source=built.copy)
    code, output = cli("verify", "--db", str(path))
    assert code == 1, output
    assert "but its publication record" in output and "declares" in output, output


@pytest.mark.parametrize("jobs", [2, 3])
def test_verify_in_worker_processes_names_every_problem_as_one_pass_does(built: Built, tmp_path: Path,
                                                                        jobs: int) -> None:
    """The chain checked in ranges by worker processes (4 per job, so boundaries fall in different places
    for 2 and 3 jobs) joins into exactly the report of one pass: the same problems in the same order,
    the same head and counts, for every tampering verify alone detects."""
    for name, (detector, _, tamper) in CASES.items():
        if detector == VERIFY:
            path = tampered(built, tmp_path, tamper)
            single, parallel = verify(path, jobs=1), verify(path, jobs=jobs)
            assert parallel.problems and parallel.problems == single.problems, name
            assert parallel.summary() == single.summary(), name
    single, parallel = verify(built.copy, jobs=1), verify(built.copy, jobs=jobs)
    assert parallel.ok and parallel.summary() == single.summary()


def test_a_chain_broken_at_the_edge_of_a_range_is_named_as_one_pass_names_it(built: Built, tmp_path: Path) -> None:
    """A link broken, or an entry removed, at the first or last entry of a range a worker checks: the
    ranges are joined by the main process, which must find what the workers cannot see."""
    conn = sqlite3.connect(built.db)
    entries = one(conn, "SELECT count(*) FROM chain")
    conn.close()
    edges = sorted({seq for lo, hi in _split(1, entries, 2 * 4) for seq in (lo, hi)})
    assert len(edges) > 8
    for seq in edges:
        for tamper in (f"UPDATE chain SET prev_sha256 = '{'f' * 64}' WHERE seq = {seq}",
                       f"DELETE FROM chain WHERE seq = {seq}"):
            path = tampered(built, tmp_path, lambda conn, built, tamper=tamper: conn.execute(tamper))
            single, parallel = verify(path, jobs=1), verify(path, jobs=2)
            assert single.problems and parallel.problems == single.problems, tamper
            assert parallel.summary() == single.summary(), tamper


def test_verify_with_worker_processes_from_the_command_line_says_what_one_pass_says(built: Built,
                                                                                   tmp_path: Path) -> None:
    path = tampered(built, tmp_path, CASES["version text"][2])
    runs = [subprocess.run([sys.executable, "-m", "archiver", "verify", "--db", str(path), "--no-record",
                            "--jobs", jobs], capture_output=True, text=True, timeout=120) for jobs in ("1", "2")]
    assert [r.returncode for r in runs] == [1, 1]
    assert "BROKEN: " in runs[0].stderr and runs[1].stderr == runs[0].stderr
    assert runs[1].stdout == runs[0].stdout


def test_every_kind_of_tampering_the_issue_names_has_a_case() -> None:
    named = ["version text", "version text with its digest recomputed", "a capture header", "a capture time",
             "an event type", "chain entries removed, rows kept", "a middle row removed",
             "a middle row removed, the chain renumbered and recomputed", "the tail truncated",
             "history cut back to before a deletion", "a version rewritten, the chain suffix recomputed",
             "everything re-chained from genesis", "posts text changed", "posts author_name changed",
             "posts url changed", "posts published_at changed", "posts status changed", "posts publish changed",
             "a source's organisation changed", "runs deleted", "the recorded verify head erased",
             "post_seen changed", "a forged withheld row in a live archive", "a payload's bytes changed",
             "a payload deleted"]
    assert [n for n in named if n not in CASES] == []


def test_verify_of_the_untampered_archive_runs_in_a_subprocess_and_passes(built: Built, tmp_path: Path) -> None:
    """The CLI as an operator runs it, on an untouched copy: the baseline every case departs from."""
    path = tmp_path / "untouched.db"
    shutil.copy(built.db, path)
    result = subprocess.run([sys.executable, "-m", "archiver", "verify", "--db", str(path), "--no-record"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("ok\n")
