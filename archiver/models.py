"""The values that flow between the layers: requests planned by platforms, exchanges made by the
fetch layer, and the posts parsed from them. Plain dataclasses, no behaviour beyond conveniences."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from archiver.payloads import StoredPayload, encode_payload


def utcnow() -> str:
    """Now as the archive writes times: UTC, ISO 8601, microseconds, trailing Z (sorts as text)."""
    return format_time(dt.datetime.now(dt.UTC))


def format_time(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the archive only stores times with a known zone")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Request:
    """One HTTP request a platform asks for. `purpose` says why (listing page, item page, deletion
    check); `meta` is handed back untouched to the platform's parser with the response."""

    url: str
    purpose: str = "listing"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    secret: str | None = None  # name of a configured secret to send as a bearer token
    conditional: bool = True  # send stored ETag / Last-Modified
    meta: tuple[tuple[str, Any], ...] = ()

    def meta_dict(self) -> dict[str, Any]:
        return dict(self.meta)


@dataclass
class Exchange:
    """One HTTP exchange as the fetch layer observed it; everything the captures table records."""

    requested_url: str
    method: str
    started_at: str
    ended_at: str | None = None
    final_url: str | None = None
    redirects: list[dict[str, Any]] = field(default_factory=list)
    http_version: str | None = None
    status: int | None = None
    request_headers: list[tuple[str, str]] = field(default_factory=list)  # already redacted
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    server_ip: str | None = None
    user_agent: str | None = None
    body: bytes | None = None  # decoded body (Content-Encoding removed)
    transferred_sha256: str | None = None
    transferred_size: int | None = None
    content_type: str | None = None
    charset: str | None = None
    robots: str = "not_checked"
    revisit_of: int | None = None  # for a 304: the capture whose payload it confirms
    error: str | None = None
    kind: str = "http"  # http, robots (a robots.txt read to decide on other requests), import
    details: dict[str, Any] = field(default_factory=dict)
    related: list[Exchange] = field(default_factory=list)  # made first for this one (robots.txt): recorded before it

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None

    @property
    def stored(self) -> StoredPayload | None:
        """The body as the archive keeps it (digest, compressed bytes), computed once per body: a body
        replaced later is encoded again, never described by the digest of the one before."""
        if self.body is None:
            return None
        cached = self.__dict__.get("_stored")
        if cached is None or cached[0] is not self.body:
            cached = self.__dict__["_stored"] = (self.body, encode_payload(self.body))
        return cached[1]

    def prepare(self) -> Exchange:
        """Digest and compress the body now, on this thread: hashlib and zlib release the interpreter
        lock, so a fetch thread does this beside the writer thread, which then only writes."""
        _ = self.stored
        return self

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def failure(self) -> str:
        """Why this exchange gave nothing to parse, cause first: "HTTP 503: GET URL", "connection failed
        to host: [Errno 111] Connection refused: GET URL". The one wording of every failed request."""
        if self.error:
            cause = self.error
        elif self.status is not None and not 200 <= self.status < 300:
            cause = f"HTTP {self.status}"
        else:
            cause = "no response" if self.status is None else "no body"
        return f"{cause}: {self.method} {self.requested_url}"

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.response_headers:
            if key.lower() == lowered:
                return value
        return None

    def text(self) -> str:
        """The body decoded with the charset the fetch layer settled on (UTF-8 otherwise)."""
        if self.body is None:
            return ""
        return self.body.decode(self.charset or "utf-8", errors="replace")


@dataclass
class VersionDraft:
    """One content state of a post as a platform shows it."""

    text: str | None
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other content that counts as an edit
    raw: str | None = None  # the raw fragment (JSON or HTML) this content was read from
    claimed_at: str | None = None  # when the platform says this content was made
    # a reading known to lack what a complete one holds (a repost whose original the response did not
    # expand): it is archived for a post the archive does not hold, and is never a new version of one it does
    partial: bool = False
    # the content's digest (archiver/canonical.py) when an import's reader process computed it beside the
    # writer, once the version was complete; None: the writer digests it
    content_sha256: str | None = field(default=None, compare=False, repr=False)


@dataclass
class PostDraft:
    """A post as parsed from one exchange. `versions` is oldest first; usually only the current one,
    but a platform with edit history (Mastodon, X edit chains) may give every state."""

    platform: str
    native_id: str
    versions: list[VersionDraft]
    url: str | None = None
    author_id: str | None = None
    author_handle: str | None = None
    author_name: str | None = None
    kind: str = "post"
    published_at: str | None = None
    published_raw: str | None = None
    published_where: str | None = None
    language: str | None = None
    reply_to: str | None = None
    quote_of: str | None = None
    repost_of: str | None = None
    media: list[Any] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    publish: bool = True
    extractor: str = "unknown"
    extractor_version: str = "1"


@dataclass(frozen=True)
class Gone:
    """A post the exchange shows absent. `confirmed` means the platform said so (404/410,
    resource-not-found, omitted by a lookup): a `deleted` event; otherwise a `missing` one."""

    platform: str
    native_id: str
    confirmed: bool
    reason: str


@dataclass
class Observation:
    """What one exchange shows: posts seen, posts gone, and state for the next run."""

    posts: list[PostDraft] = field(default_factory=list)
    gone: list[Gone] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordResult:
    capture_id: int
    new: int = 0
    edited: int = 0
    missing: int = 0
    deleted: int = 0
    restored: int = 0
    reextracted: int = 0  # new versions read by a changed extractor: not edits (events.type 'reextracted')
    earlier: int = 0  # versions dated before the current one, first seen after it (events.type 'earlier_version')
    conflicts: int = 0  # items shown under an identity another owner holds (archived as separate posts)
    payload_stored: bool = False


@dataclass
class Source:
    """One configured source (config/sources.toml). `options` are kind-specific; secrets are named
    in options (e.g. `token_env`) and resolved by the fetch layer, never stored."""

    id: str
    kind: str
    locator: str
    name: str | None = None
    organisation: str | None = None
    role: str | None = None
    country: str | None = None
    schedule: str = "every 1h"
    options: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    publish: bool = True
    verified: str | None = None  # what was checked about this source, and when

    def as_row(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "locator": self.locator, "name": self.name,
                "organisation": self.organisation, "role": self.role, "country": self.country,
                "schedule": self.schedule, "options": self.options, "enabled": self.enabled,
                "publish": self.publish}
