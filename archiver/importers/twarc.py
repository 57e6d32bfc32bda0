"""Import twarc2 JSONL output: one X API v2 response page per line (`data`, `includes`, `__twarc`),
read line by line. Each version keeps the line's `__twarc` block (request URL, twarc version, time
retrieved) beside the tweet as its provenance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from archiver.archive import Archive
from archiver.importers.filecapture import ImportFailed, ImportReport, file_digest, import_observations
from archiver.models import Observation
from archiver.platforms import ParseError
from archiver.platforms.x import posts_from_page


def import_twarc(archive: Archive, path: Path, *, progress: bool = True) -> ImportReport:
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    digest, size = file_digest([path])
    problems: list[str] = []
    with path.open("rb") as handle:  # one API page per line: the bar's total (cheap next to the import)
        lines = sum(1 for line in handle if line.strip())
    return import_observations(archive, path, digest, size, _observations(path, problems), problems,
                               what="twarc2", progress=progress, total=lines)


def _observations(path: Path, problems: list[str]) -> Iterator[Observation]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name}: line {number}"
            try:
                page = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems.append(f"{where}: not valid JSON: {exc}")
                continue
            if isinstance(page, dict) and "data" not in page and isinstance(page.get("id"), str):
                page = _flattened(page)  # `twarc2 flatten` output: one tweet per line, author inline
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                problems.append(f"{where}: not a twarc2 page (an object with a `data` list)")
                continue
            provenance = page.get("__twarc") if isinstance(page.get("__twarc"), dict) else None
            try:
                posts = posts_from_page(page, where, provenance)
            except ParseError as exc:
                problems.append(str(exc))
                continue
            yield Observation(posts=posts)


def _flattened(tweet: dict[str, object]) -> dict[str, object]:
    author = tweet.get("author")
    users = [author] if isinstance(author, dict) else []
    return {"data": [tweet], "includes": {"users": users}, "__twarc": tweet.get("__twarc")}
