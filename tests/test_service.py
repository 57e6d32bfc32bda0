"""`archiver run` as a real process against loopback servers: schedules, failures, edits and deletions,
configuration reload, concurrent Datasette readers, SIGTERM, and missed runs after a stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from archiver.verify import verify
from tests.conftest import init_archive
from tests.loopback import LoopbackServer, Reply

SOURCES = 20
INTERVAL = 3  # seconds between runs of each source
DEADLINE = 2.0  # total seconds per request


def rss(base: str, n: int, items: dict[int, str]) -> bytes:
    entries = "".join(
        f"<item><guid>{base}/s{n}/item{k}</guid><title>Statement {n}.{k}</title>"
        f"<link>{base}/s{n}/item{k}</link><description>{text}</description>"
        f"<pubDate>Mon, 02 Mar 2026 09:0{k}:00 +0000</pubDate></item>" for k, text in sorted(items.items()))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Ministry {n}</title>'
            f"<link>{base}/s{n}</link><description>Press releases</description>{entries}</channel></rss>").encode()


class Site:
    """Twenty ministries with feeds (ETag-aware), one that hangs and one that fails."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.items = {n: {1: f"Ministry {n} calls for calm.", 2: f"Ministry {n} denies the report."}
                      for n in range(SOURCES + 1)}
        for n in range(SOURCES + 1):
            server.routes[f"/s{n}/feed.xml"] = self._feed(n)
            for k in (1, 2):
                server.routes[f"/s{n}/item{k}"] = Reply(200, f"<html><body><p>{n}.{k}</p></body></html>".encode(),
                                                        {"Content-Type": "text/html"})
        # hangs until the test ends (an event, not a sleep): every request to it ends at its deadline
        self.release = threading.Event()
        server.routes["/hang/feed.xml"] = lambda handler: Reply(200, b"<rss/>") if self.release.wait(120) else Reply()
        server.routes["/broken/feed.xml"] = Reply(500, b"Internal Server Error")

    def _feed(self, n: int) -> Callable[..., Reply]:
        def route(handler: object) -> Reply:
            body = rss(self.server.base, n, self.items[n])
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            if getattr(handler, "headers", {}).get("If-None-Match") == etag:
                return Reply(304, b"", {"ETag": etag})
            return Reply(200, body, {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag})
        return route

    def edit(self, n: int, k: int, text: str) -> None:
        self.items[n][k] = text

    def remove(self, n: int, k: int) -> None:
        del self.items[n][k]
        del self.server.routes[f"/s{n}/item{k}"]


def write_config(path: Path, base: str, sources: int) -> None:
    lines = ["[archiver]", "allow_private = true", "host_delay = 0.0", f"deadline = {DEADLINE}", "retries = 0",
             "workers = 8", f"max_backoff = {INTERVAL * 2}", 'contact = "https://example.org/archiver-tests"',
             f'verify_schedule = "every {INTERVAL}s"', ""]
    for n in range(sources):
        lines += ["[[source]]", f'id = "ministry-{n:02d}"', 'kind = "feed"', f'locator = "{base}/s{n}/feed.xml"',
                  f'name = "Ministry {n}"', f'schedule = "every {INTERVAL}s"', ""]
    for name in ("hang", "broken"):
        lines += ["[[source]]", f'id = "{name}"', 'kind = "feed"', f'locator = "{base}/{name}/feed.xml"',
                  f'schedule = "every {INTERVAL}s"', ""]
    path.write_text("\n".join(lines))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(db: Path, config: Path, *extra: str, log: Path) -> subprocess.Popen[bytes]:
    init_archive(db)  # as the unit's ExecStartPre does: `archiver run` never creates an archive
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.Popen([sys.executable, "-m", "archiver", "run", "--db", str(db), "--config", str(config),
                             *extra], stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)


def query(db: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("service")
    with LoopbackServer() as server:
        site = Site(server)
        config, db, log = tmp / "sources.toml", tmp / "archive.db", tmp / "service.log"
        write_config(config, server.base, SOURCES)
        port = free_port()
        process = start(db, config, "--port", str(port), log=log)
        state = {"site": site, "server": server, "config": config, "db": db, "log": log, "port": port,
                 "process": process}
        try:
            yield state
        finally:
            site.release.set()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=DEADLINE + 10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def ok_sources(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return query(db, "SELECT count(DISTINCT source_id) FROM runs WHERE outcome IN ('ok', 'not_modified')")[0][0]
    except sqlite3.OperationalError:
        return 0


def test_every_source_is_archived_on_schedule(service: dict) -> None:
    db = service["db"]
    wait_for(lambda: ok_sources(db) >= SOURCES, 40, "every feed source to finish a run")
    posts = query(db, "SELECT source_id, count(*) FROM posts GROUP BY source_id")
    assert len(posts) == SOURCES and all(n == 2 for _, n in posts)
    titles = {r[0] for r in query(db, "SELECT title FROM posts WHERE source_id = 'ministry-07'")}
    assert titles == {"Statement 7.1", "Statement 7.2"}


def test_an_edit_and_a_deletion_on_the_server_become_a_version_and_events(service: dict) -> None:
    db, site = service["db"], service["site"]
    wait_for(lambda: ok_sources(db) >= SOURCES, 40, "first runs")
    site.edit(3, 1, "Ministry 3 calls for calm and an independent inquiry.")
    site.remove(4, 2)
    wait_for(lambda: query(db, "SELECT count(*) FROM events e JOIN posts p ON p.id = e.post_id "
                               "WHERE p.source_id = 'ministry-03' AND e.type = 'edited'")[0][0] == 1, 20, "the edit")
    wait_for(lambda: query(db, "SELECT count(*) FROM events e JOIN posts p ON p.id = e.post_id "
                               "WHERE p.source_id = 'ministry-04' AND e.type = 'deleted'")[0][0] == 1, 20,
             "the deletion")
    texts = [r[0] for r in query(db, "SELECT v.text FROM versions v JOIN posts p ON p.id = v.post_id "
                                     "WHERE p.source_id = 'ministry-03' AND p.title = 'Statement 3.1' "
                                     "ORDER BY v.number")]
    assert texts == ["Ministry 3 calls for calm.", "Ministry 3 calls for calm and an independent inquiry."]
    deleted = query(db, "SELECT c.status, c.requested_url FROM events e JOIN posts p ON p.id = e.post_id "
                        "JOIN captures c ON c.id = e.capture_id WHERE e.type = 'deleted'")
    assert deleted == [(404, f"{service['server'].base}/s4/item2")]


def test_hung_and_failing_sources_are_recorded_and_do_not_hold_the_others(service: dict) -> None:
    db = service["db"]
    wait_for(lambda: query(db, "SELECT count(*) FROM runs WHERE source_id = 'hang' AND outcome = 'failed'")[0][0]
             >= 1, 30, "the hung source's failed run")
    hung = query(db, "SELECT r.error, (julianday(c.ended_at) - julianday(json_extract(c.details, '$.sent_at')))"
                     " * 86400 FROM runs r JOIN captures c ON c.run_id = r.id "
                     "WHERE r.source_id = 'hang' AND r.outcome = 'failed' ORDER BY r.id LIMIT 1")[0]
    assert "deadline" in hung[0] or "no response" in hung[0], hung[0]
    # the deadline counts from the send: a generous bound, the point is that the hang is cut
    assert hung[1] < DEADLINE + 2, f"the hung request lasted {hung[1]:.1f}s after it was sent"
    wait_for(lambda: query(db, "SELECT count(*) FROM runs WHERE source_id = 'broken' AND outcome = 'failed'")[0][0]
             >= 1, 30, "the failing source's failed run")
    # every failed run of the failing source failed on its own answer, never on time spent queueing for
    # the host behind the hung source (they share it)
    broken = query(db, "SELECT error FROM runs WHERE source_id = 'broken' AND outcome = 'failed'")
    assert broken and all("500" in error for error, in broken), broken
    wait_for(lambda: query(db, "SELECT count(*) FROM runs WHERE source_id = 'broken' AND outcome = 'skipped' "
                               "AND error LIKE 'backing off%'")[0][0] >= 1, 30, "the failing source to back off")
    # the server is mended: the source recovers by itself
    service["server"].routes["/broken/feed.xml"] = Reply(200, rss(service["server"].base, 99, {1: "Back online."}),
                                                         {"Content-Type": "application/rss+xml"})
    wait_for(lambda: query(db, "SELECT count(*) FROM runs WHERE source_id = 'broken' AND outcome = 'ok'")[0][0]
             >= 1, INTERVAL * 2 + 15, "the failing source to recover")
    # meanwhile every healthy source kept its schedule
    wait_for(lambda: min(n for _, n in query(
        db, "SELECT source_id, count(*) FROM runs WHERE source_id LIKE 'ministry-%' "
            "AND outcome IN ('ok', 'not_modified') GROUP BY source_id")) >= 3, 30, "three runs of every source")
    not_modified = query(db, "SELECT count(*) FROM runs WHERE outcome = 'not_modified'")[0][0]
    assert not_modified > 0  # ETags were sent and honoured


def test_the_service_checks_fixity_on_schedule_and_records_each_chain_head(service: dict) -> None:
    db = service["db"]
    wait_for(lambda: len(query(db, "SELECT id FROM runs WHERE kind = 'verify'")) >= 2, 30, "two fixity checks")
    checks = query(db, "SELECT outcome, json_extract(details, '$.head'), json_extract(details, '$.summary') "
                       "FROM runs WHERE kind = 'verify' ORDER BY id")
    assert all(outcome == "ok" for outcome, _, _ in checks), checks
    heads = [head for _, head, _ in checks]
    assert all(len(head) == 64 for head in heads)
    # each recorded head is an entry of the chain: the history it vouches for is still there
    vouched = [head for head in heads if head != "0" * 64]  # (a check before the first capture vouches for none)
    assert vouched, heads
    for head in vouched:
        assert query(db, "SELECT count(*) FROM chain WHERE entry_sha256 = ?", head) == [(1,)]
    assert "fixity check: checked" in service["log"].read_text()


def test_status_reports_every_source(service: dict) -> None:
    result = subprocess.run([sys.executable, "-m", "archiver", "status", "--json", "--db", str(service["db"])],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert result.returncode == 0, result.stderr
    sources = {s["id"]: s for s in json.loads(result.stdout)["sources"]}
    assert len(sources) == SOURCES + 2
    assert sources["ministry-00"]["last_ok"] and sources["ministry-00"]["next_run"]
    assert sources["broken"]["last_failure"] and "500" in sources["broken"]["last_error"]
    fixity = json.loads(result.stdout)["fixity"]  # the service's scheduled check (verify_schedule)
    assert fixity["outcome"] == "ok" and len(fixity["head"]) == 64


def test_concurrent_datasette_readers_never_see_a_locked_database(service: dict) -> None:
    base = f"http://127.0.0.1:{service['port']}"
    wait_for(lambda: _up(base), 30, "Datasette")
    paths = ["/archive/posts.json?_size=50", "/archive.json?sql=select+count(*)+from+versions",
             "/archive/runs.json?_sort_desc=id&_size=20", "/archive/events.json?_size=20"]
    errors: list[str] = []
    done: list[int] = []

    def reader(n: int) -> None:
        count = 0
        end = time.monotonic() + 6
        while time.monotonic() < end:
            response = requests.get(base + paths[(n + count) % len(paths)], timeout=10)
            if response.status_code != 200 or "locked" in response.text:
                errors.append(f"{response.status_code} {response.text[:200]}")
            count += 1
        done.append(count)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(done) > 40


def _up(base: str) -> bool:
    try:
        return requests.get(base + "/-/versions.json", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_configuration_reload_adds_a_source_without_restart(service: dict) -> None:
    config, db = service["config"], service["db"]
    write_config(config, service["server"].base, SOURCES + 1)
    wait_for(lambda: query(db, "SELECT count(*) FROM runs WHERE source_id = ?", f"ministry-{SOURCES:02d}")[0][0]
             >= 1, 20, "the added source to run")
    assert service["process"].poll() is None


def test_sigterm_drains_and_missed_runs_are_recorded_at_the_next_start(service: dict) -> None:
    process, db = service["process"], service["db"]
    before = query(db, "SELECT count(*) FROM posts")[0][0]
    stopped_at = time.time()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=DEADLINE + 10)
    took = time.time() - stopped_at
    assert process.returncode == 0, service["log"].read_text()[-2000:]
    assert took < DEADLINE + 5, f"shutdown took {took:.1f}s"
    assert query(db, "SELECT count(*) FROM posts")[0][0] >= before
    assert query(db, "SELECT count(*) FROM runs WHERE outcome IS NULL")[0][0] == 0
    report = verify(db)
    assert report.ok, report.problems

    time.sleep(INTERVAL * 3)  # the service is down across several scheduled times
    again = start(db, service["config"], "--no-serve", log=service["log"])
    try:
        wait_for(lambda: query(db, "SELECT count(*) FROM runs WHERE outcome = 'missed' AND source_id = 'ministry-00'")
                 [0][0] >= 1, 20, "missed runs")
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=DEADLINE + 10)
    missed = query(db, "SELECT scheduled_at, error FROM runs WHERE outcome = 'missed' AND source_id = 'ministry-00'")
    assert all("not running" in error for _, error in missed)
    assert verify(db).ok


def test_datasette_does_not_outlive_a_killed_service(tmp_path: Path) -> None:
    config, db, log = tmp_path / "sources.toml", tmp_path / "archive.db", tmp_path / "service.log"
    write_config(config, "http://127.0.0.1:9", 0)  # no sources: only the server matters here
    port = free_port()
    process = start(db, config, "--port", str(port), log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(base), 30, "Datasette")
    finally:
        process.kill()
        process.wait()
    wait_for(lambda: not _up(base), 10, "Datasette to stop after the service was killed")
