"""SIGKILL at random moments while recording: the file stays sound and no exchange is half-written."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from archiver.archive import Archive
from archiver.verify import verify

POSTS_PER_EXCHANGE = 3

RECORDER = textwrap.dedent(f"""
    import sys, itertools
    from archiver.archive import Archive
    from archiver.models import Exchange, Observation, PostDraft, VersionDraft, utcnow
    archive = Archive(sys.argv[1])
    start = archive.conn.execute("SELECT count(*) FROM captures").fetchone()[0]
    print("ready", flush=True)
    for n in itertools.count(start):
        body = (f"<rss>page {{n}}</rss>" * 50).encode()
        posts = [PostDraft(platform="web", native_id=f"{{n}}-{{k}}", versions=[VersionDraft(text=f"post {{n}}-{{k}}")])
                 for k in range({POSTS_PER_EXCHANGE})]
        # every third exchange also edits an older post: edits must be atomic too
        if n % 3 == 0 and n:
            posts.append(PostDraft(platform="web", native_id=f"{{n - 1}}-0",
                                   versions=[VersionDraft(text=f"post {{n - 1}}-0 edited")]))
        exchange = Exchange(requested_url=f"https://example.org/{{n}}", method="GET", started_at=utcnow(),
                            status=200, body=body)
        archive.record(exchange, Observation(posts=posts))
""")


def test_sigkill_while_recording_never_leaves_a_half_written_exchange(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    Archive(path, create=True).close()
    rng = random.Random(20261128)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    kills = 0
    for _ in range(12):
        child = subprocess.Popen([sys.executable, "-c", RECORDER, str(path)], stdout=subprocess.PIPE, env=env)
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.01, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills += child.returncode == -signal.SIGKILL
        _check(path)
    assert kills >= 10
    with Archive(path) as archive:
        captures = archive.conn.execute("SELECT count(*) FROM captures").fetchone()[0]
    assert captures > 20, "the recorder should have made progress between kills"


def _check(path: Path) -> None:
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # every capture has its payload, its posts' first_seen events and its chain entries, or none exist
    rows = conn.execute(
        "SELECT c.id, p.sha256 IS NOT NULL, "
        "(SELECT count(*) FROM events e WHERE e.capture_id = c.id AND e.type = 'first_seen'), "
        "(SELECT count(*) FROM chain WHERE table_name = 'captures' AND row_id = c.id) "
        "FROM captures c LEFT JOIN payloads p ON p.sha256 = c.payload_sha256").fetchall()
    for capture_id, has_payload, first_seen, chained in rows:
        assert has_payload and chained == 1, capture_id
        assert first_seen == POSTS_PER_EXCHANGE, (capture_id, first_seen)
    edits = conn.execute("SELECT count(*) FROM events WHERE type = 'edited'").fetchone()[0]
    second_versions = conn.execute("SELECT count(*) FROM versions WHERE number = 2").fetchone()[0]
    assert edits == second_versions
    conn.close()
    report = verify(path)
    assert report.ok, report.problems


SERVICE_SOURCES = 5
SERVICE_KILLS = 20


def test_sigkill_of_the_service_mid_ingest_loses_nothing_and_closes_its_runs_as_crashed(tmp_path: Path) -> None:
    import threading

    from tests.loopback import LoopbackServer, Reply
    from tests.test_service import query, rss, start, wait_for

    rng = random.Random(20261201)
    slow = threading.Event()  # never set: holds each feed answer a moment, so runs are open when killed
    held = threading.Event()  # cleared on every other start: no answer until the kill, so a run is open then
    held.set()

    def feed(n: int):
        def route(handler: object) -> Reply:
            held.wait(60)
            slow.wait(0.2)
            items = {k: f"Ministry {n} statement {k}." for k in range(1, 4)}
            return Reply(200, rss(server.base, n, items), {"Content-Type": "application/rss+xml"})
        return route

    with LoopbackServer() as server:
        for n in range(SERVICE_SOURCES):
            server.routes[f"/s{n}/feed.xml"] = feed(n)
        config, db, log = tmp_path / "sources.toml", tmp_path / "archive.db", tmp_path / "service.log"
        # a long interval: the start stagger (a quarter of it) leaves time for one or two runs before each kill
        lines = ["[archiver]", 'contact = "https://example.org/archiver-tests"', "allow_private = true",
                 "host_delay = 0.0", "retries = 0", "respect_robots = false", 'verify_schedule = "off"', ""]
        for n in range(SERVICE_SOURCES):
            lines += ["[[source]]", f'id = "ministry-{n}"', 'kind = "feed"', f'locator = "{server.base}/s{n}/feed.xml"',
                      'schedule = "every 60s"', ""]
        config.write_text("\n".join(lines))
        killed_open: set[int] = set()
        committed: set[tuple[str, int]] = set()
        last_run = 0
        for kill in range(SERVICE_KILLS):
            if kill % 2 == 0:
                held.clear()
            process = start(db, config, "--no-serve", log=log)
            try:
                wait_for(lambda lr=last_run: db.exists() and _runs_after(db, lr), 60, "a run of the new process")
                time.sleep(rng.uniform(0.0, 0.3))  # a random moment mid-ingest (not an ordering: any moment will do)
            finally:
                process.kill()
                process.wait()
                held.set()
            killed_open |= {row[0] for row in query(db, "SELECT id FROM runs WHERE outcome IS NULL")}
            committed |= {("runs", r[0]) for r in query(db, "SELECT id FROM runs")}
            committed |= {("captures", r[0]) for r in query(db, "SELECT id FROM captures")}
            committed |= {("versions", r[0]) for r in query(db, "SELECT id FROM versions")}
            last_run = query(db, "SELECT max(id) FROM runs")[0][0]
        # a last start closes the last kill's runs; then a clean stop
        process = start(db, config, "--no-serve", log=log)
        wait_for(lambda: query(db, "SELECT count(*) FROM runs WHERE outcome IS NULL AND id <= ?", last_run)[0][0] == 0,
                 60, "the last kill's runs to be closed")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert killed_open, "the kills should have caught runs mid-way"
    assert any(table == "versions" for table, _ in committed), "posts should have been ingested between kills"
    crashed = {row[0] for row in query(db, "SELECT id FROM runs WHERE outcome = 'crashed'")}
    assert crashed == killed_open  # every killed run, and only those
    assert query(db, "SELECT count(*) FROM runs WHERE outcome IS NULL") == [(0,)]
    for table, row_id in committed:  # nothing committed before a kill was lost
        assert query(db, f"SELECT count(*) FROM {table} WHERE id = ?", row_id) == [(1,)], (table, row_id)
    ran = {row[0] for row in query(db, "SELECT DISTINCT source_id FROM runs WHERE kind = 'fetch' "
                                       "AND outcome NOT IN ('missed', 'skipped')")}
    assert ran == {f"ministry-{n}" for n in range(SERVICE_SOURCES)}  # the stagger did not starve any source
    report = verify(db)
    assert report.ok, report.problems
    status = subprocess.run([sys.executable, "-m", "archiver", "status", "--json", "--db", str(db)],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert json.loads(status.stdout)["crashed"] == len(crashed), status.stderr


def _runs_after(db: Path, run_id: int) -> bool:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute("SELECT count(*) FROM runs WHERE id > ? AND kind = 'fetch' AND outcome IS NULL",
                                (run_id,)).fetchone()[0] > 0
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return False
