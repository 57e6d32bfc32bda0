"""What a parser may know about the archive: a narrow, read-only interface. Parsers are typed against
`ArchiveMemory`, not against the database, so they can be tested with a plain object holding a few
known posts; `archiver.view.ArchiveView` is the implementation that reads an archive file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Validators:
    """The conditional-GET validators of the newest stored copy of a URL."""
    capture_id: int
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class KnownPost:
    platform: str
    native_id: str
    url: str | None
    status: str
    content_sha256: str | None
    last_seen_at: str
    published_at: str | None = None  # the publication date the archive holds, and its raw claim
    published_raw: str | None = None
    published_where: str | None = None


class ArchiveMemory(Protocol):
    def state(self, source_id: str, key: str) -> str | None:
        """A value the source's parser stored on an earlier run (cursor, pending checks), or None."""

    def validators(self, url: str) -> Validators | None:
        """ETag / Last-Modified of the newest successful capture of `url` that has a payload."""

    def post(self, platform: str, native_id: str) -> KnownPost | None:
        """What the archive holds about one post, or None when it was never seen."""

    def posts_of_source(self, source_id: str, statuses: tuple[str, ...] = ("live",)) -> list[KnownPost]:
        """The source's posts in the given statuses, oldest first."""
