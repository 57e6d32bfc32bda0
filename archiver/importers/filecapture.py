"""What every file import shares: the file recorded as one capture (digest, name, size, time of
import) inside an `import` run, posts written against it in batches, a progress bar, and the rule
that importing the same bytes again changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tqdm import tqdm

from archiver.archive import Archive
from archiver.database import ArchiveError
from archiver.models import Exchange, Observation, utcnow
from archiver.progress import bar

BATCH = 500  # posts per transaction: large enough to be fast, small enough to keep memory flat


class ImportFailed(ArchiveError):
    """The file cannot be imported; the message names the file and the place in it."""


@dataclass
class ImportReport:
    path: str
    digest: str
    capture_id: int
    run_id: int | None = None
    posts: int = 0
    new: int = 0
    edited: int = 0
    earlier: int = 0  # versions dated before the one the archive holds as current, found after it
    deleted: int = 0
    already: bool = False
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.already:
            return (f"{self.path}: already imported (capture {self.capture_id}, sha256 {self.digest[:12]}…); "
                    "nothing changed")
        skipped = f"; {len(self.problems)} entries could not be read" if self.problems else ""
        earlier = f", {self.earlier} earlier versions (not current)" if self.earlier else ""
        return (f"{self.path}: imported {self.posts} posts as capture {self.capture_id} "
                f"({self.new} new, {self.edited} edited{earlier}, {self.deleted} deleted){skipped}")


def file_digest(paths: Iterable[Path]) -> tuple[str, int]:
    """SHA-256 and total size of the files' bytes, read in chunks (one file: its plain digest)."""
    digest = hashlib.sha256()
    size = 0
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    return digest.hexdigest(), size


def previous_import(archive: Archive, digest: str) -> int | None:
    """The capture of an earlier import of the same bytes whose run finished ok."""
    row = archive.conn.execute(
        "SELECT c.id FROM captures c JOIN runs r ON r.id = c.run_id WHERE c.kind = 'import' "
        "AND c.transferred_sha256 = ? AND r.outcome = 'ok' ORDER BY c.id LIMIT 1", (digest,)).fetchone()
    return row[0] if row else None


def import_observations(archive: Archive, path: Path, digest: str, size: int,
                        observations: Iterator[Observation], problems: list[str], *, what: str,
                        progress: bool = True, total: int | None = None) -> ImportReport:
    """Record `path` as one capture and every observation against it, in batches (`import_batches`),
    with a bar over `total` entries (None: a counter without ETA)."""
    shown = bar(f"importing {path.name}", total, " entries", enabled=progress)
    return import_batches(archive, path, digest, size, batches(observations), problems, what=what, shown=shown)


def import_batches(archive: Archive, path: Path, digest: str, size: int,
                   observed: Iterable[tuple[int, Observation]], problems: list[str], *, what: str,
                   shown: tqdm) -> ImportReport:
    """Record `path` as one capture and every batch of posts against it, each in one transaction (`shown`
    told of each batch's units once it is committed), or report that these bytes were imported before.
    Entries that cannot be read are left out and named in `problems` (the run then ends as partial, or as
    failed when nothing could be read); a file that cannot be read on ends the run as failed at once.
    What was written stays: importing again completes it."""
    earlier = previous_import(archive, digest)
    if earlier is not None:
        shown.close()
        return ImportReport(path=str(path), digest=digest, capture_id=earlier, already=True)
    run_id = archive.start_run("import")
    now = utcnow()
    # the file as it was (its name, size, digest), never where the operator keeps it: an archive's rows are
    # published, and a local path says nothing about the evidence but much about the operator
    exchange = Exchange(requested_url=f"file:{quote(path.name)}", method="IMPORT", started_at=now, ended_at=now,
                        transferred_sha256=digest, transferred_size=size, kind="import",
                        details={"name": path.name, "size": size, "imported_at": now, "format": what})
    capture_id = archive.record(exchange, None, run_id=run_id).capture_id
    report = ImportReport(path=str(path), digest=digest, capture_id=capture_id, run_id=run_id)
    try:
        for units, batch in observed:
            result = archive.observe(capture_id, utcnow(), batch, run_id=run_id)
            report.posts += len(batch.posts)
            report.new += result.new
            report.edited += result.edited
            report.earlier += result.earlier
            report.deleted += result.deleted
            shown.update(units)
    except Exception as exc:
        failure = exc if isinstance(exc, ImportFailed) else ImportFailed(f"{path}: {type(exc).__name__}: {exc}")
        archive.finish_run(run_id, "failed", str(failure), {"posts": report.posts, "problems": problems[:50]})
        raise failure from exc
    finally:
        shown.close()
    report.problems = problems
    if problems:  # some entries imported and some not is `partial`; none imported, `failed`
        archive.finish_run(run_id, "partial" if report.posts else "failed",
                           f"{len(problems)} entries could not be read; first: {problems[0]}",
                           {"posts": report.posts, "file": path.name, "problems": problems[:50]})
    else:
        archive.finish_run(run_id, "ok", None, {"posts": report.posts, "file": path.name})
    return report


def batches(observations: Iterator[Observation]) -> Iterator[tuple[int, Observation]]:
    """Observations merged into batches of about BATCH posts, each with how many entries it merges;
    when the file breaks off, what was read before the break is still written."""
    chunk: list[Observation] = []
    try:
        for observation in observations:
            chunk.append(observation)
            if len(chunk) >= BATCH:
                yield len(chunk), _merge(chunk)
                chunk = []
    except ImportFailed:
        if chunk:
            yield len(chunk), _merge(chunk)
        raise
    if chunk:
        yield len(chunk), _merge(chunk)


def _merge(chunk: list[Observation]) -> Observation:
    merged = Observation()
    for observation in chunk:
        merged.posts.extend(observation.posts)
        merged.gone.extend(observation.gone)
    return merged
