"""One run of one source: plan → fetch → parse → record, repeated over the requests each page leads
to, bounded in requests and time; and the Runner that `archiver fetch` and the scheduled service
both run sources through (one writer thread, one read view, one fetcher)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from archiver.archive import Archive, WriterThread
from archiver.fetch import Fetcher as HttpFetcher
from archiver.fetch.settings import FetchSettings
from archiver.models import Exchange, Observation, RecordResult, Request, Source
from archiver.platforms import Parsed, ParseError, options, platform
from archiver.view import ArchiveView, RunView, Validators

log = logging.getLogger(__name__)
T = TypeVar("T")
Write = Callable[[Callable[[Archive], T]], T]
# queues work for the writer and returns at once; the future resolves after the work's commit
Submit = Callable[[Callable[[Archive], T]], "Future[T]"]
BUDGET_STOP = "stopped at max_requests="  # the problem noted when a run ends at its request budget


class Fetcher(Protocol):
    def fetch(self, request: Request, source: Source, validators: Validators | None) -> Exchange:
        """Make the request (or refuse it) and return what happened; never raises for network trouble."""
        ...


@dataclass
class RunReport:
    run_id: int
    source_id: str
    outcome: str = "ok"
    error: str | None = None
    requests: int = 0
    not_modified: int = 0
    new: int = 0
    edited: int = 0
    missing: int = 0
    deleted: int = 0
    conflicts: int = 0  # items under another owner's identity, archived as separate posts
    problems: list[str] = field(default_factory=list)

    def as_details(self) -> dict[str, Any]:
        return {"requests": self.requests, "not_modified": self.not_modified, "missing": self.missing,
                "identity_conflicts": self.conflicts, "problems": self.problems[:50]}


def run_source(source: Source, fetcher: Fetcher, submit: Submit[Any], view: ArchiveView, *,
               scheduled_at: str | None = None, should_stop: Callable[[], bool] = lambda: False
               ) -> RunReport:
    """Run one source once and record the run, waiting for its commits. Failures are recorded, not
    raised."""
    return start_source(source, fetcher, submit, view, scheduled_at=scheduled_at,
                        should_stop=should_stop).collect()


def start_source(source: Source, fetcher: Fetcher, submit: Submit[Any], view: ArchiveView, *,
                 scheduled_at: str | None = None, should_stop: Callable[[], bool] = lambda: False
                 ) -> PendingRun:
    """Run one source once, up to its last request: the run's start, its records and its end are queued
    to the writer as they come and not waited for, so the calling worker can take its next source while
    they commit. What it returns reports the run once it is committed."""
    writes = RunWrites(submit, source.id, scheduled_at)
    report = RunReport(run_id=0, source_id=source.id)
    try:
        _crawl(source, fetcher, writes, RunView(view, source.id), report, should_stop)
    except Exception as exc:  # a bug must still end the run as a recorded failure
        log.debug("source %s: run raised", source.id, exc_info=True)  # the run's line says what
        report.outcome, report.error = "failed", internal_error(exc)
    writes.finish(report)
    return PendingRun(writes, report)


@dataclass
class PendingRun:
    """A run whose requests are done and whose writes are queued."""

    writes: RunWrites
    report: RunReport

    def collect(self) -> RunReport:
        """Wait for the run's commits and report what was committed (the run's log line)."""
        report = self.report
        self.writes.collect(report)
        level = logging.WARNING if report.outcome in ("failed", "partial") else logging.INFO
        log.log(level, "source %s: run %s %s%s (requests %d, new %d, edited %d, deleted %d)", report.source_id,
                report.run_id, report.outcome, f": {report.error}" if report.error else "", report.requests,
                report.new, report.edited, report.deleted, extra={"source": report.source_id, "run": report.run_id})
        return report


def internal_error(exc: BaseException) -> str:
    return " ".join(f"internal error: {type(exc).__name__}: {exc}".split())


class _Slot:
    """What a queued work left on the writer thread, for later works of the same run in the same batch
    (whose futures resolve only at the batch's commit)."""
    value: Any = None
    error: BaseException | None = None


class RunWrites:
    """One run's writes, queued to the writer in order, never waited for one by one. Later works read
    what earlier ones did on the writer thread: the run's id, whether anything failed, the records'
    results. An earlier batch's futures are resolved before a later batch runs; within one batch, the
    slots say it (and if that batch's commit fails, none of it is durable)."""

    def __init__(self, submit: Submit[Any], source_id: str, scheduled_at: str | None) -> None:
        self._submit = submit
        self._source_id = source_id
        self._works: list[tuple[Future[Any], _Slot]] = []
        self._records: list[tuple[Future[Any], str]] = []  # (future of a RecordResult, its request's URL)
        self._finish: Future[Any] | None = None
        self._resolved = 0  # how many works from the first are known to have committed
        self._queue(lambda archive: archive.start_run("fetch", source_id, scheduled_at))

    def _queue(self, work: Callable[[Archive], Any]) -> Future[Any]:
        slot = _Slot()

        def run(archive: Archive) -> Any:
            try:
                slot.value = work(archive)
            except BaseException as exc:
                slot.error = exc
                raise
            return slot.value

        future = self._submit(run)
        self._works.append((future, slot))
        return future

    def record(self, exchange: Exchange, observation: Observation | None, url: str, view: RunView) -> None:
        future = self._queue(lambda archive: archive.record(exchange, observation, run_id=self._run_id(),
                                                            source_id=self._source_id))
        self._records.append((future, url))
        view.queued(future, exchange, observation)

    def failed(self) -> BaseException | None:
        """The error of a work of this run that failed, as far as the writer has got (None: none known);
        never waits. The writer resolves works in the order they were queued."""
        while self._resolved < len(self._works) and (future := self._works[self._resolved][0]).done():
            if future.exception() is not None:
                return future.exception()
            self._resolved += 1
        return None

    def _run_id(self) -> int:
        """On the writer thread: the id of this run, started by the first work."""
        started, slot = self._works[0]
        if started.done():
            return int(started.result())  # raises if the start was not committed
        if slot.value is None:
            raise RuntimeError("the run could not be started")
        return int(slot.value)

    def _writer_side(self, earlier: list[tuple[Future[Any], _Slot]]) -> tuple[BaseException | None, list[Any]]:
        """On the writer thread: the first failure among `earlier` works, and the values of the others."""
        failure, values = None, []
        for future, slot in earlier:
            error = future.exception() if future.done() else slot.error
            if error is not None:
                failure = failure or error
            else:
                values.append(future.result() if future.done() else slot.value)
        return failure, values

    def finish(self, report: RunReport) -> None:
        """Queue the run's end: failed if any of its works failed, its details from what was recorded."""
        ended = replace(report, problems=list(report.problems))
        earlier = list(self._works)

        def finish(archive: Archive) -> tuple[str, str | None]:
            failure, values = self._writer_side(earlier)
            results = [value for value in values if isinstance(value, RecordResult)]
            ended.missing = sum(r.missing for r in results)
            ended.conflicts = sum(r.conflicts for r in results)
            if failure is not None:
                ended.outcome, ended.error = "failed", internal_error(failure)
            archive.finish_run(self._run_id(), ended.outcome, ended.error, ended.as_details())
            return ended.outcome, ended.error

        self._finish = self._queue(finish)

    def collect(self, report: RunReport) -> None:
        """Wait for every work of the run and report what was committed. Raises when the run could not be
        started or its failure could not be recorded (the archive refuses writes)."""
        assert self._finish is not None, "collect before finish"
        wait([future for future, _ in self._works])
        report.run_id = int(self._works[0][0].result())
        for future, url in self._records:
            if future.exception() is not None:
                continue
            result: RecordResult = future.result()
            report.new += result.new
            report.edited += result.edited
            report.missing += result.missing
            report.deleted += result.deleted
            if result.conflicts:
                report.conflicts += result.conflicts
                log.warning("source %s: %d item(s) of %s carry an identity another owner holds: archived as "
                            "separate posts (identity_conflicts)", report.source_id, result.conflicts, url)
        if self._finish.exception() is None:
            report.outcome, report.error = self._finish.result()
            return
        # the end was not committed: the run is still open; record it failed, or raise
        report.outcome, report.error = "failed", internal_error(self._finish.exception())
        run_id, error, details = report.run_id, report.error, report.as_details()
        self._submit(lambda archive: archive.finish_run(run_id, "failed", error, details)).result()


def _crawl(source: Source, fetcher: Fetcher, writes: RunWrites, view: RunView, report: RunReport,
           should_stop: Callable[[], bool]) -> None:
    module = platform(source.kind)
    max_requests = int(options.value(source, "max_requests"))
    deadline = time.monotonic() + float(options.value(source, "run_deadline"))
    try:
        queue: deque[Request] = deque(module.plan(source, view))
    except ParseError as exc:  # the platform refuses to start (e.g. a read budget is spent): nothing sent
        report.outcome, report.error = "failed", str(exc)
        return
    seen: set[tuple[str, str]] = set()
    listing_failures = listings = failures = 0
    while queue:
        request = queue.popleft()
        if (request.method, request.url) in seen:
            continue
        seen.add((request.method, request.url))
        if report.requests >= max_requests:
            report.problems.append(f"{BUDGET_STOP}{max_requests}; {len(queue) + 1} left")
            break
        if should_stop():
            if report.requests == 0:
                report.outcome, report.error = "skipped", "the service was shutting down"
                return
            report.problems.append(f"run ended early: the service was shutting down; {len(queue) + 1} left")
            break
        if (failure := writes.failed()) is not None:
            raise failure  # the archive refused an earlier record of this run: stop as a failure
        if time.monotonic() > deadline:
            report.problems.append(f"run ended early at its deadline; {len(queue) + 1} left")
            break
        validators = view.validators(request.url) if request.conditional else None
        exchange = fetcher.fetch(request, source, validators)
        report.requests += 1
        if exchange.not_modified:
            report.not_modified += 1
        parsed, problem = _parse(module, source, request, exchange, view)
        if parsed and parsed.problems:
            failures += 1
            report.problems.extend(parsed.problems)
        writes.record(exchange, parsed.observation if parsed else None, request.url, view)
        if request.purpose == "listing":
            listings += 1
        if problem:
            failures += 1
            report.problems.append(problem)
            if request.purpose == "listing":
                listing_failures += 1
                if listings == 1:
                    report.error = problem  # the source's first page failed: the run failed
        if parsed:
            queue.extend(parsed.follow)
    if listing_failures and listing_failures == listings:
        report.outcome = "failed"
        report.error = report.error or report.problems[0]
    elif report.requests and report.not_modified == report.requests:
        report.outcome = "not_modified"
    elif failures:  # something was recorded, but a request, a follow-up page or part of a document failed
        report.outcome = "partial"
        report.error = report.error or f"{len(report.problems)} problem(s); first: {report.problems[0]}"
    elif report.problems and not report.error:
        report.error = f"{len(report.problems)} problem(s); first: {report.problems[0]}"


def _parse(module: Any, source: Source, request: Request, exchange: Exchange,
           view: RunView) -> tuple[Parsed | None, str | None]:
    if exchange.not_modified:
        return None, None
    if exchange.status is None:
        return None, exchange.failure()
    try:
        return module.parse(source, request, exchange, view), None
    except ParseError as exc:
        return None, str(exc)
    except Exception as exc:  # a parser bug on hostile input is a failed page, not a dead run
        # one line in the service log (the run's own line repeats it); the traceback only at DEBUG
        log.debug("source %s: parser %s failed on %s", source.id, source.kind, request.url, exc_info=True)
        cause = " ".join(f"{type(exc).__name__}: {exc}".split())  # a message with newlines stays one line
        return None, f"{source.kind} parser failed: {cause}: {request.method} {request.url}"


def capture_url(submit: Submit[Any], fetcher: Fetcher, url: str, *,
                allow_private: bool = False) -> tuple[int, Exchange, str | None]:
    """An ad-hoc capture of one URL in a run of its own, not parsed: (capture id, exchange, payload
    digest). Lets a user try the fetch layer alone, and record a page no source covers."""
    adhoc = Source(id="adhoc", kind="webpage", locator=url, options={"allow_private": allow_private})
    run_id = submit(lambda archive: archive.start_run("fetch")).result()
    exchange = fetcher.fetch(Request(url, purpose="adhoc", conditional=False), adhoc, None)

    def record(archive: Archive) -> tuple[int, str | None]:
        result = archive.record(exchange, run_id=run_id)
        archive.finish_run(run_id, "failed" if exchange.error else "ok", exchange.error)
        return result.capture_id, archive.conn.execute("SELECT payload_sha256 FROM captures WHERE id = ?",
                                                       (result.capture_id,)).fetchone()[0]

    capture_id, digest = submit(record).result()
    return capture_id, exchange, digest


class Runner:
    """What a process needs to run sources against one archive: the single writer thread, a read view
    for the parsers, and the fetcher. The service schedules its runs; `archiver fetch` runs them now."""

    def __init__(self, db_path: str | Path, settings: FetchSettings) -> None:
        self.writer = WriterThread(db_path)
        self.view = ArchiveView(db_path)
        self.fetcher = HttpFetcher(settings)

    def sync(self, sources: list[Source]) -> None:
        """Make the archive's sources table match the configuration."""
        self.writer.call(lambda archive: archive.sync_sources([s.as_row() for s in sources]))

    def run(self, source: Source, *, scheduled_at: str | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> RunReport:
        return self.start(source, scheduled_at=scheduled_at, should_stop=should_stop).collect()

    def start(self, source: Source, *, scheduled_at: str | None = None,
              should_stop: Callable[[], bool] = lambda: False) -> PendingRun:
        return start_source(source, self.fetcher, self.writer.submit, self.view, scheduled_at=scheduled_at,
                            should_stop=should_stop)

    def capture(self, url: str, *, allow_private: bool = False) -> tuple[int, Exchange, str | None]:
        return capture_url(self.writer.submit, self.fetcher, url, allow_private=allow_private)

    def close(self) -> None:
        """Commit what is queued, checkpoint, and close (the view first: it is a reader of the file)."""
        self.view.close()
        self.writer.close()
        self.fetcher.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def direct(archive: Archive) -> Write[Any]:
    """A `write` for single-threaded use (the CLI): run the work on this thread's Archive."""
    return lambda work: work(archive)


def submit_now(archive: Archive) -> Submit[Any]:
    """A `submit` for single-threaded use (the CLI): run the work now, on this thread's Archive (each
    Archive call commits on its own); the future it returns is done."""
    def submit(work: Callable[[Archive], T]) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(work(archive))
        except Exception as exc:
            future.set_exception(exc)
        return future
    return submit


__all__ = ["Fetcher", "Observation", "PendingRun", "RunReport", "Runner", "capture_url", "direct", "run_source",
           "start_source", "submit_now"]
