"""`archiver sources check --online`: one request per enabled source through the fetch layer,
parsed but never recorded, to tell which sources answer as their kind expects."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from archiver.archive import Archive
from archiver.config import Config
from archiver.fetch import Fetcher
from archiver.models import Source
from archiver.platforms import platform
from archiver.view import ArchiveView


def probe_sources(config: Config, db_path: Path) -> Iterator[tuple[Source, bool, str]]:
    """(source, answered as expected, what happened) for each source. The archive, when it exists,
    is only read, for what parsers compare against; a disabled source is reported, not probed."""
    with tempfile.TemporaryDirectory() as scratch:
        if not db_path.exists():
            db_path = Path(scratch) / "empty.db"
            Archive(db_path, create=True).close()
        view = ArchiveView(db_path)
        fetcher = Fetcher(config.settings)
        try:
            for source in config.sources:
                if not source.enabled:
                    yield source, True, "skipped (disabled)"
                    continue
                yield (source, *_probe(source, fetcher, view))
        finally:
            view.close()
            fetcher.close()


def _probe(source: Source, fetcher: Fetcher, view: ArchiveView) -> tuple[bool, str]:
    module = platform(source.kind)
    request = module.plan(source, view)[0]
    exchange = fetcher.fetch(request, source, None)
    try:
        if exchange.status is None:
            return False, f"FAILED: {exchange.failure()}"
        parsed = module.parse(source, request, exchange, view)
    except Exception as exc:  # any failure is this source's answer, not the command's
        return False, f"FAILED {request.url}: HTTP {exchange.status}: {exc}"
    return True, (f"ok HTTP {exchange.status}, {len(parsed.observation.posts)} post(s), "
                  f"{len(parsed.follow)} follow-up request(s)")
