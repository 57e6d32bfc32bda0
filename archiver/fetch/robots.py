"""robots.txt through protego, fetched once per origin and cached.

Decisions follow RFC 9309: a 4xx answer (no robots.txt) allows everything; a 5xx answer, 429, a
network failure or an oversized file makes the origin "unavailable", and an unavailable origin is
not fetched (complete disallow), re-asked after a short pause rather than a day.

Every decision names the robots.txt it was made from (URL, status, digest, time), and the exchange
that fetched a robots.txt travels with the first exchange that relied on it, so the archive records
the file itself as a capture: "were you allowed to fetch this?" is answered from the archive alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from protego import Protego

from archiver.models import Exchange

ALLOWED, DISALLOWED, UNAVAILABLE = "allowed", "disallowed", "unavailable"
MAX_ROBOTS_BYTES = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
FRESH_FOR = 24 * 3600.0
UNAVAILABLE_FOR = 300.0
MAX_CRAWL_DELAY = 60.0  # a larger Crawl-delay would starve a source; the host is still paced at this


@dataclass
class _Entry:
    parser: Protego | None  # None: everything allowed
    decision: str  # what a missing parser means: allowed or unavailable
    reason: str
    expires: float
    source: dict[str, Any]  # the robots.txt read: url, status, sha256 of the body, fetched at
    exchange: Exchange  # the request that read it


@dataclass(frozen=True)
class Verdict:
    decision: str  # allowed, disallowed, unavailable
    reason: str
    source: dict[str, Any]  # which robots.txt decided (see _Entry.source)
    fetched: Exchange | None  # the robots.txt exchange, when this decision made it; else None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()


class RobotsCache:
    """`load(robots_url)` makes the request (same session, pacing and guards as any other) and
    returns its Exchange; the cache turns it into decisions for `agent`."""

    def __init__(self, agent: str, load: Callable[[str], Exchange]) -> None:
        self.agent = agent
        self._load = load
        self._lock = threading.Lock()
        self._origin_locks: dict[str, threading.Lock] = {}
        self._entries: dict[str, _Entry] = {}

    def _entry(self, origin: str) -> tuple[_Entry, bool]:
        """The origin's entry, and whether this call fetched it."""
        with self._lock:
            origin_lock = self._origin_locks.setdefault(origin, threading.Lock())
        with origin_lock:  # one robots.txt request per origin, however many threads ask
            entry = self._entries.get(origin)
            if entry is None or entry.expires < time.monotonic():
                entry = self._entries[origin] = self._fetch(origin)
                return entry, True
        return entry, False

    def crawl_delay(self, url: str) -> float:
        """The origin's Crawl-delay for our agent (0 when none), at most MAX_CRAWL_DELAY."""
        parser = self._entry(origin_of(url))[0].parser
        delay = parser.crawl_delay(self.agent) if parser is not None else None
        return min(float(delay or 0.0), MAX_CRAWL_DELAY)

    def decide(self, url: str) -> Verdict:
        """Whether `url` may be fetched: allowed, disallowed or unavailable, and from which robots.txt."""
        origin = origin_of(url)
        entry, fetched = self._entry(origin)
        exchange = entry.exchange if fetched else None
        if entry.parser is None:
            return Verdict(entry.decision, entry.reason, entry.source, exchange)
        if entry.parser.can_fetch(url, self.agent):
            return Verdict(ALLOWED, entry.reason, entry.source, exchange)
        return Verdict(DISALLOWED, f"{origin}/robots.txt disallows {urlsplit(url).path or '/'} for {self.agent}",
                       entry.source, exchange)

    def _fetch(self, origin: str) -> _Entry:
        robots_url = f"{origin}/robots.txt"
        exchange = self._load(robots_url)
        exchange.kind = "robots"
        now = time.monotonic()
        status = exchange.status
        stored = exchange.stored
        source = {"url": robots_url, "status": status, "sha256": stored.sha256 if stored else None,
                  "fetched_at": exchange.started_at}
        if status is not None and 200 <= status < 300:
            text = (exchange.body or b"").decode("utf-8", errors="replace")
            return _Entry(Protego.parse(text), ALLOWED, f"{robots_url}: HTTP {status}", now + FRESH_FOR,
                          source, exchange)
        if status is not None and 400 <= status < 500 and status != 429:
            return _Entry(None, ALLOWED, f"{robots_url}: HTTP {status}, no rules", now + FRESH_FOR, source, exchange)
        why = f"HTTP {status}" if status is not None else exchange.error or "no response"
        return _Entry(None, UNAVAILABLE, f"robots.txt unavailable ({why}) at {robots_url}, so not fetched (RFC 9309)",
                      now + UNAVAILABLE_FOR, source, exchange)
