"""Politeness per host: one request at a time, a minimum delay between requests, and a
"not before T" time when a host asked for a longer pause than a worker should sleep."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterator


class HostTurn:
    """Held while one thread talks to a host; `wait()` before each request sent."""

    def __init__(self, pacer: HostPacer, host: str, delay: float) -> None:
        self._pacer = pacer
        self._host = host
        self._delay = delay

    def wait(self) -> None:
        self._pacer._wait_turn(self._host, self._delay)


class HostPacer:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self._last_sent: dict[str, float] = {}
        self._not_before: dict[str, dt.datetime] = {}
        self._waiting: dict[str, int] = {}

    @contextlib.contextmanager
    def turn(self, host: str, delay: float = 0.0) -> Iterator[HostTurn]:
        """Concurrency 1 per host: other threads wanting the same host wait here. `delay` raises the
        configured minimum for this host (a robots.txt Crawl-delay)."""
        with self._lock:
            host_lock = self._host_locks.setdefault(host, threading.Lock())
            self._waiting[host] = self._waiting.get(host, 0) + 1
        with host_lock:
            with self._lock:
                self._waiting[host] -= 1
            yield HostTurn(self, host, max(self.delay, delay))

    def waiting(self, host: str) -> int:
        """How many threads are queued for `host`'s turn now."""
        with self._lock:
            return self._waiting.get(host, 0)

    def _wait_turn(self, host: str, delay: float) -> None:
        last = self._last_sent.get(host)
        if last is not None:
            pause = last + delay - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        self._last_sent[host] = time.monotonic()

    def not_before(self, host: str) -> dt.datetime | None:
        with self._lock:
            when = self._not_before.get(host)
            if when is not None and when <= dt.datetime.now(dt.UTC):
                del self._not_before[host]
                return None
            return when

    def set_not_before(self, host: str, when: dt.datetime) -> None:
        with self._lock:
            current = self._not_before.get(host)
            if current is None or when > current:
                self._not_before[host] = when
