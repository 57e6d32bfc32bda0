"""The Fetcher: one Request in, one Exchange out, with every hop, wait and refusal accounted for.
Thread-safe: worker threads share one Fetcher (one session, one pacer, one robots cache)."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from archiver.fetch.body import BodyTooLarge, DecodeError, Watchdog, read_body
from archiver.fetch.charset import choose_charset
from archiver.fetch.guard import AddressRefused, Resolver, is_loopback, resolve_checked, system_resolver
from archiver.fetch.pacing import HostPacer
from archiver.fetch.robots import ALLOWED, MAX_ROBOTS_BYTES, RobotsCache, origin_of
from archiver.fetch.secrets import Secrets, SecretsError, redact_exchange, scrub
from archiver.fetch.session import SocketSeen, make_session, user_agent, watching
from archiver.fetch.settings import FetchSettings, PrivateAccess, private_allowed
from archiver.models import Exchange, Request, Source, format_time, utcnow
from archiver.view import Validators

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
ROBOTS_AGENT = "archiver"
_VERSIONS = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2", 30: "HTTP/3"}
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")]*")


class Deadline:
    """The time a request may take, counted from when it is sent: waiting for the host's turn (behind
    another source's request) is not spent from it."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self._clock = clock
        self.end: float | None = None

    def start(self, waited: float) -> None:
        """At a hop's send: the first starts the clock; a later hop's wait for its turn is added back."""
        if self.end is None:
            self.end = self._clock() + self.seconds
        else:
            self.end += waited

    def remaining(self) -> float:
        return self.seconds if self.end is None else self.end - self._clock()


class _Failed(Exception):
    """Ends the exchange: `message` becomes its error; `not_sent` when nothing reached the server."""

    def __init__(self, message: str, not_sent: bool = False, **details: Any) -> None:
        super().__init__(message)
        self.not_sent = not_sent
        self.details = details


@dataclass
class _Call:
    """One fetch in progress: what is sent on every hop and the limits that apply to all of them."""

    exchange: Exchange
    headers: dict[str, str]
    secret: tuple[str, str] | None  # (value, name)
    secrets: dict[str, str]  # value → name, for redaction
    allow_private: PrivateAccess
    check_robots: bool
    cap: int
    deadline: Deadline
    validators: Validators | None = None
    origin: str = ""
    hops: set[str] = field(default_factory=set)
    seen: SocketSeen = field(default_factory=SocketSeen)  # the current hop's socket
    watchdog: Watchdog | None = None  # the current hop's deadline guard
    host_wait: float = 0.0  # seconds spent waiting for the host's turn, over all hops


class Fetcher:
    def __init__(self, settings: FetchSettings, *, clock: Callable[[], float] = time.monotonic,
                 resolver: Resolver = system_resolver) -> None:
        """`clock` measures waits and deadlines, `resolver` answers the guard's lookups (tests give
        their own of both)."""
        self.settings = settings
        self.clock = clock
        self.resolver = resolver
        self.user_agent = user_agent(settings)
        self.session = make_session(settings)
        self.pacer = HostPacer(settings.host_delay)
        self.secrets = Secrets(settings.secrets_file)
        self.robots = RobotsCache(ROBOTS_AGENT, self._load_robots)
        self._private_robots: set[str] = set()  # origins whose robots.txt may be private (allowed by a source)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public ---------------------------------------------------------------------------------

    def fetch(self, request: Request, source: Source, validators: Validators | None) -> Exchange:
        """Make the request (or refuse it) and say what happened. Never raises for network or HTTP
        trouble: the Exchange's `error` (with `status` None) says why."""
        allow_private = _private_access(self.settings.allow_private, source.options.get("allow_private"))
        headers = dict(request.headers)
        secret = None
        try:
            secrets = self.secrets.known_values()
            value = self.secrets.resolve(request.secret) if request.secret else None
        except SecretsError as exc:
            return self._end(self._new(request.url, request.method), {}, _Failed(str(exc), not_sent=True))
        if request.secret:
            if value is None:
                return self._end(self._new(request.url, request.method), secrets, _Failed(
                    f"secret {request.secret} is not set (environment variable or secrets file)",
                    not_sent=True))
            secret = (value, request.secret)
            secrets[value] = request.secret
            refusal = self._token_transport(request.url, allow_private)
            if refusal:
                return self._end(self._new(request.url, request.method), secrets, _Failed(refusal, not_sent=True))
        if validators is not None and request.conditional:
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
        else:
            validators = None
        return self._run(request.url, request.method, headers, secret=secret, secrets=secrets,
                         allow_private=allow_private, check_robots=self.settings.respect_robots,
                         cap=self.settings.max_body, validators=validators)

    # -- one fetch, hop by hop ------------------------------------------------------------------

    def _new(self, url: str, method: str) -> Exchange:
        return Exchange(requested_url=url, method=method, started_at=utcnow(), user_agent=self.user_agent)

    def _token_transport(self, url: str, allow_private: PrivateAccess) -> str | None:
        """Why a bearer token may not go to `url`, or None: only over https, except to loopback
        (where nothing travels on a network) when private targets are allowed."""
        parts = urlsplit(url)
        if parts.scheme == "https":
            return None
        if parts.scheme == "http" and private_allowed(allow_private, 0) and is_loopback(parts.hostname or "",
                                                                                         self.resolver):
            return None
        return f"refused to send a bearer token to {parts.scheme}://{parts.hostname}: tokens go over https only"

    def _run(self, url: str, method: str, headers: dict[str, str], *, secret: tuple[str, str] | None,
             secrets: dict[str, str], allow_private: PrivateAccess, check_robots: bool, cap: int,
             validators: Validators | None = None) -> Exchange:
        exchange = self._new(url, method)
        call = _Call(exchange, headers, secret, secrets, allow_private, check_robots, cap,
                     Deadline(self.settings.deadline, self.clock), validators, origin=origin_of(url), hops={url})
        try:
            self._follow(call, url, method)
        except _Failed as failure:
            return self._end(exchange, secrets, failure)
        except Exception as exc:  # a bug here must not kill the worker; it is logged and recorded
            log.exception("fetch of %s failed unexpectedly", scrub(url, secrets))
            return self._end(exchange, secrets, _Failed(f"internal error: {type(exc).__name__}: {exc}"))
        return self._end(exchange, secrets, None)

    def _follow(self, call: _Call, url: str, method: str) -> None:
        while True:
            target = self._hop(call, url, method)
            if target is None:
                return
            status, location = target
            call.exchange.redirects.append({"url": url, "status": status, "location": location})
            next_url = urljoin(url, location)
            if next_url in call.hops:
                raise _Failed(f"redirect loop at {next_url} (after {len(call.exchange.redirects)} redirects)")
            if len(call.exchange.redirects) > self.settings.max_redirects:
                raise _Failed(f"too many redirects (more than {self.settings.max_redirects}) at {next_url}")
            carried = [name for value, name in call.secrets.items() if value in next_url]
            if carried:  # the server put a secret into the URL: following it would send it again, in clear
                raise _Failed(f"redirect refused: its URL carries secret {carried[0]}")
            call.hops.add(next_url)
            if status == 303 or (status in (301, 302) and method == "POST"):
                method = "GET"
            url = next_url

    def _hop(self, call: _Call, url: str, method: str) -> tuple[int, str] | None:
        """One URL: checks, then the request with its retries. Returns (status, Location) for a
        redirect to follow, None when the exchange is complete."""
        exchange = call.exchange
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Failed(f"cannot fetch {url}: only http and https URLs with a host", not_sent=True)
        host = parts.netloc.rpartition("@")[2].lower()
        not_before = self.pacer.not_before(host)
        if not_before is not None:
            raise _Failed(f"host {host} not before {format_time(not_before)} (it asked to wait)", not_sent=True,
                          not_before=format_time(not_before))
        private_ok = private_allowed(call.allow_private, len(exchange.redirects))
        if not private_ok:
            try:
                resolve_checked(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), self.resolver)
            except AddressRefused as exc:
                raise _Failed(str(exc), not_sent=True) from exc
        crawl_delay = 0.0
        if call.check_robots:
            if private_ok:
                self._private_robots.add(origin_of(url))
            verdict = self.robots.decide(url)
            exchange.robots = verdict.decision
            exchange.details.setdefault("robots_txt", []).append(verdict.source)
            if verdict.fetched is not None:
                exchange.related.append(verdict.fetched)
            if verdict.decision != ALLOWED:
                raise _Failed(verdict.reason, not_sent=True)
            crawl_delay = self.robots.crawl_delay(url)
        headers = dict(call.headers)
        if call.secret is not None and origin_of(url) == call.origin:  # never hand a token to another origin
            headers["Authorization"] = f"Bearer {call.secret[0]}"
        seen = SocketSeen(refuse_private=not private_ok, resolver=self.resolver)
        queued = self.clock()
        # the whole exchange, body included, is one turn at the host, watched for the deadline, which
        # starts when the turn does
        with self.pacer.turn(host, crawl_delay) as turn:
            call.deadline.start(self.clock() - queued)
            with watching(seen), Watchdog(seen, call.deadline.remaining()) as watchdog:
                call.seen, call.watchdog = seen, watchdog
                turn.wait()  # the host's minimum delay, counted in the deadline: it is this request's own pace
                call.host_wait += self.clock() - queued
                if "sent_at" not in exchange.details:
                    exchange.details["queued_at"] = exchange.started_at
                    exchange.started_at = exchange.details["sent_at"] = utcnow()
                exchange.details["host_wait"] = round(call.host_wait, 3)
                response = self._send(call, turn, method, url, host, headers)
                try:
                    return self._receive(call, response, url)
                finally:
                    response.close()

    def _send(self, call: _Call, turn: Any, method: str, url: str, host: str,
              headers: dict[str, str]) -> requests.Response:
        """The request with retries for 429/5xx and connection trouble. A Retry-After within the cap
        is slept here; a longer one makes the host "not before T" for every thread."""
        attempts = 1 + max(self.settings.retries, 0)
        for attempt in range(attempts):
            if attempt:
                turn.wait()
            remaining = call.deadline.remaining()
            if remaining <= 0:
                raise _Failed(f"deadline exceeded after {call.deadline.seconds:g} s (before attempt {attempt + 1})")
            timeout = (min(self.settings.connect_timeout, remaining), min(self.settings.read_timeout, remaining))
            last = attempt == attempts - 1
            try:
                response = self.session.request(method, url, headers=headers, stream=True,
                                                 allow_redirects=False, timeout=timeout)
            except AddressRefused as exc:  # raised by the connection before it sent anything
                raise _Failed(str(exc), not_sent=True) from exc
            except requests.exceptions.ConnectTimeout as exc:
                problem = f"connect timeout after {timeout[0]:g} s to {host}"
                cause: Exception = exc
            except requests.exceptions.ReadTimeout as exc:
                problem = f"no response from {host} within {timeout[1]:g} s"
                cause = exc
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                problem = f"connection failed to {host}: {_reason(exc)}"
                cause = exc
            except requests.exceptions.RequestException as exc:
                self._check_deadline(call, url)
                raise _Failed(f"request to {url} failed: {_reason(exc)}") from exc
            except OSError as exc:  # requests' own check of the trusted authorities (ca_file), before sending
                raise _Failed(f"request to {url} not sent: {exc}", not_sent=True) from exc
            else:
                self._record_response(call, response, url, headers)
                if response.status_code not in RETRY_STATUSES:
                    return response
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > self.settings.retry_after_cap:
                    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
                    self.pacer.set_not_before(host, when)
                    response.close()
                    raise _Failed(f"HTTP {response.status_code} with Retry-After {wait:g} s (over the "
                                  f"{self.settings.retry_after_cap:g} s cap): host {host} not before "
                                  f"{format_time(when)}", not_before=format_time(when),
                                  http_status=response.status_code)
                wait = wait if wait is not None else _backoff(attempt)
                if last or wait >= call.deadline.remaining():
                    return response  # the answer stands as given: the caller sees the 429/5xx
                response.close()
                log.info("%s %s: HTTP %d, retrying in %.1f s", method, scrub(url, call.secrets),
                         response.status_code, wait)
                call.exchange.details.setdefault("retries", []).append(
                    {"status": response.status_code, "waited": round(wait, 3)})
                time.sleep(wait)
                continue
            self._check_deadline(call, url)
            wait = _backoff(attempt)
            if last or wait >= call.deadline.remaining():
                raise _Failed(problem if attempts == 1 else f"{problem} (after {attempt + 1} attempts)") from cause
            call.exchange.details.setdefault("retries", []).append({"error": problem, "waited": round(wait, 3)})
            time.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _record_response(self, call: _Call, response: requests.Response, url: str,
                         headers_sent: dict[str, str]) -> None:
        """Provenance of the response just received, taken while its connection is still open."""
        exchange = call.exchange
        raw = response.raw
        exchange.final_url = url
        exchange.status = response.status_code
        exchange.http_version = _VERSIONS.get(getattr(raw, "version", 0))
        original = getattr(raw, "_original_response", None)  # http.client's message keeps wire order
        if original is not None:
            exchange.response_headers = [(k, v) for k, v in original.msg.items()]
        else:
            exchange.response_headers = list(raw.headers.iteritems())
        sent = [("Host", urlsplit(url).netloc.rpartition("@")[2]), *response.request.headers.items()]
        exchange.request_headers = [(k, str(v)) for k, v in sent]
        exchange.server_ip = call.seen.peer
        if call.seen.tls is not None:  # the final hop's, as server_ip is
            exchange.details["tls"] = call.seen.tls
        else:
            exchange.details.pop("tls", None)
        exchange.content_type = response.headers.get("Content-Type")

    def _receive(self, call: _Call, response: requests.Response, url: str) -> tuple[int, str] | None:
        exchange = call.exchange
        status = response.status_code
        location = response.headers.get("Location")
        if status in REDIRECT_STATUSES and location:
            return status, location
        if status == 304:
            if call.validators is not None:
                exchange.revisit_of = call.validators.capture_id
            return None
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > call.cap:
            raise _Failed(f"body over cap: Content-Length {declared} > {call.cap} bytes", http_status=status,
                          declared_length=int(declared))
        try:
            body = read_body(response.raw, response.headers.get("Content-Encoding"), call.cap)
        except BodyTooLarge as exc:
            raise _Failed(str(exc), http_status=status, truncated_at=call.cap) from exc
        except (Urllib3Error, OSError, DecodeError) as exc:
            self._check_deadline(call, url, http_status=status)
            raise _Failed(f"body of {url} unreadable: {_reason(exc)}", http_status=status) from exc
        self._check_deadline(call, url, http_status=status)  # a cut connection can look like a short body
        exchange.body = body.data
        exchange.transferred_sha256 = body.transferred_sha256
        exchange.transferred_size = body.transferred_size
        exchange.details.update(body.details)
        exchange.charset, notes = choose_charset(body.data, exchange.content_type)
        exchange.details.update(notes)
        return None

    @staticmethod
    def _check_deadline(call: _Call, url: str, **details: Any) -> None:
        if call.watchdog is not None and call.watchdog.fired:
            raise _Failed(f"deadline exceeded after {call.deadline.seconds:g} s at {url}", **details)

    def _end(self, exchange: Exchange, secrets: dict[str, str], failure: _Failed | None) -> Exchange:
        exchange.ended_at = utcnow()
        if failure is not None:
            exchange.error = str(failure)
            exchange.status = None
            exchange.body = None
            exchange.revisit_of = None
            exchange.details.update(failure.details)
            if failure.not_sent and not exchange.redirects:  # after a redirect, earlier hops were sent
                exchange.details["not_sent"] = exchange.error
        redact_exchange(exchange, secrets)  # before anything of it is logged or recorded
        log.debug("%s %s: %s", exchange.method, exchange.requested_url,
                  exchange.error or f"HTTP {exchange.status}")
        return exchange.prepare()

    # -- robots.txt -------------------------------------------------------------------------------

    def _load_robots(self, robots_url: str) -> Exchange:
        return self._run(robots_url, "GET", {}, secret=None, secrets={},
                         allow_private=(self.settings.allow_private is True
                                        or origin_of(robots_url) in self._private_robots),
                         check_robots=False, cap=MAX_ROBOTS_BYTES)


def _private_access(setting: PrivateAccess, option: object) -> PrivateAccess:
    """The wider of the service-wide setting and the source's own option."""
    if setting is True or option is True:
        return True
    if "first_hop" in (setting, option):
        return "first_hop"
    return False


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait: Retry-After is either delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)


def _backoff(attempt: int) -> float:
    return 0.5 * 2 ** attempt


def _reason(exc: BaseException) -> str:
    """The useful part of a requests/urllib3 error ("[Errno 111] Connection refused"), not the
    pool's wrapper text."""
    match = _ERRNO.search(str(exc))
    return match.group(0).strip() if match else str(exc)
