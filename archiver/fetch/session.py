"""The one `requests` session shared by every fetch thread, the User-Agent it announces, and the
connection classes that (a) refuse a private address inside connect(), on the very addresses they
connect to and on the connected peer, before a byte is sent, (b) refuse a response whose headers were
cut off, and (c) tell the fetcher which socket its request went out on (for the server address and
for cutting the connection at the deadline)."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http import cookiejar
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection

from archiver import __version__
from archiver.fetch.guard import AddressRefused, Resolver, check_addresses, resolve_checked, system_resolver
from archiver.fetch.settings import FetchSettings

# Only what the body reader can undo incrementally with a bounded output (see body.py).
ACCEPT_ENCODING = "gzip, deflate"


def user_agent(settings: FetchSettings) -> str:
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
    """What one hop's connection must respect (set by the fetcher), and what it saw (filled in by the
    connection as the request goes out, on the worker's own thread)."""

    refuse_private: bool = True
    resolver: Resolver = system_resolver
    sock: socket.socket | None = None
    peer: str | None = None
    tls: dict[str, Any] | None = None  # the TLS session's facts (tls_facts), on https


_current = threading.local()


@contextlib.contextmanager
def watching(seen: SocketSeen) -> Iterator[SocketSeen]:
    """Requests made on this thread inside the block follow `seen`'s rules and report their socket to it."""
    _current.seen = seen
    try:
        yield seen
    finally:
        _current.seen = None


def _rules() -> SocketSeen:
    # outside `watching` (a session used directly) the strict default applies
    return getattr(_current, "seen", None) or SocketSeen()


def _report(sock: socket.socket | None) -> None:
    seen = getattr(_current, "seen", None)
    if seen is None or sock is None:
        return
    seen.sock = sock
    with contextlib.suppress(OSError):
        seen.peer = str(sock.getpeername()[0])
    seen.tls = tls_facts(sock) if isinstance(sock, ssl.SSLSocket) else None


def tls_facts(sock: ssl.SSLSocket) -> dict[str, Any]:
    """What says which server answered over TLS: the protocol and cipher, and the certificate it showed,
    verified against the trusted authorities. Its SHA-256 lets anyone look the certificate up in the
    public Certificate Transparency logs (crt.sh and others), where its issuance for the host is
    recorded apart from the archive."""
    der = sock.getpeercert(binary_form=True)
    shown = sock.getpeercert() or {}
    cipher = sock.cipher()

    def name(field: str) -> str | None:
        parts = [value for rdn in shown.get(field, ()) for key, value in rdn
                 if key in ("commonName", "organizationName")]
        return ", ".join(parts) or None

    return {"version": sock.version(), "cipher": cipher[0] if cipher else None,
            "certificate_sha256": hashlib.sha256(der).hexdigest() if der else None,
            "subject": name("subject"), "issuer": name("issuer"),
            "not_before": shown.get("notBefore"), "not_after": shown.get("notAfter")}


def _check_peer(sock: socket.socket, host: str) -> None:
    try:
        peer = str(sock.getpeername()[0])
    except OSError as exc:
        raise AddressRefused(f"connection to {host} has no peer address: {exc}") from exc
    check_addresses(host, [peer])


class HeadersCutOff(http.client.HTTPException):
    """The connection ended inside the response headers."""


class _WholeHeadResponse(http.client.HTTPResponse):
    """http.client takes the end of the stream for the end of the headers: a response cut off in its
    headers would pass as complete (an empty 200). Here it is an error."""

    def begin(self) -> None:
        fp = self.fp
        watched = _EndWatch(fp)
        self.fp = watched  # type: ignore[assignment]
        try:
            super().begin()
        finally:
            if self.fp is watched:
                self.fp = fp
        if watched.ended:
            self.close()
            raise HeadersCutOff("the connection closed inside the response headers")


class _EndWatch:
    """A file wrapper noting whether a line read hit the end of the stream (no newline)."""

    def __init__(self, fp: Any) -> None:
        self._fp = fp
        self.ended = False

    def readline(self, limit: int = -1) -> bytes:
        line = self._fp.readline(limit)
        if not line.endswith(b"\n"):
            self.ended = True
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


class _GuardedConnection(HTTPConnection):
    response_class = _WholeHeadResponse

    def _new_conn(self) -> socket.socket:
        rules = _rules()
        host = self._dns_host
        # this lookup is the one connected to: what was checked is what is reached
        if rules.refuse_private:
            addresses = resolve_checked(host, self.port, rules.resolver)
        else:
            try:
                addresses = rules.resolver(host, self.port)
            except OSError as exc:
                raise NewConnectionError(self, f"Failed to resolve {host}: {exc}") from exc
        last: OSError | None = None
        for address in addresses:
            try:
                sock = connection.create_connection((address, self.port), self.timeout,
                                                    source_address=self.source_address,
                                                    socket_options=self.socket_options)
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                                f"(connect timeout={self.timeout})") from exc
            except OSError as exc:
                last = exc
                continue
            if rules.refuse_private:
                try:
                    _check_peer(sock, self.host)
                except AddressRefused:
                    sock.close()
                    raise
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {last}")

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None and _rules().refuse_private:  # a pooled connection: where does it go?
            _check_peer(self.sock, self.host)
        super().request(*args, **kwargs)  # connects first when the pool had no open connection
        _report(self.sock)


class _GuardedHTTPSConnection(_GuardedConnection, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


HOST_POOLS = 256


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def make_session(settings: FetchSettings) -> requests.Session:
    session = requests.Session()
    # No proxies or .netrc credentials from the environment: what is sent is exactly what is recorded.
    session.trust_env = False
    if settings.ca_file:  # else certifi's bundle, as requests does
        session.verify = settings.ca_file
    session.cookies.set_policy(_NoCookies())
    # Retries and redirects are the fetcher's own (they are recorded hop by hop), so urllib3 does none.
    # One connection pool per host, HOST_POOLS of them kept: requests' default of 10 hosts made a service
    # polling more sites than that open a new connection (and TLS session) for nearly every request,
    # robots.txt and the feed after it included. One request at a time goes to a host, so each kept pool
    # holds about one idle connection; a server that closed it is noticed before the connection is reused.
    adapter = _GuardedAdapter(pool_connections=max(HOST_POOLS, settings.workers),
                              pool_maxsize=max(1, settings.workers), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.clear()
    session.headers.update({"User-Agent": user_agent(settings), "Accept": "*/*",
                            "Accept-Encoding": ACCEPT_ENCODING})
    return session
