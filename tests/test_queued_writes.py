"""A run queues its start, its records and its end to the writer and goes on; it waits once, at its end
(or, as the service runs it, its worker goes on to the next source and another thread waits).
A parser's read that an earlier record of the same run changes waits for that record's commit; nothing is
counted before its commit; a commit that fails makes the run a failure. The writer is held with a work that
blocks on an event, so what a run does while its writes are not yet committed is seen deterministically."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.archive import Archive, WriterThread
from archiver.config import Settings
from archiver.fetch import Fetcher
from archiver.jobs import RunReport, run_source, start_source
from archiver.models import Exchange, Observation, Source, utcnow
from archiver.verify import verify
from archiver.view import ArchiveView, RunView
from tests.conftest import FIXTURES
from tests.loopback import LoopbackServer, Reply
from tests.social_loop import rows
from tests.test_commit_failure import poisoned
from tests.test_x import TOKEN, FakeX
from tests.test_x import source as x_source

FEED = (FIXTURES / "real_feeds" / "github_releases_gulp.atom").read_bytes()
PATIENCE = 30  # seconds before a wait that must end is called hung


class Held:
    """A writer thread whose next batch waits until `release()`: works queue up meanwhile."""

    def __init__(self, writer: WriterThread) -> None:
        self.writer = writer
        self._running, self._hold = threading.Event(), threading.Event()

        def block(archive: Archive) -> None:
            self._running.set()
            assert self._hold.wait(PATIENCE)

        self.future = writer.submit(block)
        assert self._running.wait(PATIENCE)

    def queued(self) -> int:
        return self.writer._queue.qsize()

    def until_queued(self, n: int) -> None:
        deadline = time.monotonic() + PATIENCE
        while self.queued() < n:
            assert time.monotonic() < deadline, f"only {self.queued()} works queued, expected {n}"
            time.sleep(0.01)

    def release(self) -> None:
        self._hold.set()
        self.future.result(PATIENCE)


@pytest.fixture
def writer(db_path: Path) -> Iterator[WriterThread]:
    Archive(db_path, create=True).close()
    opened = WriterThread(db_path)
    yield opened
    opened.close()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    opened = Fetcher(Settings(allow_private=True, host_delay=0, respect_robots=False, retries=0))
    yield opened
    opened.close()


@pytest.fixture
def view(writer: WriterThread, db_path: Path) -> Iterator[ArchiveView]:
    opened = ArchiveView(db_path)  # of the archive the writer made
    yield opened
    opened.close()


def run_in_thread(source: Source, writer: WriterThread, fetcher: Fetcher,
                  view: ArchiveView) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["report"] = run_source(source, fetcher, writer.submit, view)
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_feed_run_queues_start_record_and_end_without_waiting_and_counts_after_the_commit(
        writer: WriterThread, fetcher: Fetcher, view: ArchiveView, db_path: Path) -> None:
    with LoopbackServer() as server:
        server.routes["/releases.atom"] = Reply(200, FEED, {"Content-Type": "application/atom+xml"})
        source = Source(id="gulp", kind="feed", locator=f"{server.base}/releases.atom")
        writer.call(lambda a: a.sync_sources([source.as_row()]))
        held = Held(writer)
        thread, out = run_in_thread(source, writer, fetcher, view)
        # fetched, parsed and all three writes queued while the writer has committed none of them
        held.until_queued(3)
        assert thread.is_alive() and "report" not in out  # the run waits for its commits before it reports
        assert rows(db_path, "SELECT count(*) FROM runs") == [(0,)]
        held.release()
        thread.join(PATIENCE)
    report: RunReport = out["report"]
    assert (report.outcome, report.requests) == ("ok", 1)
    assert report.new == rows(db_path, "SELECT count(*) FROM posts")[0][0] > 0
    assert rows(db_path, "SELECT id, outcome, n_captures, n_new FROM runs") == [(report.run_id, "ok", 1, report.new)]
    assert verify(db_path).ok


def test_a_started_run_frees_its_worker_before_its_commits_and_reports_only_after_them(
        writer: WriterThread, fetcher: Fetcher, view: ArchiveView, db_path: Path) -> None:
    """The service's worker takes its next source while the writer commits the last one's writes: the
    run returns with all three writes queued and none committed, and its report waits for them."""
    with LoopbackServer() as server:
        server.routes["/releases.atom"] = Reply(200, FEED, {"Content-Type": "application/atom+xml"})
        source = Source(id="gulp", kind="feed", locator=f"{server.base}/releases.atom")
        writer.call(lambda a: a.sync_sources([source.as_row()]))
        held = Held(writer)
        pending = start_source(source, fetcher, writer.submit, view)  # returns with the writer held
        assert held.queued() == 3 and rows(db_path, "SELECT count(*) FROM runs") == [(0,)]
        assert (pending.report.run_id, pending.report.new) == (0, 0)  # nothing counted before a commit
        held.release()
        report = pending.collect()
    assert (report.outcome, report.requests) == ("ok", 1)
    assert report.new == rows(db_path, "SELECT count(*) FROM posts")[0][0] > 0
    assert rows(db_path, "SELECT id, outcome, n_new FROM runs") == [(report.run_id, "ok", report.new)]


def test_a_later_page_reads_what_the_runs_earlier_pages_left_even_while_they_wait_for_the_writer(
        writer: WriterThread, fetcher: Fetcher, view: ArchiveView, db_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """X pages count their reads against the monthly budget: each page adds its posts to the count the
    earlier pages stored. Read before page 1's record commits, page 2 would lose page 1's reads."""
    monkeypatch.setenv("X_TEST_TOKEN", TOKEN)
    api = FakeX()
    with LoopbackServer() as server:
        server.routes = api.routes()
        source = x_source(server.base)
        writer.call(lambda a: a.sync_sources([source.as_row()]))
        held = Held(writer)
        thread, out = run_in_thread(source, writer, fetcher, view)
        held.until_queued(3)  # start, the user lookup and timeline page 1: page 2's parse waits for them
        thread.join(0.5)  # room for a run that would not wait to run ahead
        assert thread.is_alive() and len(api.queries) == 2  # both timeline pages fetched, page 2 not parsed yet
        assert held.queued() == 3
        held.release()
        thread.join(PATIENCE)
    report: RunReport = out["report"]
    assert (report.outcome, report.requests, report.new) == ("ok", 3, 3)
    assert rows(db_path, "SELECT value FROM source_state WHERE key = ?", f"reads_{utcnow()[:7]}") == [("3",)]


def test_a_read_no_queued_record_touches_does_not_wait(writer: WriterThread, view: ArchiveView) -> None:
    writer.call(lambda a: a.set_state("s", {"cursor": "old"}))
    run_view = RunView(view, "s")
    held = Held(writer)
    page = Exchange(requested_url="https://example.org/page", method="GET", started_at=utcnow(), status=200,
                    body=b"<p>a page</p>")
    observation = Observation(state={"next": "page 2"})
    run_view.queued(writer.submit(lambda a: a.record(page, observation, source_id="s")), page, observation)
    # not written by the queued record: answered now from what is committed
    assert run_view.state("s", "cursor") == "old"
    assert run_view.validators("https://example.org/other") is None
    assert run_view.post("web", "https://example.org/1") is None
    waited: dict[str, Any] = {}
    reader = threading.Thread(target=lambda: waited.update(next=run_view.state("s", "next")))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive()  # the key the queued record writes: waits for its commit
    held.release()
    reader.join(PATIENCE)
    assert waited == {"next": "page 2"}


def test_a_record_whose_commit_fails_makes_the_run_a_failure_and_counts_nothing(
        writer: WriterThread, fetcher: Fetcher, view: ArchiveView, db_path: Path) -> None:
    fetched, answer = threading.Event(), threading.Event()

    def slow_feed(handler: Any) -> Reply:
        fetched.set()
        assert answer.wait(PATIENCE)
        return Reply(200, FEED, {"Content-Type": "application/atom+xml"})

    with LoopbackServer() as server:
        server.routes["/releases.atom"] = slow_feed
        source = Source(id="gulp", kind="feed", locator=f"{server.base}/releases.atom")
        writer.call(lambda a: a.sync_sources([source.as_row()]))
        held = Held(writer)
        thread, out = run_in_thread(source, writer, fetcher, view)
        assert fetched.wait(PATIENCE)  # the run's start is queued, its page is on the way
        held.release()
        second = Held(writer)  # the start commits before (or with) this batch, which waits
        poison = writer.submit(poisoned)  # fails at COMMIT: the batch the run's record joins is lost
        answer.set()
        second.until_queued(3)  # the poison, the record and the run's end
        second.release()
        thread.join(PATIENCE)
    with pytest.raises(sqlite3.IntegrityError):
        poison.result(PATIENCE)
    report: RunReport = out["report"]
    assert report.outcome == "failed" and "FOREIGN KEY" in (report.error or "")
    assert (report.new, report.requests) == (0, 1)
    assert rows(db_path, "SELECT outcome, n_captures FROM runs") == [("failed", 0)]
    assert rows(db_path, "SELECT count(*) FROM posts") == [(0,)]
    assert verify(db_path).ok
