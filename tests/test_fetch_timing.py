"""Sources sharing a host: one hung request holds the host's turn, and the source queued behind it
keeps its whole deadline (counted from when its request is sent) and has the wait recorded.
Ordered by events and an explicit clock, repeated under CPU load."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from archiver.fetch import Fetcher
from archiver.models import Exchange, Request, Source, parse_time, utcnow
from tests.test_fetch import Server, reply, server, settings  # noqa: F401 - server is a fixture

SOURCE = Source(id="s", kind="webpage", locator="x", options={"allow_private": True})
SKIPPED = 3600.0  # what the fetcher's clock advances while the second source waits: far past any deadline


class SteppedClock:
    """Monotonic time that the test can move forward at a moment of its choosing."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture(scope="module")
def cpu_load() -> Iterator[None]:
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield
    for burner in burners:
        burner.kill()
        burner.wait()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + 30  # a bound for a broken build, never reached by a working one
    while not condition():
        assert time.monotonic() < end, f"never happened: {what}"
        time.sleep(0.002)


@pytest.mark.parametrize("attempt", range(20))
def test_a_source_queued_behind_a_hung_request_keeps_its_deadline(server: Server, cpu_load: None,  # noqa: F811
                                                                  attempt: int) -> None:
    arrived, release = threading.Event(), threading.Event()

    def hang(request: BaseHTTPRequestHandler) -> None:
        arrived.set()
        release.wait(30)
        reply(request, 200, b"slow")

    server.routes["/hang"] = hang
    server.routes["/ok"] = lambda r: reply(r, 200, b"quick")
    clock = SteppedClock()
    results: dict[str, Exchange] = {}
    with Fetcher(settings(respect_robots=False, deadline=20.0), clock=clock) as fetcher:
        def fetch(path: str) -> None:
            results[path] = fetcher.fetch(Request(server.base + path), SOURCE, None)

        hung = threading.Thread(target=fetch, args=("/hang",))
        hung.start()
        assert arrived.wait(30)
        queued = threading.Thread(target=fetch, args=("/ok",))
        queued.start()
        host = server.base.removeprefix("http://")
        wait_until(lambda: fetcher.pacer.waiting(host) == 1, "the second source queued for the host")
        clock.offset += SKIPPED  # an hour passes for the fetcher while the second source waits its turn
        released_at = parse_time(utcnow())
        release.set()
        hung.join(30)
        queued.join(30)
    first, second = results["/hang"], results["/ok"]
    assert first.status == 200 and first.body == b"slow"
    assert second.error is None and second.status == 200 and second.body == b"quick"
    assert second.details["host_wait"] >= SKIPPED  # the wait is recorded, apart
    # it was queued while the hung request held the host, and sent only once that one was answered
    assert parse_time(second.details["queued_at"]) <= released_at
    assert parse_time(second.started_at) == parse_time(second.details["sent_at"]) >= released_at
    assert first.details["host_wait"] < SKIPPED
