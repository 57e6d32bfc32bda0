"""SIGKILL at random moments while recording: the file stays sound and no exchange is half-written."""

from __future__ import annotations

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
