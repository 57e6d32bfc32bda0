"""Benchmark 3: one poll cycle of 1,000 feed sources through the service's own code path, against the
network's bound, then a second cycle where every feed answers 304.

The feeds are served from 127.0.0.1 by threaded HTTP servers (in a child process) that hold every
response for 100 ms. The
fetch layer allows one request at a time per host (host:port, see archiver.fetch.pacing), and real
sources are spread over many sites, so the feeds are spread over HOSTS servers on as many ports of
127.0.0.1 (10 feeds per site at the default sizes); consecutive sources are on different sites, as a
worker pool taking sources in order would meet them. robots.txt is honoured as in service (fetched once
per site, answered 404 after the same 100 ms) and counted among the requests.

Each source runs as the service runs it (archiver.service.Service._run): `start_source` with one shared
`Fetcher(settings)`, the `WriterThread` and an `ArchiveView`, in a pool of `Settings().workers`
threads, each run's commits waited for by one collector thread. Bound = every request the sites
served in the cycle (feeds and robots.txt) × 0.1 s / workers: no client with that many workers can be
faster. --repeat runs the whole measurement (fresh archive) several times and reports the median ratio
with the spread.

    python bench/poll_cycle.py [--sources 1000] [--hosts 100] [--items 10] [--repeat 5] [--rows FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from table import Row, median_run, print_table, save  # noqa: E402

from archiver.archive import Archive, WriterThread  # noqa: E402
from archiver.config import Settings  # noqa: E402
from archiver.fetch import Fetcher  # noqa: E402
from archiver.jobs import start_source  # noqa: E402
from archiver.models import Source  # noqa: E402
from archiver.view import ArchiveView  # noqa: E402

LATENCY = 0.1
WORDS = [
    "statement", "minister", "rights", "council", "violation", "report", "investigation", "civilians",
    "government", "independent", "calls", "urges", "condemns", "concerned", "allegations", "detention",
    "journalists", "humanitarian", "ceasefire",
]


def make_feed(number: int, items: int) -> bytes:
    rng = random.Random(number)
    entries = []
    for i in range(items):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 140)))
        entries.append(f"<item><guid>https://feeds.example/{number}/{i}</guid><title>Statement {number}-{i}</title>"
                       f"<link>https://feeds.example/{number}/{i}</link>"
                       f"<pubDate>Mon, 0{1 + i % 9} Jan 2024 10:00:00 +0000</pubDate>"
                       f"<description>{text}</description></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {number}</title>'
            f"<link>https://feeds.example/{number}</link><description>bench</description>"
            + "".join(entries) + "</channel></rss>").encode()


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = self.body_bytes = self.header_bytes = self.not_modified = 0

    def add(self, body: int, headers: int, not_modified: bool) -> None:
        with self.lock:
            self.requests += 1
            self.body_bytes += body
            self.header_bytes += headers
            self.not_modified += not_modified

    def take(self) -> tuple[int, int, int, int]:
        with self.lock:
            taken = self.requests, self.body_bytes, self.header_bytes, self.not_modified
            self.requests = self.body_bytes = self.header_bytes = self.not_modified = 0
        return taken


def handler_for(feeds: dict[str, bytes], counters: Counters, latency: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers offer
        # TCP_NODELAY, as real servers set it (nginx's tcp_nodelay is on by default): without it, the body
        # written after the headers waits for the client's delayed ACK, up to 40 ms per response on a
        # kept-alive connection, which measured the test server, not the archiver
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            time.sleep(latency)
            body = feeds.get(self.path)
            if body is None:
                self._answer(404, b"not found", "text/plain")
                return
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if self.headers.get("If-None-Match") == etag:
                self._answer(304, b"", None, etag)
            else:
                self._answer(200, body, "application/rss+xml; charset=utf-8", etag)

        def _answer(self, status: int, body: bytes, content_type: str | None, etag: str | None = None) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            headers = sum(len(h) for h in self._headers_buffer) + 2
            self.end_headers()
            self.wfile.write(body)
            counters.add(len(body), headers, status == 304)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def start_servers(latencies: list[float], feeds: dict[str, bytes], counters: Counters) -> list[ThreadingHTTPServer]:
    """One site per latency: each answers every request after that many seconds."""
    servers = []
    for latency in latencies:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(feeds, counters, latency))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


def serve_feeds(pipe: Connection, n_sources: int, latencies: list[float], items: int) -> None:
    """The sites, in their own process so that serving does not compete with the archiver for its
    interpreter lock. Sends the ports, then answers "take" with the counters (and the CPU seconds this
    process used so far) until "stop"."""
    counters = Counters()
    feeds = {f"/feed/{i}.xml": make_feed(i, items) for i in range(n_sources)}
    servers = start_servers(latencies, feeds, counters)
    pipe.send([server.server_address[1] for server in servers])
    while pipe.recv() == "take":
        times = os.times()
        pipe.send((*counters.take(), times.user + times.system))
    for server in servers:
        server.shutdown()
        server.server_close()


def cycle(sources: list[Source], fetcher: Fetcher, writer: WriterThread, view: ArchiveView,
          workers: int) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    # as Service._run does it: a worker starts the source and takes the next one; one collector thread
    # waits for each run's commits. The cycle ends when every run is committed.
    with ThreadPoolExecutor(workers) as pool, ThreadPoolExecutor(1) as collector:
        judged = list(pool.map(lambda s: collector.submit(start_source(s, fetcher, writer.submit, view).collect),
                               sources))
    reports = [future.result() for future in judged]
    seconds = time.perf_counter() - started
    outcomes: dict[str, int] = {}
    for report in reports:
        outcomes[report.outcome] = outcomes.get(report.outcome, 0) + 1
    outcomes["new posts"] = sum(r.new for r in reports)
    return seconds, outcomes


TARGET = 1.2


def measure(n_sources: int, hosts: int, items: int, db: Path) -> dict[str, tuple[float, float, int, int]]:
    """Per cycle: (seconds, bound seconds, body bytes, header bytes), cycle 1 on a fresh archive."""
    pipe, child_end = multiprocessing.Pipe()
    sites = multiprocessing.Process(target=serve_feeds, args=(child_end, n_sources, [LATENCY] * hosts, items),
                                    daemon=True)
    sites.start()
    ports = pipe.recv()
    sources = [Source(id=f"feed-{i:04d}", kind="feed", name=f"Feed {i}",
                      locator=f"http://127.0.0.1:{ports[i % hosts]}/feed/{i}.xml")
               for i in range(n_sources)]
    settings = Settings(allow_private=True, host_delay=0.0)
    workers = settings.workers
    Archive(db, create=True).close()
    writer = WriterThread(db)
    writer.call(lambda a: a.sync_sources([s.as_row() for s in sources]))
    view = ArchiveView(db)
    fetcher = Fetcher(settings)
    try:
        first, first_outcomes = cycle(sources, fetcher, writer, view, workers)
        pipe.send("take")
        req1, body1, head1, _, _ = pipe.recv()
        second, second_outcomes = cycle(sources, fetcher, writer, view, workers)
        pipe.send("take")
        req2, body2, head2, nm2, _ = pipe.recv()
    finally:
        fetcher.close()
        writer.close()
        view.close()
        pipe.send("stop")
        sites.join(timeout=10)
    print(f"cycle 1: {first:.2f} s, {req1} requests served, body {body1:,} B + headers {head1:,} B; {first_outcomes}")
    print(f"cycle 2: {second:.2f} s, {req2} requests served ({nm2} × 304), body {body2:,} B + headers {head2:,} B; "
          f"{second_outcomes}", flush=True)
    return {"first": (first, req1 * LATENCY / workers, body1, head1),
            "second": (second, req2 * LATENCY / workers, body2, head2)}


def rows(runs: list[dict[str, tuple[float, float, int, int]]], n_sources: int) -> list[Row]:
    workers = Settings().workers
    run, spread = median_run(runs, lambda r: r["first"][0] / r["first"][1])
    first, bound, body1, head1 = run["first"]
    _, _, body2, head2 = run["second"]
    body_ratio = body2 / body1
    wire_ratio = (body2 + head2) / (body1 + head1)
    return [
        Row(f"3. poll cycle, {n_sources} feeds, {workers} workers", f"{first:.2f} s", f"bound {bound:.2f} s",
            first / bound, f"≤ {TARGET:.2f}", first / bound <= TARGET, spread),
        Row("3. second cycle (304): body bytes vs cycle 1", f"{body2:,} B", f"{body1:,} B",
            body_ratio, "≤ 0.05", body_ratio <= 0.05),
        Row("3. second cycle (304): body + header bytes", f"{body2 + head2:,} B", f"{body1 + head1:,} B",
            wire_ratio, "≤ 0.05", wire_ratio <= 0.05),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--items", type=int, default=10, help="items per feed")
    parser.add_argument("--repeat", type=int, default=5, help="whole measurements; the median ratio is reported")
    parser.add_argument("--rows", type=Path, help="Also write the rows as JSON here.")
    args = parser.parse_args()
    hosts = min(args.hosts, args.sources)
    print(f"{args.sources} sources on {hosts} sites, {args.items} items each, {Settings().workers} workers "
          "(Settings().workers)")
    runs = []
    for number in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="poll-cycle-") as tmp:
            runs.append(measure(args.sources, hosts, args.items, Path(tmp) / "archive.db"))
        first, bound = runs[-1]["first"][:2]
        print(f"run {number + 1}: cycle 1 {first:.2f} s, bound {bound:.2f} s, ratio {first / bound:.2f}", flush=True)
    table = rows(runs, args.sources)
    print_table(table)
    save(table, args.rows)


if __name__ == "__main__":
    main()
