"""`archiver sources check --online`: each enabled source's whole plan run once (its first requests and
the follow-ups they lead to, within a small request budget) through the same crawl as a real run,
recorded into a scratch archive that is thrown away, to tell which sources answer as their kind
expects, follow-up pages included."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from archiver import jobs
from archiver.archive import Archive
from archiver.config import Config, with_options
from archiver.fetch import Fetcher
from archiver.models import Source
from archiver.platforms.options import value as option_value
from archiver.view import ArchiveView


@dataclass
class ProbeResult:
    source: Source
    ok: bool
    summary: str
    failures: list[str] = field(default_factory=list)  # every request or page that failed


def probe_sources(config: Config, db_path: Path, *, max_requests: int) -> Iterator[ProbeResult]:
    """One result per source, each run making at most `max_requests` requests. The archive at
    `db_path`, when it exists, is only read, for what parsers compare against; a disabled source is
    reported, not probed."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch_db = Path(scratch) / "probe.db"
        with Archive(scratch_db, create=True) as archive:
            archive.sync_sources([source.as_row() for source in config.sources])
            view = ArchiveView(db_path if db_path.exists() else scratch_db)
            fetcher = Fetcher(config.settings)
            try:
                for source in config.sources:
                    if not source.enabled:
                        yield ProbeResult(source, True, "skipped (disabled)")
                        continue
                    yield _probe(source, fetcher, archive, view, max_requests)
            finally:
                view.close()
                fetcher.close()


def _probe(source: Source, fetcher: Fetcher, archive: Archive, view: ArchiveView, budget: int) -> ProbeResult:
    limit = min(budget, int(option_value(source, "max_requests")))
    report = jobs.run_source(with_options(source, max_requests=limit), fetcher, jobs.submit_now(archive), view)
    failures = [p for p in report.problems if not p.startswith(jobs.BUDGET_STOP)]
    if report.outcome == "failed" and report.error and report.error not in failures:
        failures.insert(0, report.error)
    unreached = "" if len(failures) == len(report.problems) else f", stopped at the budget of {limit}"
    counts = f"{report.requests} request(s), {report.new} post(s){unreached}"
    if report.outcome in ("failed", "skipped") or failures:
        return ProbeResult(source, False, f"FAILED ({counts}): {failures[0] if failures else report.error}",
                           failures)
    return ProbeResult(source, True, f"ok ({counts}, {report.not_modified} not modified)")
