"""The private-address guard under attack, over real sockets: DNS rebinding between the guard's
lookup and the connection's, private IPv4 hidden in IPv6 forms, redirects out of an allowed private
first hop, tokens over clear text, a server reflecting a token, and headers cut off mid-way."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from archiver.archive import Archive
from archiver.fetch import Fetcher
from archiver.fetch.guard import is_public
from archiver.models import Request, Source
from archiver.verify import verify
from archiver.warc import export_warc
from tests.test_fetch import TOKEN, Server, reply, server, settings  # noqa: F401 - server is a fixture
from tests.test_publish import start_datasette
from tests.test_service import free_port

PUBLIC = "93.184.216.34"  # what the attacker's name first resolves to
STRICT = Source(id="strict", kind="webpage", locator="http://example.org/")


class Listener:
    """A TCP port that never accepts: a connection to it would wait in the backlog, where a
    non-blocking accept() finds it. So `reached()` tells whether anything connected at all."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def reached(self) -> bool:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True


@pytest.fixture
def listener() -> Iterator[Listener]:
    made = Listener()
    yield made
    made.sock.close()


class Rebinding:
    """A resolver whose first answer for each name is public and every later one `then`."""

    def __init__(self, then: str) -> None:
        self.then = then
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return [PUBLIC] if self.calls.count(host) == 1 else [self.then]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_dns_rebinding_between_the_guard_and_the_connection_reaches_nothing(listener: Listener, scheme: str) -> None:
    resolver = Rebinding("127.0.0.1")
    with Fetcher(settings(respect_robots=False), resolver=resolver) as fetcher:
        exchange = fetcher.fetch(Request(f"{scheme}://rebind.example:{listener.port}/admin"), STRICT, None)
    assert resolver.calls == ["rebind.example", "rebind.example"]  # the guard's lookup, then the connection's
    assert exchange.status is None
    assert exchange.error == ("private address refused: rebind.example is 127.0.0.1 "
                              "(allow_private is off for this hop)")
    assert exchange.details["not_sent"] and exchange.server_ip is None
    assert not listener.reached()  # not a byte, not even a TCP handshake


def test_a_pooled_connection_to_a_private_address_is_not_reused_for_a_strict_source(server: Server) -> None:  # noqa: F811
    port = int(server.base.rsplit(":", 1)[1])
    answers = {"rebind.example": "127.0.0.1"}
    server.routes["/inside"] = lambda r: reply(r, 200, b"intranet page")
    with Fetcher(settings(respect_robots=False), resolver=lambda host, _port: [answers[host]]) as fetcher:
        allowed = Source(id="intranet", kind="webpage", locator="x", options={"allow_private": True})
        first = fetcher.fetch(Request(f"http://rebind.example:{port}/inside"), allowed, None)
        answers["rebind.example"] = PUBLIC  # now the name looks public to the guard's pre-check
        second = fetcher.fetch(Request(f"http://rebind.example:{port}/inside"), STRICT, None)
    assert first.status == 200 and first.server_ip == "127.0.0.1"
    assert second.status is None and second.error == ("private address refused: rebind.example is 127.0.0.1 "
                                                      "(allow_private is off for this hop)")
    assert [hit.path for hit in server.hits] == ["/inside"]  # the kept-alive socket carried nothing more


FORMS = {
    "IPv4-compatible loopback": "::7f00:1",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped private": "::ffff:10.1.2.3",
    "NAT64 loopback": "64:ff9b::7f00:1",
    "NAT64 private": "64:ff9b::a01:203",
    "NAT64 local-use private": "64:ff9b:1::c0a8:101",
    "6to4 loopback": "2002:7f00:1::1",
    "6to4 private": "2002:c0a8:101::1",
    "Teredo to a private client": "2001:0:4136:e378:8000:63bf:f5fe:fdfc",  # client 10.1.2.3
    "IETF protocol assignments": "192.0.0.9",
    "IPv6 loopback": "::1",
    "unique local": "fd00::1",
    "link-local": "fe80::1",
    "multicast": "ff02::1",
}


@pytest.mark.parametrize("address", FORMS.values(), ids=FORMS.keys())
def test_private_ipv4_hidden_in_ipv6_and_special_blocks_are_refused(address: str, listener: Listener) -> None:
    assert not is_public(address)
    with Fetcher(settings(respect_robots=False), resolver=lambda host, port: [address]) as fetcher:
        exchange = fetcher.fetch(Request(f"http://target.example:{listener.port}/"), STRICT, None)
    assert exchange.error == (f"private address refused: target.example is {address} "
                              "(allow_private is off for this hop)")
    assert not listener.reached()


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946",
                                     "64:ff9b::5db8:d822", "2002:5db8:d822::1"])
def test_public_addresses_and_forms_embedding_a_public_ipv4_pass(address: str) -> None:
    assert is_public(address)


def test_first_hop_only_refuses_a_redirect_to_another_private_address(server: Server) -> None:  # noqa: F811
    other = Listener("127.0.0.2")
    try:
        server.routes["/start"] = lambda r: reply(r, 302, b"", [("Location", f"http://127.0.0.2:{other.port}/in")])
        source = Source(id="intranet", kind="webpage", locator=server.base, options={"allow_private": "first_hop"})
        with Fetcher(settings(respect_robots=False)) as fetcher:
            exchange = fetcher.fetch(Request(server.base + "/start"), source, None)
        assert [hit.path for hit in server.hits] == ["/start"]  # the opted-in first hop was fetched
        assert exchange.redirects == [{"url": server.base + "/start", "status": 302,
                                       "location": f"http://127.0.0.2:{other.port}/in"}]
        assert exchange.status is None
        assert exchange.error == ("private address refused: 127.0.0.2 is 127.0.0.2 "
                                  "(allow_private is off for this hop)")
        assert not other.reached()
        # the same redirect with every hop allowed is followed (the refusal above was the mode's doing)
        with Fetcher(settings(respect_robots=False, allow_private=True, connect_timeout=5.0)) as fetcher:
            fetcher.fetch(Request(server.base + "/start"), source, None)
        assert other.reached()
    finally:
        other.sock.close()


def test_a_bearer_token_never_goes_over_plain_http(listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    with Fetcher(settings(respect_robots=False), resolver=lambda host, port: [PUBLIC]) as fetcher:
        exchange = fetcher.fetch(Request(f"http://api.example:{listener.port}/v1", secret="API_TOKEN"), STRICT, None)
    assert exchange.error == "refused to send a bearer token to http://api.example: tokens go over https only"
    assert exchange.details["not_sent"] and not listener.reached()


def test_a_response_cut_off_in_its_headers_is_a_failed_capture() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        port = sock.getsockname()[1]

        def serve() -> None:  # the one request (robots.txt is not asked for)
            conn, _ = sock.accept()
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/ht")
            conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        source = Source(id="s", kind="webpage", locator="x", options={"allow_private": True})
        with Fetcher(settings(respect_robots=False)) as fetcher:
            exchange = fetcher.fetch(Request(f"http://127.0.0.1:{port}/statement"), source, None)
        thread.join()  # it closed the connection before the fetch saw the end: done, not waiting on the socket
    assert exchange.status is None and exchange.body is None
    assert "closed inside the response headers" in (exchange.error or ""), exchange.error


def test_a_reflected_token_is_nowhere_in_the_archive_warc_logs_or_pages(
        server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    # the server echoes the Authorization header in a header and in the body, and in a redirect URL
    server.routes["/api"] = lambda r: reply(
        r, 200, b'{"you sent": "' + r.headers["Authorization"].encode() + b'"}',
        [("Content-Type", "application/json"), ("X-Echo", r.headers["Authorization"])])
    server.routes["/hop"] = lambda r: reply(r, 302, b"", [("Location", "/echo?seen=" + TOKEN)])
    caplog.set_level(logging.DEBUG)
    source = Source(id="echo", kind="webpage", locator=server.base, options={"allow_private": True})
    db = tmp_path / "archive.db"
    with Fetcher(settings(respect_robots=False)) as fetcher:
        exchange = fetcher.fetch(Request(server.base + "/api", secret="API_TOKEN"), source, None)
        hop = fetcher.fetch(Request(server.base + "/hop", secret="API_TOKEN"), source, None)
    assert [hit.path for hit in server.hits] == ["/api", "/hop"]  # the token's redirect was not followed
    assert hop.error == "redirect refused: its URL carries secret API_TOKEN"
    assert hop.redirects[0]["location"] == "/echo?seen=[redacted API_TOKEN]"
    assert server.hits[0].headers["Authorization"] == f"Bearer {TOKEN}"  # it was sent, and reflected
    assert exchange.status == 200
    assert dict(exchange.response_headers)["X-Echo"] == "Bearer [redacted API_TOKEN]"
    assert exchange.body == b'{"you sent": "Bearer [redacted API_TOKEN]"}'
    assert exchange.details["secret_reflected"] == ["API_TOKEN"] and exchange.details["withhold_payload"]
    with Archive(db, create=True) as archive:
        capture_id = archive.record(exchange).capture_id
        archive.record(hop)
        sha = archive.conn.execute("SELECT payload_sha256 FROM captures WHERE id = ?", (capture_id,)).fetchone()[0]
    warc = tmp_path / "out.warc"
    export_warc(db, warc)
    port = free_port()
    from archiver.publish.server import datasette_command

    running = start_datasette(datasette_command(db, port=port), f"http://127.0.0.1:{port}")
    try:
        pages = [requests.get(f"{running.url}{path}", timeout=10) for path in (
            "/archive/captures", "/archive/captures.json?_shape=array", f"/archive/captures/{capture_id}",
            "/archive/payloads.json?_shape=array")]
        payload = requests.get(f"{running.url}/-/payload/{sha}", timeout=10)
    finally:
        running.stop()
    # (the payloads table itself may be closed to the public: refused is fine, leaking is not)
    assert [page.status_code for page in pages][:3] == [200, 200, 200] and pages[3].status_code in (200, 403)
    assert payload.status_code == 404  # marked: withheld from the public face
    from archiver.exports import snapshot

    published = tmp_path / "published.db"
    assert snapshot(db, published, published_only=True) == {"payloads": 1}
    assert verify(published).ok
    recorded = [(e.requested_url, json.dumps(e.__dict__, default=str).encode()) for e in (exchange, hop)]
    for where, data in [*((p.url, p.content) for p in pages), ("warc", warc.read_bytes()),
                        ("logs", caplog.text.encode()), *recorded]:
        assert TOKEN.encode() not in data, where
    for path in db.parent.glob(db.name + "*"):  # the database and any WAL beside it
        assert TOKEN.encode() not in path.read_bytes(), path
