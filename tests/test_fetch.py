"""The fetch layer against real sockets on 127.0.0.1: provenance, conditional GET, retries and
Retry-After, pacing, robots.txt, redirects, charsets, the private-address guard and secrets."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.config import Settings
from archiver.fetch import Fetcher
from archiver.models import Request, Source, parse_time
from archiver.verify import verify
from archiver.view import ArchiveView
from tests.conftest import init_archive

TOKEN = "tok-9f8e7d6c5b4a-secret-value"
SOURCE = Source(id="test", kind="webpage", locator="http://127.0.0.1/", options={"allow_private": True})

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Hit:
    at: float
    path: str
    headers: dict[str, str]
    done: float = 0.0


@dataclass
class Server:
    """`routes[path] = handler(request)`: each handler writes its whole response itself, so a test
    can send exactly the bytes it needs (header order, drips, no Content-Length)."""

    routes: dict[str, Handler] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    base: str = ""

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]


def reply(request: BaseHTTPRequestHandler, status: int = 200, body: bytes = b"",
          headers: list[tuple[str, str]] | None = None, length: bool = True) -> None:
    request.send_response_only(status)
    for name, value in headers or [("Content-Type", "text/plain; charset=utf-8")]:
        request.send_header(name, value)
    if length:
        request.send_header("Content-Length", str(len(body)))
    else:
        request.send_header("Connection", "close")
        request.close_connection = True
    request.end_headers()
    request.wfile.write(body)


def text(body: bytes, status: int = 200, *headers: tuple[str, str]) -> Handler:
    return lambda request: reply(request, status, body, [("Content-Type", "text/plain; charset=utf-8"),
                                                          *headers])


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            hit = Hit(time.time(), self.path, dict(self.headers))
            state.hits.append(hit)
            handler = state.routes.get(self.path) or (
                text(b"no rules here", 404) if self.path == "/robots.txt" else text(b"not found", 404))
            try:
                handler(self)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            hit.done = time.time()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def settings(**changes: object) -> Settings:
    base = Settings(contact="https://example.org/archive-contact", host_delay=0.0, retries=0, deadline=10.0)
    for name, value in changes.items():
        setattr(base, name, value)
    return base


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    made = Fetcher(settings())
    yield made
    made.close()


def get(fetcher: Fetcher, url: str, **request: object):
    return fetcher.fetch(Request(url, **request), SOURCE, None)  # type: ignore[arg-type]


def test_provenance_is_recorded_as_received(server: Server, fetcher: Fetcher) -> None:
    server.routes["/page"] = lambda r: reply(r, 200, b"<p>Statement</p>", [
        ("Content-Type", "text/html; charset=utf-8"), ("X-B", "1"), ("Set-Cookie", "a=1"), ("X-A", "2"),
        ("Set-Cookie", "b=2"), ("ETag", '"v1"')])
    exchange = get(fetcher, server.base + "/page")
    assert exchange.ok and exchange.status == 200
    assert exchange.body == b"<p>Statement</p>" and exchange.text() == "<p>Statement</p>"
    names = [name for name, _ in exchange.response_headers]
    # wire order, duplicates kept where they were
    assert names == ["Content-Type", "X-B", "Set-Cookie", "X-A", "Set-Cookie", "ETag", "Content-Length"]
    assert exchange.header("etag") == '"v1"'
    assert exchange.server_ip == "127.0.0.1"
    assert exchange.http_version == "HTTP/1.1"
    assert exchange.final_url == exchange.requested_url == server.base + "/page"
    assert exchange.robots == "allowed"
    assert "https://example.org/archive-contact" in (exchange.user_agent or "")
    sent = dict(exchange.request_headers)
    assert sent["User-Agent"] == exchange.user_agent == server.hits[-1].headers["User-Agent"]
    assert sent["Host"] == server.base.removeprefix("http://")
    assert exchange.content_type == "text/html; charset=utf-8" and exchange.charset == "utf-8"
    assert exchange.transferred_size == len(exchange.body)
    start, end = parse_time(exchange.started_at), parse_time(exchange.ended_at or "")
    assert start <= end and exchange.started_at.endswith("Z") and len(exchange.started_at) == 27
    # robots.txt was asked once, before the page; a second page reuses the cached answer
    get(fetcher, server.base + "/page")
    assert server.paths() == ["/robots.txt", "/page", "/page"]


def test_conditional_get_records_304_against_the_previous_payload(server: Server, fetcher: Fetcher,
                                                                   archive: Archive, db_path: Path) -> None:
    def page(request: BaseHTTPRequestHandler) -> None:
        if request.headers.get("If-None-Match") == '"v1"':
            reply(request, 304, b"", [("ETag", '"v1"')], length=False)
        else:
            reply(request, 200, b"first version of the page", [
                ("Content-Type", "text/plain"), ("ETag", '"v1"'),
                ("Last-Modified", "Tue, 03 Nov 2026 10:00:00 GMT")])

    server.routes["/feed"] = page
    url = server.base + "/feed"
    first = archive.record(fetcher.fetch(Request(url), SOURCE, None))  # with the robots.txt read before it
    payloads = archive.conn.execute("SELECT count(*) FROM payloads").fetchone()[0]
    view = ArchiveView(db_path)
    validators = view.validators(url)
    assert validators is not None and validators.capture_id == first.capture_id
    exchange = fetcher.fetch(Request(url), SOURCE, validators)
    view.close()
    assert exchange.status == 304 and exchange.body is None and exchange.revisit_of == first.capture_id
    assert exchange.not_modified and exchange.error is None
    sent = server.hits[-1].headers
    assert sent["If-None-Match"] == '"v1"' and sent["If-Modified-Since"] == "Tue, 03 Nov 2026 10:00:00 GMT"
    second = archive.record(exchange)
    assert not second.payload_stored
    assert archive.conn.execute("SELECT count(*) FROM payloads").fetchone()[0] == payloads
    rows = archive.conn.execute("SELECT status, payload_sha256, revisit_of FROM captures "
                                "WHERE kind = 'http' ORDER BY id").fetchall()
    assert rows[1][0] == 304 and rows[1][1] == rows[0][1] and rows[1][2] == first.capture_id


def test_short_retry_after_is_waited_and_retried(server: Server) -> None:
    answers = iter([lambda r: reply(r, 429, b"slow down", [("Retry-After", "1")]), text(b"here it is")])
    server.routes["/busy"] = lambda r: next(answers)(r)
    with Fetcher(settings(retries=2)) as f:
        exchange = get(f, server.base + "/busy")
    assert exchange.status == 200 and exchange.body == b"here it is"
    times = [hit.at for hit in server.hits if hit.path == "/busy"]
    assert len(times) == 2 and times[1] - times[0] >= 0.95
    assert exchange.details["retries"] == [{"status": 429, "waited": 1.0}]


def test_long_retry_after_sets_not_before_without_sleeping(server: Server, fetcher: Fetcher) -> None:
    server.routes["/limited"] = lambda r: reply(r, 429, b"", [("Retry-After", "3600")])
    server.routes["/other"] = text(b"other page")
    began = time.monotonic()
    exchange = get(fetcher, server.base + "/limited")
    assert time.monotonic() - began < 1.0
    assert exchange.status is None and "not before" in (exchange.error or "")
    assert exchange.details["http_status"] == 429
    not_before = parse_time(exchange.details["not_before"])
    assert 3590 < (not_before - parse_time(exchange.started_at)).total_seconds() < 3610
    later = get(fetcher, server.base + "/other")
    assert later.status is None and later.details["not_sent"] and "not before" in (later.error or "")
    assert "/other" not in server.paths()


def test_requests_to_one_host_are_paced_one_at_a_time(server: Server) -> None:
    def slow(request: BaseHTTPRequestHandler) -> None:
        time.sleep(0.05)
        reply(request, 200, b"ok")

    for n in range(4):
        server.routes[f"/p{n}"] = slow
    with Fetcher(settings(host_delay=0.3, workers=4)) as shared:
        threads = [threading.Thread(target=get, args=(shared, f"{server.base}/p{n}")) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    hits = sorted((hit for hit in server.hits if hit.path.startswith("/p")), key=lambda hit: hit.at)
    assert len(hits) == 4
    for before, after in itertools.pairwise(hits):
        # the configured delay, measured where the server stands: the server stamps a request when its
        # handler runs, so a busy machine can stamp the first of a pair late and shorten the gap it sees;
        # a quarter of the delay is left for that, and unpaced requests come milliseconds apart
        assert after.at - before.at >= 0.75 * 0.3
        assert after.at >= before.done  # concurrency 1: the next request waits for the previous answer


def test_robots_crawl_delay_slows_the_host_down(server: Server, fetcher: Fetcher) -> None:
    server.routes["/robots.txt"] = text(b"User-agent: *\nCrawl-delay: 0.4\n")
    server.routes["/a"] = server.routes["/b"] = text(b"page")
    get(fetcher, server.base + "/a")
    get(fetcher, server.base + "/b")
    times = [hit.at for hit in server.hits]
    assert [hit.path for hit in server.hits] == ["/robots.txt", "/a", "/b"]
    # host_delay is 0 here: the wait is robots.txt's (a quarter of it left for the server's own stamping
    # lag, as in the pacing test above)
    assert times[2] - times[1] >= 0.75 * 0.4


def test_robots_disallow_keeps_the_path_off_the_server(server: Server, fetcher: Fetcher) -> None:
    server.routes["/robots.txt"] = text(b"User-agent: *\nDisallow: /private/\n")
    server.routes["/private/memo"] = text(b"secret memo")
    server.routes["/public"] = text(b"press release")
    refused = get(fetcher, server.base + "/private/memo")
    allowed = get(fetcher, server.base + "/public")
    assert refused.robots == "disallowed" and refused.status is None
    assert "disallows /private/memo" in (refused.error or "") and refused.details["not_sent"]
    assert allowed.robots == "allowed" and allowed.status == 200
    server.routes["/go"] = lambda r: reply(r, 302, b"", [("Location", "/private/other")])
    redirected = get(fetcher, server.base + "/go")  # every hop is checked, not only the first
    assert redirected.robots == "disallowed" and "disallows /private/other" in (redirected.error or "")
    assert "not_sent" not in redirected.details and len(redirected.redirects) == 1
    assert server.paths() == ["/robots.txt", "/public", "/go"]


def test_the_robots_txt_behind_a_decision_is_archived_and_named_by_it(server: Server, fetcher: Fetcher,
                                                                      archive: Archive) -> None:
    rules = b"User-agent: *\nDisallow: /private/\n"
    server.routes["/robots.txt"] = text(rules)
    server.routes["/public"] = text(b"press release")
    refused = fetcher.fetch(Request(server.base + "/private/memo"), SOURCE, None)
    allowed = fetcher.fetch(Request(server.base + "/public"), SOURCE, None)
    assert [e.kind for e in refused.related] == ["robots"] and allowed.related == []  # read once, carried once
    archive.record(refused)
    archive.record(allowed)
    rows = archive.conn.execute(
        "SELECT c.kind, c.requested_url, c.status, c.robots, c.payload_sha256, c.details, p.data FROM captures c "
        "LEFT JOIN payloads p ON p.sha256 = c.payload_sha256 ORDER BY c.id").fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("robots", server.base + "/robots.txt", 200, "not_checked"),
        ("http", server.base + "/private/memo", None, "disallowed"),
        ("http", server.base + "/public", 200, "allowed")]
    assert rows[0][6] == rules
    for row in rows[1:]:  # each decision names the archived robots.txt it was made from
        source, = json.loads(row[5])["robots_txt"]
        assert source["sha256"] == rows[0][4] == hashlib.sha256(rules).hexdigest()
        assert (source["url"], source["status"]) == (server.base + "/robots.txt", 200)
    assert verify(archive.path).ok


def test_unavailable_robots_means_not_fetched(server: Server, fetcher: Fetcher) -> None:
    server.routes["/robots.txt"] = text(b"down", 503)
    server.routes["/page"] = text(b"page")
    exchange = get(fetcher, server.base + "/page")
    assert exchange.robots == "unavailable" and exchange.status is None
    assert "HTTP 503" in (exchange.error or "") and "/page" not in server.paths()


def test_redirects_are_recorded_and_loops_end_with_a_clear_error(server: Server, fetcher: Fetcher) -> None:
    server.routes["/old"] = lambda r: reply(r, 301, b"", [("Location", "/new")])
    server.routes["/new"] = text(b"moved here")
    moved = get(fetcher, server.base + "/old")
    assert moved.status == 200 and moved.body == b"moved here" and moved.final_url == server.base + "/new"
    assert moved.redirects == [{"url": server.base + "/old", "status": 301, "location": "/new"}]
    server.routes["/a"] = lambda r: reply(r, 302, b"", [("Location", server.base + "/b")])
    server.routes["/b"] = lambda r: reply(r, 302, b"", [("Location", "/a")])
    looped = get(fetcher, server.base + "/a")
    assert looped.status is None and looped.error == f"redirect loop at {server.base}/a (after 2 redirects)"
    assert [hop["url"] for hop in looped.redirects] == [server.base + "/a", server.base + "/b"]


def test_a_wrong_charset_declaration_still_decodes_right(server: Server, fetcher: Fetcher) -> None:
    statement = ("Le ministère des Affaires étrangères a publié une déclaration : « Nous réaffirmons notre "
                 "soutien », a précisé la porte-parole.")
    server.routes["/fr"] = lambda r: reply(r, 200, statement.encode("cp1252"),
                                           [("Content-Type", "text/html; charset=utf-8")])
    exchange = get(fetcher, server.base + "/fr")
    assert exchange.text() == statement
    assert exchange.charset == "cp1252" and exchange.details["declared_charset"] == "utf-8"


def test_a_private_address_is_refused_before_connecting(server: Server) -> None:
    server.routes["/page"] = text(b"internal")
    with Fetcher(settings()) as strict:
        exchange = strict.fetch(Request(server.base + "/page"), Source("s", "webpage", "x"), None)
    assert exchange.status is None and exchange.error is not None
    assert exchange.error.startswith("private address refused: 127.0.0.1")
    assert exchange.details["not_sent"] and server.hits == []  # not even robots.txt


def test_connection_refused_is_an_exchange_not_an_exception(fetcher: Fetcher) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exchange = get(fetcher, f"http://127.0.0.1:{port}/page")
    assert exchange.status is None and exchange.robots == "unavailable"
    assert "Connection refused" in (exchange.error or "")


def test_bearer_token_is_sent_but_never_recorded(server: Server, archive: Archive, db_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    server.routes["/api"] = lambda r: reply(
        r, 200 if r.headers.get("Authorization") == f"Bearer {TOKEN}" else 401, b'{"data": []}',
        [("Content-Type", "application/json")])
    server.routes["/fails"] = lambda r: reply(r, 503, b"")
    caplog.set_level(logging.DEBUG)
    with Fetcher(settings(retries=1)) as f:
        exchange = f.fetch(Request(server.base + "/api", secret="X_BEARER_TOKEN"), SOURCE, None)
        failed = f.fetch(Request(server.base + "/fails", secret="X_BEARER_TOKEN"), SOURCE, None)
        missing = f.fetch(Request(server.base + "/api", secret="NOT_CONFIGURED"), SOURCE, None)
    assert exchange.status == 200 and failed.status == 503
    assert dict(exchange.request_headers)["Authorization"] == "Bearer [redacted X_BEARER_TOKEN]"
    assert missing.status is None and "NOT_CONFIGURED is not set" in (missing.error or "")
    for recorded in (exchange, failed, missing):
        assert TOKEN not in json.dumps(recorded.__dict__, default=str)
        archive.record(recorded)
    archive.close()
    for path in db_path.parent.glob(db_path.name + "*"):  # the database and any WAL beside it
        assert TOKEN.encode() not in path.read_bytes()
    assert caplog.records and TOKEN not in caplog.text


def test_secrets_file_is_read_when_the_environment_has_none(server: Server, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"# tokens\nAPI_TOKEN = {TOKEN}\n", encoding="utf-8")
    server.routes["/api"] = lambda r: reply(r, 200, r.headers.get("Authorization", "").encode())
    with Fetcher(settings(secrets_file=str(secrets))) as f:
        exchange = f.fetch(Request(server.base + "/api", secret="API_TOKEN"), SOURCE, None)
    assert server.hits[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert dict(exchange.request_headers)["Authorization"] == "Bearer [redacted API_TOKEN]"


# -- limits: deadline, size cap, decompression bombs --------------------------------------------------


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_drip_is_cut_at_the_total_deadline(server: Server, where: str) -> None:
    def drip(request: BaseHTTPRequestHandler) -> None:
        if where == "body":
            request.send_response_only(200)
            request.send_header("Content-Length", "100")
            request.end_headers()
        else:
            request.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(10):  # one byte a second: every single read is well inside the read timeout
            request.wfile.write(b"x" if where == "body" else b"X")
            request.wfile.flush()
            time.sleep(1)

    server.routes["/drip"] = drip
    with Fetcher(settings(deadline=2.0, read_timeout=30.0)) as f:
        began = time.monotonic()
        exchange = get(f, server.base + "/drip")
        took = time.monotonic() - began
    assert abs(took - 2.0) <= 1.0
    assert exchange.status is None and exchange.body is None
    assert (exchange.error or "").startswith("deadline exceeded after 2 s at ")


def test_a_shorter_deadline_set_later_cuts_first(server: Server) -> None:
    """Every request's deadline is kept by one thread: a request started while that thread sleeps
    towards a later deadline must still be cut at its own."""
    def drip(request: BaseHTTPRequestHandler) -> None:
        request.send_response_only(200)
        request.send_header("Content-Length", "100")
        request.end_headers()
        for _ in range(30):
            request.wfile.write(b"x")
            request.wfile.flush()
            time.sleep(0.5)

    server.routes["/drip"] = drip
    ended: dict[str, float] = {}
    began = time.monotonic()

    def fetch(name: str, deadline: float) -> None:
        with Fetcher(settings(deadline=deadline, read_timeout=30.0, respect_robots=False)) as f:
            exchange = get(f, server.base + "/drip")
        assert (exchange.error or "").startswith(f"deadline exceeded after {deadline:g} s at ")
        ended[name] = time.monotonic() - began

    long = threading.Thread(target=fetch, args=("long", 12.0))
    long.start()
    while not server.hits:  # the long request is being answered: its deadline is the one waited for
        time.sleep(0.01)
    fetch("short", 1.0)
    long.join()
    assert ended["short"] < 6.0 < ended["long"]


def test_connections_are_kept_for_more_hosts_than_requests_default(fetcher: Fetcher) -> None:
    """Twenty sites polled in turn, twice: each keeps its one connection (requests keeps ten hosts'
    pools by default, so polling more sites than that reconnected for nearly every request)."""
    connections: list[int] = []
    servers = []
    for number in range(20):
        class Counted(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            site = number

            def setup(self) -> None:
                super().setup()
                connections.append(self.site)

            def do_GET(self) -> None:
                reply(self, 200 if self.path == "/feed" else 404, b"ok")

            def log_message(self, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Counted)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
    try:
        for _ in range(2):
            for httpd in servers:
                exchange = get(fetcher, f"http://127.0.0.1:{httpd.server_address[1]}/feed")
                assert exchange.status == 200
        assert sorted(connections) == list(range(20))  # robots.txt and both polls on one connection each
    finally:
        for httpd in servers:
            httpd.shutdown()
            httpd.server_close()


def _peak_memory(work: Callable[[], object]) -> tuple[object, int]:
    import tracemalloc

    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_declared_body_over_the_cap_is_not_downloaded(server: Server) -> None:
    def huge(request: BaseHTTPRequestHandler) -> None:
        request.send_response_only(200)
        request.send_header("Content-Length", str(50 * 1024 * 1024))
        request.end_headers()
        request.wfile.write(bytes(64 * 1024))

    server.routes["/huge"] = huge
    with Fetcher(settings(max_body=10 * 1024 * 1024)) as f:
        exchange = get(f, server.base + "/huge")
    assert exchange.status is None and exchange.details["http_status"] == 200
    assert exchange.error == f"body over cap: Content-Length {50 * 1024 * 1024} > {10 * 1024 * 1024} bytes"


def test_an_undeclared_50_mb_body_is_cut_at_the_cap_with_bounded_memory(server: Server) -> None:
    chunk = bytes(256 * 1024)

    def stream(request: BaseHTTPRequestHandler) -> None:
        request.send_response_only(200)
        request.send_header("Connection", "close")  # no length: the body ends when the connection does
        request.end_headers()
        request.close_connection = True
        for _ in range(200):  # 50 MB
            request.wfile.write(chunk)

    server.routes["/stream"] = stream
    cap = 10 * 1024 * 1024
    with Fetcher(settings(max_body=cap)) as f:
        exchange, peak = _peak_memory(lambda: get(f, server.base + "/stream"))
    assert exchange.status is None and exchange.details["truncated_at"] == cap  # type: ignore[attr-defined]
    assert exchange.error == f"body over cap: more than {cap} bytes transferred"  # type: ignore[attr-defined]
    assert peak < cap + 4 * 1024 * 1024  # what was kept, not the 50 MB offered


def test_a_gzip_bomb_is_cut_at_the_cap_with_bounded_memory(server: Server) -> None:
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1024 * 1024)
    bomb = b"".join(packer.compress(zeros) for _ in range(100)) + packer.flush()  # 100 MB in ~100 KB
    server.routes["/bomb"] = lambda r: reply(r, 200, bomb, [("Content-Type", "text/html"),
                                                            ("Content-Encoding", "gzip")])
    cap = 1024 * 1024
    with Fetcher(settings(max_body=cap)) as f:
        exchange, peak = _peak_memory(lambda: get(f, server.base + "/bomb"))
    assert exchange.status is None  # type: ignore[attr-defined]
    error = exchange.error or ""  # type: ignore[attr-defined]
    assert error.startswith(f"body over cap: more than {cap} bytes after Content-Encoding gzip")
    assert peak < 3 * cap + len(bomb)  # never the 100 MB the bomb unpacks to


def test_gzip_is_undone_and_both_digests_are_kept(server: Server, fetcher: Fetcher) -> None:
    import gzip
    import hashlib

    packed = gzip.compress(b"<html>communique</html>" * 100)
    server.routes["/gz"] = lambda r: reply(r, 200, packed, [("Content-Type", "text/html"),
                                                            ("Content-Encoding", "gzip")])
    exchange = get(fetcher, server.base + "/gz")
    assert exchange.body == b"<html>communique</html>" * 100
    assert exchange.transferred_size == len(packed)
    assert exchange.transferred_sha256 == hashlib.sha256(packed).hexdigest()
    assert exchange.header("Content-Encoding") == "gzip"


# -- the command ------------------------------------------------------------------------------------


def test_archiver_fetch_url_captures_one_url(server: Server, tmp_path: Path) -> None:
    import hashlib

    from click.testing import CliRunner

    from archiver.cli import main

    server.routes["/statement"] = text(b"We condemn the attack.")
    db = init_archive(tmp_path / "archive.db")
    url = server.base + "/statement"
    result = CliRunner().invoke(main, ["fetch", "--db", str(db), "--config", str(tmp_path / "none.toml"),
                                       "--allow-private", url])
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(b"We condemn the attack.").hexdigest()
    assert result.stdout == f"capture 2\t200\t{digest}\t{url}\n"  # capture 1: the robots.txt it read first
    assert result.stderr.startswith(f"archive: {db.resolve()}\n")  # the archive it wrote into
    with Archive(db) as archive:
        run = [tuple(row) for row in archive.conn.execute("SELECT kind, source_id, outcome, n_captures FROM runs")]
        capture = [tuple(row) for row in archive.conn.execute("SELECT run_id, kind, status, payload_sha256, robots "
                                                              "FROM captures")]
    assert run == [("fetch", None, "ok", 2)]
    assert capture[1] == (1, "http", 200, digest, "allowed")
    assert capture[0][:3] == (1, "robots", 404)

    refused = CliRunner().invoke(main, ["fetch", "--db", str(db), "--config", str(tmp_path / "none.toml"), url])
    assert refused.exit_code == 1
    assert "capture 3\tfailed\t-\t" in refused.output and "private address refused" in refused.output
    assert server.paths().count("/statement") == 1


def test_archiver_fetch_source_runs_it_once(server: Server, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from archiver.cli import main

    server.routes["/feed.xml"] = lambda r: reply(r, 200, b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Ministry</title><link>https://example.org/</link>
<item><guid>https://example.org/news/1</guid><title>Statement on the talks</title>
<link>https://example.org/news/1</link><description>The minister welcomed the talks.</description>
<pubDate>Tue, 03 Nov 2026 10:00:00 GMT</pubDate></item></channel></rss>""", [("Content-Type", "application/rss+xml")])
    config = tmp_path / "sources.toml"
    config.write_text(f"""[archiver]
allow_private = true
host_delay = 0.0

[[source]]
id = "ministry"
kind = "feed"
locator = "{server.base}/feed.xml"
""", encoding="utf-8")
    db = init_archive(tmp_path / "archive.db")
    result = CliRunner().invoke(main, ["fetch", "--db", str(db), "--config", str(config), "ministry"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ministry: run 1 ok (requests 1, new 1,")
    unknown = CliRunner().invoke(main, ["fetch", "--db", str(db), "--config", str(config), "nosuch"])
    assert unknown.exit_code == 2 and "no source with id 'nosuch'" in unknown.output


def test_an_unreadable_secrets_file_is_a_clear_refusal(server: Server, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_bytes(b"API_TOKEN=\xff\xfe not text")
    with Fetcher(settings(secrets_file=str(secrets))) as f:
        exchange = f.fetch(Request(server.base + "/api", secret="API_TOKEN"), SOURCE, None)
    assert exchange.status is None and (exchange.error or "").startswith(f"secrets file {secrets}: cannot be read")
    assert exchange.details["not_sent"] and server.hits == []


def test_https_is_trusted_by_the_ca_file_and_a_vanished_one_is_a_clear_refusal(tmp_path: Path) -> None:
    """Over TLS on loopback: a site whose certificate a private authority signed is fetched when `ca_file`
    names that authority (the exchange says which certificate the server showed), refused by the bundled
    public ones, and a `ca_file` removed after the settings were read leaves the request unsent with one
    line naming the file (not an internal error)."""
    import hashlib
    import ssl

    from pytest_httpserver import HTTPServer

    from tests.certs import server_context

    context, ca = server_context(tmp_path / "tls")
    site = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    site.expect_request("/page").respond_with_data("<p>Statement</p>", content_type="text/html")
    site.start()
    try:
        url = site.url_for("/page")
        with Fetcher(settings(ca_file=str(ca), allow_private=True, respect_robots=False)) as trusting:
            trusted = get(trusting, url)
        assert trusted.status == 200
        # which certificate the server showed, to be looked up in Certificate Transparency logs
        shown = ssl.PEM_cert_to_DER_cert((tmp_path / "tls" / "server.pem").read_text())
        tls = trusted.details["tls"]
        assert tls["certificate_sha256"] == hashlib.sha256(shown).hexdigest()
        assert (tls["subject"], tls["issuer"]) == ("127.0.0.1", "Loopback TLS Root")
        assert tls["version"].startswith("TLSv1.") and tls["cipher"] and tls["not_after"].endswith("GMT")
        with Fetcher(settings(allow_private=True, respect_robots=False)) as public:
            assert "CERTIFICATE_VERIFY_FAILED" in (get(public, url).error or "")
        gone = tmp_path / "gone.pem"
        gone.write_bytes(ca.read_bytes())
        with Fetcher(settings(ca_file=str(gone), allow_private=True, respect_robots=False)) as vanished:
            gone.unlink()
            exchange = get(vanished, url)
        assert exchange.status is None and exchange.details["not_sent"]
        assert exchange.error == (f"request to {url} not sent: Could not find a suitable TLS CA certificate "
                                  f"bundle, invalid path: {gone}")
        assert len(site.log) == 1  # the trusted fetch: the untrusted handshake failed, the vanished sent nothing
    finally:
        site.clear()
        site.stop()
