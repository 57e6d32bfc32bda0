"""`archiver run` under faults, as a real process: its Datasette child killed (restarted, logged,
recorded, shown by status; and it never held a token variable), and a clean stop that leaves every
run in archive.db itself (the WAL checkpointed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.loopback import LoopbackServer, Reply
from tests.test_service import _up, free_port, query, start, wait_for, write_config

TOKEN = "tok-datasette-must-not-see-this"


def datasette_pids(log: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"Datasette serving .* \(pid (\d+)\)", log.read_text())]


def test_a_killed_datasette_child_is_restarted_and_recorded_and_a_stop_checkpoints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    monkeypatch.setenv("ARCHIVER_HARMLESS_SETTING", "kept")
    with LoopbackServer() as server:
        server.routes["/s0/feed.xml"] = Reply(200, b"<rss version='2.0'><channel><title>t</title></channel></rss>",
                                              {"Content-Type": "application/rss+xml"})
        config, db, log = tmp_path / "sources.toml", tmp_path / "archive.db", tmp_path / "service.log"
        write_config(config, server.base, 1)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = start(db, config, "--port", str(port), log=log)
        try:
            wait_for(lambda: _up(base) and len(datasette_pids(log)) == 1, 30, "Datasette")
            first = datasette_pids(log)[0]
            environ = Path(f"/proc/{first}/environ").read_bytes().split(b"\0")
            assert b"ARCHIVER_HARMLESS_SETTING=kept" in environ
            assert not any(entry.startswith(b"X_BEARER_TOKEN=") for entry in environ)
            assert TOKEN.encode() not in b"\0".join(environ)
            os.kill(first, signal.SIGKILL)
            wait_for(lambda: len(datasette_pids(log)) == 2 and _up(base), 30, "Datasette to be restarted")
            assert "died: killed by signal 9; restarting in 1 s" in log.read_text()
            deaths = query(db, "SELECT outcome, error, json_extract(details, '$.exit_status') FROM runs "
                               "WHERE kind = 'serve'")
            assert deaths == [("failed", f"Datasette (pid {first}) died: killed by signal 9; restarting in 1 s", -9)]
            status = subprocess.run([sys.executable, "-m", "archiver", "status", "--json", "--db", str(db)],
                                    capture_output=True, text=True, timeout=60)
            assert json.loads(status.stdout)["server"]["deaths"] == 1, status.stderr
            wait_for(lambda: query(db, "SELECT count(*) FROM runs WHERE kind = 'fetch' AND outcome IS NOT NULL"
                                       )[0][0] >= 2, 30, "two runs")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()[-2000:]
    assert not _up(base)
    # the WAL was checkpointed at the stop: archive.db copied alone holds every run
    alone = tmp_path / "copy" / "archive.db"
    alone.parent.mkdir()
    shutil.copyfile(db, alone)
    conn = sqlite3.connect(alone)
    try:
        copied = conn.execute("SELECT id, outcome FROM runs ORDER BY id").fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert copied == query(db, "SELECT id, outcome FROM runs ORDER BY id") and len(copied) >= 3
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
