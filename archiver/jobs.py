"""One run of one source: plan → fetch → parse → record, repeated over the requests each page leads
to, bounded in requests and time; and the Runner that `archiver fetch` and the scheduled service
both run sources through (one writer thread, one read view, one fetcher)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from archiver.archive import Archive, WriterThread
from archiver.fetch import Fetcher as HttpFetcher
from archiver.fetch.settings import FetchSettings
from archiver.models import Exchange, Observation, Request, Source
from archiver.platforms import Parsed, ParseError, options, platform
from archiver.view import ArchiveView, Validators

log = logging.getLogger(__name__)
T = TypeVar("T")
Write = Callable[[Callable[[Archive], T]], T]
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


def run_source(source: Source, fetcher: Fetcher, write: Write[Any], view: ArchiveView, *,
               scheduled_at: str | None = None, should_stop: Callable[[], bool] = lambda: False
               ) -> RunReport:
    """Run one source once and record the run. Failures are recorded, not raised."""
    run_id = write(lambda archive: archive.start_run("fetch", source.id, scheduled_at))
    report = RunReport(run_id=run_id, source_id=source.id)
    try:
        _crawl(source, fetcher, write, view, report, should_stop)
    except Exception as exc:  # a bug must still end the run as a recorded failure
        log.debug("source %s: run %s raised", source.id, run_id, exc_info=True)  # the run's line says what
        report.outcome, report.error = "failed", " ".join(f"internal error: {type(exc).__name__}: {exc}".split())
    write(lambda archive: archive.finish_run(run_id, report.outcome, report.error, report.as_details()))
    level = logging.WARNING if report.outcome in ("failed", "partial") else logging.INFO
    log.log(level, "source %s: run %s %s%s (requests %d, new %d, edited %d, deleted %d)", source.id,
            run_id, report.outcome, f": {report.error}" if report.error else "", report.requests,
            report.new, report.edited, report.deleted, extra={"source": source.id, "run": run_id})
    return report


def _crawl(source: Source, fetcher: Fetcher, write: Write[Any], view: ArchiveView, report: RunReport,
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
        observation = parsed.observation if parsed else None
        result = write(lambda archive, e=exchange, o=observation: archive.record(
            e, o, run_id=report.run_id, source_id=source.id))
        report.new += result.new
        report.edited += result.edited
        report.missing += result.missing
        report.deleted += result.deleted
        if result.conflicts:
            report.conflicts += result.conflicts
            log.warning("source %s: %d item(s) of %s carry an identity another owner holds: archived as separate "
                        "posts (identity_conflicts)", source.id, result.conflicts, request.url)
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
           view: ArchiveView) -> tuple[Parsed | None, str | None]:
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


def capture_url(write: Write[Any], fetcher: Fetcher, url: str, *,
                allow_private: bool = False) -> tuple[int, Exchange, str | None]:
    """An ad-hoc capture of one URL in a run of its own, not parsed: (capture id, exchange, payload
    digest). Lets a user try the fetch layer alone, and record a page no source covers."""
    adhoc = Source(id="adhoc", kind="webpage", locator=url, options={"allow_private": allow_private})
    run_id = write(lambda archive: archive.start_run("fetch"))
    exchange = fetcher.fetch(Request(url, purpose="adhoc", conditional=False), adhoc, None)

    def record(archive: Archive) -> tuple[int, str | None]:
        result = archive.record(exchange, run_id=run_id)
        archive.finish_run(run_id, "failed" if exchange.error else "ok", exchange.error)
        return result.capture_id, archive.conn.execute("SELECT payload_sha256 FROM captures WHERE id = ?",
                                                       (result.capture_id,)).fetchone()[0]

    capture_id, digest = write(record)
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
        return run_source(source, self.fetcher, self.writer.call, self.view, scheduled_at=scheduled_at,
                          should_stop=should_stop)

    def capture(self, url: str, *, allow_private: bool = False) -> tuple[int, Exchange, str | None]:
        return capture_url(self.writer.call, self.fetcher, url, allow_private=allow_private)

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


__all__ = ["Fetcher", "Observation", "RunReport", "Runner", "capture_url", "direct", "run_source"]
