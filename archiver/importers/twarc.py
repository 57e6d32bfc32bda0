"""Import twarc2 JSONL output, read line by line, in each of the shapes twarc2 writes: response
pages (`search`, `timeline`, `lookup`: `data` is a list of tweets), stream lines (`filter`,
`sample`, `stream`: `data` is one tweet, beside `includes` and `matching_rules`) and flattened
tweets (`twarc2 flatten`: one tweet per line, its author inline). Each version keeps the line's
`__twarc` block (request URL, twarc version, time retrieved) beside the tweet as its provenance.
Lines that hold no tweets (users, counts, compliance records, a stream's error notices) are named
for what they are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
                record = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems.append(f"{where}: not valid JSON: {exc}")
                continue
            page = _tweet_page(record)
            if isinstance(page, str):
                problems.append(f"{where}: {page}")
                continue
            provenance = page.get("__twarc") if isinstance(page.get("__twarc"), dict) else None
            try:
                posts = posts_from_page(page, where, provenance)
            except ParseError as exc:
                problems.append(str(exc))
                continue
            yield Observation(posts=posts)


def _tweet_page(record: Any) -> dict[str, Any] | str:
    """One twarc2 line as an API v2 page with a list of tweets, or why it holds no tweets."""
    if not isinstance(record, dict):
        return f"not a twarc2 page (a JSON object), got {type(record).__name__}"
    data = record.get("data")
    if isinstance(data, dict):
        return {**record, "data": [data]}  # a stream line: one tweet
    if isinstance(data, list):
        return _not_tweets(data) or record
    if "data" in record:
        return f"`data` is {type(data).__name__}, neither a tweet nor a list of tweets"
    if "errors" in record:
        said = "; ".join(str(e.get("title") or e.get("detail") or e) if isinstance(e, dict) else str(e)
                         for e in record["errors"]) if isinstance(record["errors"], list) else record["errors"]
        return f"no tweets: the API answered with errors ({said}); tweets of that moment are not in this file"
    if "action" in record and "text" not in record:
        reason = f" ({record['reason']})" if record.get("reason") else ""
        return (f"a compliance record (`twarc2 compliance-job`): {record['action']} of {record.get('id')}"
                f"{reason}, not a tweet")
    if isinstance(record.get("id"), str) and "text" in record:
        author = record.get("author")  # `twarc2 flatten` output: one tweet per line, author inline
        return {"data": [record], "includes": {"users": [author] if isinstance(author, dict) else []},
                "__twarc": record.get("__twarc")}
    return "not a twarc2 page, stream line or flattened tweet (no `data`, no tweet `id` and `text`)"


def _not_tweets(data: list[Any]) -> str | None:
    """Why a page's `data` list holds something other than tweets, or None."""
    objects = [item for item in data if isinstance(item, dict)]
    if not objects or len(objects) != len(data) or any("text" in item for item in objects):
        return None
    if all("tweet_count" in item for item in objects):
        return f"a counts page (`twarc2 counts`: {len(objects)} tweet counts by period), not tweets"
    if all("username" in item for item in objects):
        return f"a users page (`twarc2 users`/`followers`/`following`: {len(objects)} accounts), not tweets"
    return None
