"""The one `requests` session shared by every fetch thread, the User-Agent it announces, and the
hook that tells the fetcher which socket its request went out on (for the server address and for
cutting the connection at the deadline)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http import cookiejar
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from archiver import __version__
from archiver.config import Settings

# Only what the body reader can undo incrementally with a bounded output (see body.py).
ACCEPT_ENCODING = "gzip, deflate"


def user_agent(settings: Settings) -> str:
    return f"archiver/{__version__} (+{settings.contact})"


class _NoCookies(cookiejar.DefaultCookiePolicy):
    """Cookies would carry one request's state into the next and leak between threads and hosts:
    every capture is made as a first visit."""

    def set_ok(self, cookie: cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: cookiejar.Cookie, request: object) -> bool:
        return False


@dataclass
class SocketSeen:
    """Filled in by the connection as the request goes out, on the worker's own thread."""

    sock: socket.socket | None = None
    peer: str | None = None


_current = threading.local()


@contextlib.contextmanager
def watching(seen: SocketSeen) -> Iterator[SocketSeen]:
    """Requests made on this thread inside the block report their socket to `seen`."""
    _current.seen = seen
    try:
        yield seen
    finally:
        _current.seen = None


def _report(sock: socket.socket | None) -> None:
    seen = getattr(_current, "seen", None)
    if seen is None or sock is None:
        return
    seen.sock = sock
    with contextlib.suppress(OSError):
        seen.peer = str(sock.getpeername()[0])


class _ReportingHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)  # connects first when the pool had no open connection
        _report(self.sock)


class _ReportingHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        _report(self.sock)


class _ReportingHTTPPool(HTTPConnectionPool):
    ConnectionCls = _ReportingHTTPConnection


class _ReportingHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _ReportingHTTPSConnection


class _ReportingAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _ReportingHTTPPool, "https": _ReportingHTTPSPool}


def make_session(settings: Settings) -> requests.Session:
    session = requests.Session()
    # No proxies or .netrc credentials from the environment: what is sent is exactly what is recorded.
    session.trust_env = False
    session.cookies.set_policy(_NoCookies())
    # Retries and redirects are the fetcher's own (they are recorded hop by hop), so urllib3 does none.
    adapter = _ReportingAdapter(pool_connections=max(10, settings.workers), pool_maxsize=max(1, settings.workers),
                          max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.clear()
    session.headers.update({"User-Agent": user_agent(settings), "Accept": "*/*",
                            "Accept-Encoding": ACCEPT_ENCODING})
    return session
