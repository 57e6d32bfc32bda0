"""Reading a response body within the size cap and the deadline: the bytes as transferred are hashed
and counted, Content-Encoding is undone incrementally with bounded output (a decompression bomb stops
at the cap, not at the end of memory)."""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from archiver.fetch.session import SocketSeen

CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    pass


class _Inflater:
    """gzip or zlib/raw deflate (servers send both under "deflate"), never more than CHUNK out per step."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._raw_fallback = encoding == "deflate"
        wbits = zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._z = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._z.decompress(data, CHUNK)
            except zlib.error:
                if not self._raw_fallback:
                    raise
                self._raw_fallback = False
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            if out:
                yield out
            data = self._z.unconsumed_tail
            # a full CHUNK may leave output pending inside zlib even with no input left
            if self._z.eof or (not data and len(out) < CHUNK):
                return


def decoders_for(content_encoding: str | None) -> tuple[list[_Inflater], list[str]]:
    """Decoders in the order to apply them, and the codings that cannot be undone (kept as is)."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if all(c in ("gzip", "x-gzip", "deflate") for c in codings):
        return [_Inflater(c) for c in reversed(codings)], []
    return [], codings


def _decode(decoders: list[_Inflater], data: bytes) -> Iterator[bytes]:
    if not decoders:
        if data:
            yield data
        return
    first, rest = decoders[0], decoders[1:]
    for piece in first.feed(data):
        yield from _decode(rest, piece)


@dataclass
class Body:
    data: bytes
    transferred_sha256: str
    transferred_size: int
    details: dict[str, Any] = field(default_factory=dict)


class Watchdog:
    """Shuts the request's socket when the deadline passes: timeouts apply per read, so a server
    dripping one byte a second (headers or body) would otherwise hold the worker as long as it likes."""

    def __init__(self, seen: SocketSeen, seconds: float) -> None:
        self.fired = False
        self.cancelled = False
        self._seen: SocketSeen | None = seen
        self._at = time.monotonic() + max(seconds, 0.0)

    def fire(self) -> None:
        self.fired = True
        seen = self._seen
        if seen is not None and seen.sock is not None:
            with contextlib.suppress(OSError):
                seen.sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Watchdog:
        _DEADLINES.watch(self._at, self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancelled = True
        self._seen = None  # the entry waits in the heap until it is due: it holds no socket meanwhile


class _Deadlines:
    """One thread keeps every request's deadline. A timer thread per request cost a thread start on
    every fetch, and the start waits for the new thread to run, which a busy interpreter delays by
    milliseconds. A finished request's entry is only marked cancelled and dropped when it comes due."""

    def __init__(self) -> None:
        self._due = threading.Condition()
        self._heap: list[tuple[float, int, Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, at: float, watchdog: Watchdog) -> None:
        with self._due:
            heapq.heappush(self._heap, (at, next(self._order), watchdog))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="fetch-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is watchdog:  # due before the one the thread sleeps towards
                self._due.notify()

    def _run(self) -> None:
        while True:
            with self._due:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._due.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                watchdog = heapq.heappop(self._heap)[2]
            if not watchdog.cancelled:
                watchdog.fire()


_DEADLINES = _Deadlines()


def _forked() -> None:
    """In a forked child the parent's deadline thread is not there, and its lock may have been held."""
    global _DEADLINES
    _DEADLINES = _Deadlines()


os.register_at_fork(after_in_child=_forked)


def read_body(raw: Any, content_encoding: str | None, cap: int) -> Body:
    """Read `raw` (a urllib3 response, not decoded) to the end. Raises BodyTooLarge past `cap`
    (as transferred or decoded), DecodeError for a corrupt encoding, or urllib3/OS errors."""
    decoders, kept = decoders_for(content_encoding)
    digest = hashlib.sha256()
    transferred = 0
    decoded: list[bytes] = []
    size = 0
    while True:
        chunk = raw.read(CHUNK, decode_content=False)
        if not chunk:
            break
        digest.update(chunk)
        transferred += len(chunk)
        if transferred > cap:
            raise BodyTooLarge(f"body over cap: more than {cap} bytes transferred")
        try:
            for piece in _decode(decoders, chunk):
                size += len(piece)
                if size > cap:
                    raise BodyTooLarge(f"body over cap: more than {cap} bytes after Content-Encoding "
                                       f"{content_encoding} ({transferred} bytes transferred)")
                decoded.append(piece)
        except zlib.error as exc:
            raise DecodeError(f"corrupt {content_encoding} body: {exc}") from exc
    details: dict[str, Any] = {}
    if kept:
        details["content_encoding_kept"] = ", ".join(kept)
    return Body(b"".join(decoded), digest.hexdigest(), transferred, details)


class DecodeError(Exception):
    pass

