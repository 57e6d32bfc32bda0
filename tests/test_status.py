"""`archiver status` for an operator and for monitoring: `--check` exit codes on real archive files
(healthy, a stale source, a failed fixity check), the compact and wide layouts, and whether the service
is running, shown by a real `archiver run` process that speaks systemd's notify protocol to a unix
datagram socket standing in for systemd."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver import heartbeat
from archiver.archive import Archive
from archiver.cli import main
from archiver.models import Observation, Source, format_time
from tests.test_archive import _tamper, exchange, post
from tests.test_publish import free_port

HOUR = dt.timedelta(hours=1)
REASON = ("robots.txt unavailable (connection failed to 127.0.0.1:9: [Errno 111] Connection refused) at "
          "http://127.0.0.1:9/robots.txt, so not fetched (RFC 9309): GET http://127.0.0.1:9/statements/feed.xml")


def ago(delta: dt.timedelta) -> str:
    return format_time(dt.datetime.now(dt.UTC) - delta)


def build(db_path: Path, last_ok: dict[str, dt.timedelta]) -> Path:
    """An archive whose sources (every 1h) last succeeded that long ago, with one capture and a passed
    fixity check."""
    with Archive(db_path, create=True) as archive:
        archive.sync_sources([Source(id=sid, kind="feed", locator=f"https://example.org/{sid}.xml",
                                     schedule="every 1h").as_row() for sid in last_ok])
        for sid, delta in last_ok.items():
            archive.finish_run(archive.start_run("fetch", sid, started_at=ago(delta)), "ok")
        archive.record(exchange(b"<rss>statement</rss>"), Observation(posts=[post("a", "The ministry calls.")]))
    assert CliRunner().invoke(main, ["verify", "--db", str(db_path)]).exit_code == 0
    return db_path


def status(db_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["status", "--db", str(db_path), *args])
    return result.exit_code, result.stdout, result.stderr


def test_check_passes_on_a_healthy_archive(tmp_path: Path) -> None:
    db = build(tmp_path / "archive.db", {"ministry": HOUR / 2, "embassy": 2 * HOUR})
    assert status(db, "--check") == (0, "", "")


def test_check_fails_naming_a_source_without_success_for_three_intervals(tmp_path: Path) -> None:
    db = build(tmp_path / "archive.db", {"ministry": HOUR / 2, "embassy": 4 * HOUR, "mission": 5 * HOUR})
    with Archive(db) as archive:  # the embassy's later run failed: the reason is part of the problem
        archive.finish_run(archive.start_run("fetch", "embassy", started_at=ago(HOUR)), "failed", REASON)
        # the mission's failure came before its last success (then the service stopped): no cause to name
        archive.finish_run(archive.start_run("fetch", "mission", started_at=ago(9 * HOUR)), "failed", REASON)
    code, out, err = status(db, "--check")
    assert code == 1
    embassy, mission = out.splitlines()
    assert embassy.startswith("source embassy: no successful run since ")
    assert embassy.endswith(f"more than 3 x every 1h; last failed: {REASON}")
    assert mission.startswith("source mission: no successful run since ") and mission.endswith("x every 1h")
    assert "ministry" not in out
    assert err == f"archiver: status check: 2 problem(s) in {db}\n"
    assert status(db, "--check", "--intervals", "6")[0] == 0  # five hours is within six intervals


def test_a_partial_or_crashed_run_is_no_success(tmp_path: Path) -> None:
    db = build(tmp_path / "archive.db", {"ministry": 5 * HOUR})
    with Archive(db) as archive:
        archive.finish_run(archive.start_run("fetch", "ministry", started_at=ago(2 * HOUR)), "partial",
                           "1 problem(s); first: HTTP 503: GET https://example.org/s/2")
        archive.finish_run(archive.start_run("fetch", "ministry", started_at=ago(HOUR)), "crashed",
                           "left open by a killed process")
    code, out, _ = status(db, "--check")
    assert code == 1 and "source ministry: no successful run since" in out
    assert "last crashed: left open by a killed process" in out
    _, wide, _ = status(db, "--wide")
    header, row = [re.split(r" {2,}", line) for line in wide.splitlines() if line.startswith(("source ", "ministry "))]
    cells = dict(zip(header, row, strict=True))
    assert {name: cells[name] for name in ("runs", "failed", "partial", "crashed", "missed")} == {
        "runs": "3", "failed": "0", "partial": "1", "crashed": "1", "missed": "0"}
    assert cells["reason"] == "crashed: left open by a killed process"


def test_check_fails_after_a_failed_fixity_check(tmp_path: Path) -> None:
    db = build(tmp_path / "archive.db", {"ministry": HOUR / 2})
    _tamper(db, "UPDATE captures SET status = 404 WHERE id = 1")
    assert CliRunner().invoke(main, ["verify", "--db", str(db)]).exit_code == 1
    code, out, _ = status(db, "--check")
    assert code == 1
    assert out.startswith("fixity check failed at ") and "captures row 1: contents differ" in out
    assert "FAILED at" in status(db)[1]


def test_never_succeeded_source_is_stale_only_after_its_intervals(tmp_path: Path) -> None:
    db = build(tmp_path / "archive.db", {})
    with Archive(db) as archive:
        archive.sync_sources([Source(id="new", kind="feed", locator="https://example.org/n.xml",
                                     schedule="every 1h").as_row()])
        archive.finish_run(archive.start_run("fetch", "new", started_at=ago(HOUR)), "failed", REASON)
    assert status(db, "--check")[0] == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE runs SET started_at = ? WHERE source_id = 'new'", (ago(4 * HOUR),))  # the run was older
    conn.commit()
    conn.close()
    code, out, _ = status(db, "--check")
    assert code == 1 and "source new: never succeeded (since " in out


def test_compact_status_fits_100_columns_and_keeps_the_whole_reason(tmp_path: Path) -> None:
    db = build(tmp_path / "archive.db", {"ministry-of-foreign-affairs": 4 * HOUR})
    with Archive(db) as archive:
        archive.finish_run(archive.start_run("fetch", "ministry-of-foreign-affairs", started_at=ago(HOUR)),
                           "failed", REASON)
    code, out, _ = status(db)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 100
    assert " ".join(out.split()).count(" ".join(f"failed: {REASON}".split())) == 1  # all of it, wrapped
    assert "service: no heartbeat here" in out
    _, wide, _ = status(db, "--wide")
    assert f"failed: {REASON}" in wide  # one line


def _messages(sock: socket.socket, until: str, deadline: float = 60.0) -> list[str]:
    """Datagrams systemd would receive, up to the first that contains `until`."""
    sock.settimeout(deadline)
    seen: list[str] = []
    while True:
        try:
            data = sock.recv(4096).decode()
        except TimeoutError:
            pytest.fail(f"no {until!r} from the service within {deadline} s; got {seen}")
        seen.append(data)
        if until in data:
            return seen


def test_service_notifies_systemd_and_status_says_running_then_stopped(tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    assert CliRunner().invoke(main, ["init", "--db", str(db)]).exit_code == 0
    config = tmp_path / "sources.toml"
    config.write_text('[archiver]\ncontact = "mailto:operations@archive.test"\nverify_schedule = "off"\n')
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    port = free_port()
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1500000"}
    service = subprocess.Popen([sys.executable, "-m", "archiver", "run", "--db", str(db), "--config", str(config),
                                "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        ready = _messages(notify, "READY=1")
        assert "STATUS=0 sources scheduled; Datasette serving on" in ready[-1]
        _messages(notify, "WATCHDOG=1")  # pinged again within a third of WatchdogSec
        code, out, _ = status(db)
        assert code == 0 and f"service: running since {ago(dt.timedelta())[:10]}" in out
        assert f"(pid {service.pid} on {socket.gethostname()})" in out
        # the public face dies: systemd's STATUS says so (while the service keeps scheduling)
        datasette_pid = int(ready[-1].rsplit("(pid ", 1)[1].split(")")[0])
        os.kill(datasette_pid, signal.SIGKILL)
        dead = _messages(notify, "Datasette exited")[-1]
        assert "WATCHDOG=1" in dead
        service.send_signal(signal.SIGTERM)
        _messages(notify, "STOPPING=1")
        assert service.wait(timeout=60) == 0
    finally:
        if service.poll() is None:
            service.kill()
        service.wait()
        notify.close()
    code, out, _ = status(db)
    assert code == 0
    assert f"service: stopped since {ago(dt.timedelta())[:10]}" in out
    assert "next runs are not shown while it is not running" in out
    assert status(db, "--check") == (0, "", "")  # stopped on purpose: nothing to alert on


def test_a_killed_service_is_not_reported_running(tmp_path: Path) -> None:
    db = build(tmp_path / "archive.db", {"ministry": HOUR / 2})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    now = format_time(dt.datetime.now(dt.UTC))
    heartbeat.write(db, heartbeat.ServiceState(pid=int(dead.stdout), host=socket.gethostname(), started_at=now,
                                               heartbeat_at=now, period=10.0))
    with Archive(db) as archive:  # what the service published before it died
        archive.set_state("ministry", {"next_run": format_time(dt.datetime.now(dt.UTC) + HOUR)})
    _, out, _ = status(db)
    assert "service: not running: last heartbeat" in out and "killed or crashed" in out
    row = next(line for line in out.splitlines() if line.startswith("ministry"))
    assert row.split()[-4] == "-"  # no next run promised by a dead service
    code, out, _ = status(db, "--check")  # monitoring hears of it at once, not after three intervals
    assert code == 1 and out.startswith("service not running: last heartbeat ")
