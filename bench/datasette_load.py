"""Benchmark 5: the archive served as the project serves it (`datasette_command`) with N posts, 8
concurrent readers over HTTP on 127.0.0.1 while a writer process keeps recording posts through
`Archive.record`. Each kind of request gets its p95 latency and its error count; beside it, the raw
sqlite3 time of the SQL Datasette ran for that page (captured once with `?_trace=1` from a second
Datasette started with `trace_debug`, then replayed on a plain read-only connection).

    python bench/datasette_load.py [--posts 1000000] [--rounds 20] [--repeat 5] [--db PATH] [--rows FILE]

--db keeps the generated archive (it is reused when it already holds the posts)."""

from __future__ import annotations

import argparse
import html
import http.client
import json
import multiprocessing
import os
import queue
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from datasette.utils import tilde_encode

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from table import Row, print_table, save  # noqa: E402

from archiver.archive import Archive  # noqa: E402
from archiver.models import Exchange, Observation, PostDraft, VersionDraft, utcnow  # noqa: E402
from archiver.publication import TEMP_VIEWS  # noqa: E402
from archiver.publish.public import inspect_path  # noqa: E402
from archiver.publish.server import datasette_command  # noqa: E402

READERS = 8
PLATFORMS = ("web", "feed", "x", "mastodon", "bluesky")
COMMON = "statement"  # in every post
RARE = "zanzibar"  # in one post of 10,000
RARE_EVERY = 10_000
WORDS = [
    "minister", "rights", "council", "violation", "report", "investigation", "civilians", "government",
    "independent", "calls", "urges", "condemns", "concerned", "allegations", "detention", "journalists",
    "protest", "humanitarian", "access", "ceasefire", "accountability", "transparency", "evidence",
    "witnesses",
]
TARGETS = {"common-word search": 0.5}  # seconds, p95; every other kind: 0.15
FACET_TIMED_OUT = "These facets timed out"
CACHED_TARGET = 0.05  # p95 of every page behind the documented cache
DEFAULT_TARGET = 0.15


def make_posts(start: int, count: int, rng: random.Random) -> list[PostDraft]:
    posts = []
    for i in range(start, start + count):
        words = [COMMON] + [rng.choice(WORDS) for _ in range(rng.randint(40, 80))]
        if i % RARE_EVERY == 7:
            words.insert(rng.randint(1, len(words)), RARE)
        minute = i * 7 % 3_000_000
        published = f"{2019 + minute // 525_600:04d}-{1 + minute // 43_800 % 12:02d}-" \
                    f"{1 + minute // 1440 % 28:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00.000000Z"
        posts.append(PostDraft(platform=PLATFORMS[i % len(PLATFORMS)], native_id=f"https://bench.example/{i}",
                               url=f"https://bench.example/{i}", author_handle=f"account{i % 200}",
                               author_name=f"Account {i % 200}", published_at=published, extractor="bench",
                               versions=[VersionDraft(text=" ".join(words), title=f"Statement {i}")]))
    return posts


def record_page(archive: Archive, start: int, count: int, rng: random.Random) -> None:
    exchange = Exchange(requested_url=f"https://bench.example/feed?from={start}", method="GET",
                        started_at=utcnow(), ended_at=utcnow(), status=200,
                        body=f"<rss><!-- posts {start}..{start + count} --></rss>".encode(),
                        content_type="application/rss+xml", charset="utf-8")
    archive.record(exchange, Observation(posts=make_posts(start, count, rng)))


def count_posts(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    finally:
        conn.close()


def build(db: Path, posts: int, page: int = 1000) -> float:
    """The archive through Archive.record, `page` posts per capture and transaction."""
    started = time.perf_counter()
    rng = random.Random(5)
    archive = Archive(db, create=True)
    have = count_posts(db)
    try:
        for start in range(have, posts, page):
            record_page(archive, start, min(page, posts - start), rng)
            if start // page % 100 == 0:
                print(f"  built {start + page:,} posts in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        archive.close()
    return time.perf_counter() - started


def writer(db: Path, start: int, rate: float, page: int = 50) -> None:
    """The background writer: pages of `page` posts at `rate` posts/s until SIGTERM; prints the count."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    archive = Archive(db)
    rng = random.Random(start)
    written, began = 0, time.perf_counter()
    while not stop.is_set():
        record_page(archive, start + written, page, rng)
        written += page
        pause = began + written / rate - time.perf_counter()
        if pause > 0:
            stop.wait(pause)
    archive.close()
    print(json.dumps({"written": written, "seconds": time.perf_counter() - began}), flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(db: Path, extra: list[str] = (), *, snapshot: bool = False  # type: ignore[assignment]
          ) -> tuple[subprocess.Popen[bytes], str]:
    """Datasette as `archiver serve` runs it on the live file, or with `snapshot` as the public face runs a
    published copy (immutable, with the inspected counts `archiver serve --public` made beside it)."""
    port = free_port()
    command = datasette_command(db, port=port)
    if snapshot:
        command[command.index(str(db.resolve()))] = "-i"
        command[command.index("-i") + 1:command.index("-i") + 1] = [str(db.resolve()), "--inspect-file",
                                                                     str(inspect_path(db.resolve()))]
    process = subprocess.Popen([*command, *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(base + "/-/versions.json", timeout=5).ok:
                return process, base
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("Datasette did not start")


def stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def post_page(i: int) -> str:
    """The lasting address of post `i` of make_posts (platform and native id, tilde-encoded)."""
    return f"/-/post/{tilde_encode(PLATFORMS[i % len(PLATFORMS)])}/{tilde_encode(f'https://bench.example/{i}')}"


def pages(posts: int) -> dict[str, str]:
    return {
        "table page": "/archive/posts",
        "facet (author_handle)": "/archive/posts?_facet=author_handle",
        "rare-word search": f"/-/search?q={RARE}",
        "common-word search": f"/-/search?q={COMMON}",
        "post page": post_page(posts // 2),
    }


_TRACE = re.compile(r"<pre>(\{\s*&#34;request_duration_ms.*?)</pre>\s*</body>", re.S)


def traced_sql(db: Path, paths: dict[str, str], *, snapshot: bool = False) -> dict[str, list[tuple[str, Any]]]:
    """The SQL each page runs on the archive, from a Datasette with trace_debug on. Its time limits are
    raised so that statements the served instance would cut (facets over facet_time_limit_ms) finish and
    show in the trace too."""
    process, base = serve(db, ["--setting", "trace_debug", "1", "--setting", "facet_time_limit_ms", "60000",
                               "--setting", "sql_time_limit_ms", "60000"], snapshot=snapshot)
    found: dict[str, list[tuple[str, Any]]] = {}
    try:
        for name, path in paths.items():
            text = requests.get(base + path + ("&" if "?" in path else "?") + "_trace=1", timeout=60).text
            match = _TRACE.search(text)
            traces = json.loads(html.unescape(match.group(1)))["traces"] if match else []
            found[name] = [(t["sql"], t.get("params")) for t in traces
                           if t.get("database") == "archive" and t.get("sql")]
    finally:
        stop(process)
    return found


def raw_seconds(db: Path, statements: list[tuple[str, Any]], repeats: int = 3) -> float:
    """Median over `repeats` of the time plain sqlite3 takes to run and read all of `statements`."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    for name, view in TEMP_VIEWS.items():  # the face's table pages name these, as its connections have them
        conn.execute(f"CREATE TEMP VIEW {name} AS {view}")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for sql, params in statements:
            conn.execute(sql, params or {}).fetchall()
        times.append(time.perf_counter() - started)
    conn.close()
    return statistics.median(times)


def _reader(base: str, paths: dict[str, str], rounds: int, posts: int, number: int, start: Any,
            results: Any) -> None:
    """One reader, in a process of its own as a reader is: `rounds` rounds of the pages in its own random
    order, each asked for when the last one came back, on one kept-alive connection. Puts (latencies by
    page, failures) on `results`. The client is http.client, not requests: behind the cache, requests'
    own work per page (1.3-1.8 ms of CPU, against 0.3-0.4 ms) took most of the two cores the server it
    measures runs on."""
    rng = random.Random(number)
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    latencies: dict[str, list[float]] = {name: [] for name in paths}
    errors: list[str] = []
    start.wait(timeout=300)  # every reader ready before the first request: the load starts whole
    for _ in range(rounds):
        order = list(paths.items())
        rng.shuffle(order)
        for name, path in order:
            if name == "post page":
                path = post_page(rng.randrange(posts))
            started = time.perf_counter()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read().decode(response.headers.get_content_charset("utf-8"))
                ok, why = response.status == 200, f"HTTP {response.status}"
                # Datasette answers 200 when a facet ran out of time, with the facet left out: that page
                # did not do what it was asked, so it is a failed request, not a fast one
                if ok and FACET_TIMED_OUT in body:
                    ok, why = False, "facet timed out"
            except (OSError, http.client.HTTPException) as exc:
                ok, why = False, f"{type(exc).__name__}: {exc}"
                connection.close()  # the next request opens a new connection
            latencies[name].append(time.perf_counter() - started)
            if not ok:
                errors.append(f"{name}: {why}")
    connection.close()
    results.put((latencies, errors))


def read_load(base: str, paths: dict[str, str], rounds: int, posts: int,
              readers: int = READERS) -> tuple[dict[str, list[float]], list[str]]:
    """`readers` closed-loop readers, each in its own process. Threads of one process would share its
    interpreter lock: behind a cache, where a page is served in well under a millisecond, the readers
    then queue for each other's client work and the p95 measures the load generator."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(readers), context.Queue()
    processes = [context.Process(target=_reader, args=(base, paths, rounds, posts, number, start, results), daemon=True)
                 for number in range(readers)]
    for process in processes:
        process.start()
    gathered = []
    while len(gathered) < readers:
        try:
            gathered.append(results.get(timeout=5))
        except queue.Empty:
            if any(process.exitcode not in (None, 0) for process in processes):
                raise SystemExit("a reader process failed (its traceback is above)") from None
    for process in processes:
        process.join()
    latencies: dict[str, list[float]] = {name: [] for name in paths}
    errors: list[str] = []
    for their_latencies, their_errors in gathered:
        for name, values in their_latencies.items():
            latencies[name].extend(values)
        errors.extend(their_errors)
    return latencies, errors


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def latency_rows(prefix: str, runs: list[dict[str, list[float]]], errors: list[str], raw: dict[str, float],
                 alone: dict[str, list[float]] | None = None, target: float | None = None) -> list[Row]:
    """One row per page and one for the failed requests over all `runs` (repeats of the same load). A
    page's row is the median of the runs' p95 against its target, with the p95s' spread (min–max); failed
    when any request of that page failed in any run. The per-page figures are printed first."""
    total = sum(len(v) for run in runs for v in run.values())
    print(f"{'page':<24}{'alone ms':>9}{'p50 ms':>8}{'p95 ms':>9}{'p95 spread':>15}{'max ms':>8}"
          f"{'raw sqlite3 ms':>16}")
    rows = []
    for name in runs[0]:
        p95s = sorted(p95(run[name]) for run in runs)
        middle = statistics.median(p95s)
        spread = f"{p95s[0] * 1000:.0f}–{p95s[-1] * 1000:.0f} ms" if len(runs) > 1 else ""
        single = f"{statistics.median(alone[name]) * 1000:>9.0f}" if alone else f"{'-':>9}"
        p50 = statistics.median(statistics.median(run[name]) for run in runs)
        print(f"{name:<24}{single}{p50 * 1000:>8.0f}{middle * 1000:>9.0f}{spread or '-':>15}"
              f"{max(max(run[name]) for run in runs) * 1000:>8.0f}{raw[name] * 1000:>16.1f}")
        limit = target if target is not None else TARGETS.get(name, DEFAULT_TARGET)
        # the ratio is ours / limit as in every row: p95 over the raw sqlite3 time of the page's SQL (floored at
        # 1 ms); the target is absolute, on the p95 itself
        failed = sum(e.startswith(name + ":") for e in errors)
        rows.append(Row(f"{prefix} p95: {name}", f"{middle * 1000:.0f} ms", f"sqlite3 {raw[name] * 1000:.1f} ms",
                        middle / max(raw[name], 0.001), f"≤ {limit * 1000:.0f}ms", middle <= limit and not failed,
                        spread))
    timed_out = sum(e.endswith("facet timed out") for e in errors)
    rows.append(Row(f"{prefix} failed requests", f"{len(errors)} ({timed_out} facet t/o)",
                    f"{total} requests", None, "0", not errors))
    if errors:
        print("errors by page:", {name: sum(e.startswith(name) for e in errors) for name in runs[0]},
              "first:", errors[0])
    return rows


def wait_for(base: str, process: subprocess.Popen[Any], what: str) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            if requests.get(base + "/-/versions.json", timeout=5).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{what} did not start")


NGINX_CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx-archiver-public.conf"


def nginx_in_front(folder: Path, upstream_port: int) -> tuple[subprocess.Popen[Any], str] | None:
    """nginx with the project's deploy/ configuration (paths and ports moved into `folder`), or None
    where nginx is not installed."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        return None
    port = free_port()
    for name in ("cache", "temp"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    site = (NGINX_CONF.read_text(encoding="utf-8")
            .replace("/var/cache/nginx/archiver", str(folder / "cache"))
            .replace("server 127.0.0.1:8002;", f"server 127.0.0.1:{upstream_port};")
            .replace("listen 80;", f"listen 127.0.0.1:{port};"))
    temp = folder / "temp"
    (folder / "site.conf").write_text(site, encoding="utf-8")
    (folder / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "") + "daemon off; worker_processes 1; pid nginx.pid; "
        f"error_log {folder / 'error.log'};\nevents {{ worker_connections 512; }}\nhttp {{ access_log off; "
        + " ".join(f"{kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f" include {folder / 'site.conf'}; }}\n", encoding="utf-8")
    process = subprocess.Popen([nginx, "-p", str(folder), "-c", str(folder / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_for(base, process, "nginx")
    return process, base


def load_runs(bases: dict[str, str], paths: dict[str, str], rounds: int, posts: int, repeat: int
              ) -> dict[str, tuple[list[dict[str, list[float]]], list[str]]]:
    """`repeat` runs of the closed-loop load against each face in `bases`, interleaved (face A, face B, A,
    B, …) so that drift on a shared machine falls on all faces alike: per face its runs and every failure."""
    found: dict[str, tuple[list[dict[str, list[float]]], list[str]]] = {face: ([], []) for face in bases}
    for _ in range(repeat):
        for face, base in bases.items():
            latencies, errors = read_load(base, paths, rounds, posts)
            found[face][0].append(latencies)
            found[face][1].extend(errors)
    return found


def public_rows(db: Path, posts: int, rounds: int, paths: dict[str, str], processes: int = 2,
                repeat: int = 1) -> list[Row]:
    """The face as docs/publishing.md says to serve the public: a published-only snapshot served by
    `archiver serve --public` (immutable, inspected counts and facet counts, `processes` processes on one
    port), and the same behind the documented nginx cache, their loads interleaved `repeat` times. The
    sqlite3 column replays the SQL the copy's pages run."""
    folder = db.parent / "public"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    snapshot = folder / "archive.db"  # the name the pages' paths use
    subprocess.run([sys.executable, "-m", "archiver", "snapshot", "--db", str(db), str(snapshot), "--published-only"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "archiver", "serve", "--db", str(snapshot), "--public",
                                "--processes", str(processes), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    cache = None
    try:
        wait_for(base, process, "the public face")  # it has inspected the snapshot: the copy's SQL can be traced
        raw = {name: raw_seconds(snapshot, statements)
               for name, statements in traced_sql(snapshot, paths, snapshot=True).items()}
        read_load(base, paths, 1, posts)  # every worker started and warm before it is measured
        alone, _ = read_load(base, paths, 3, posts, readers=1)
        bases = {"public": base}
        cache = nginx_in_front(folder / "nginx", port)
        if cache is not None:
            # measured as a cache that has been serving: each page asked once first. Cold, the readers that
            # ask for a page while its first copy is being made wait on nginx's cache lock, which it polls
            # every 500 ms (the max column of a cold run); a random post page is never in the cache
            read_load(cache[1], paths, 1, posts, readers=1)
            bases["cached"] = cache[1]
        runs = load_runs(bases, paths, rounds, posts, repeat)
    finally:
        if cache is not None:
            stop(cache[0])
        stop(process)
    print(f"served for the public: published-only snapshot, immutable, {processes} processes; "
          f"{repeat} run(s) of {READERS} readers x {rounds} rounds", flush=True)
    rows = latency_rows("5p. public", *runs["public"], raw, alone)
    if cache is None:
        print("nginx is not installed: the cached rows are not measured")
        return rows
    print("behind the documented nginx cache", flush=True)
    return rows + latency_rows("5c. cached", *runs["cached"], raw, target=CACHED_TARGET)


def measure(db: Path, posts: int, rounds: int, write_rate: float, *, processes: int = 2,
            public_only: bool = False, repeat: int = 1) -> list[Row]:
    have = count_posts(db)
    if have < posts:
        print(f"building an archive of {posts:,} posts through Archive.record ({have:,} there)", flush=True)
        print(f"built in {build(db, posts):.0f} s", flush=True)
    Archive(db).close()  # a kept archive gets this checkout's migrations before it is served
    posts = min(count_posts(db), posts)  # a kept archive also holds the posts earlier runs' writer added
    paths = pages(posts)
    if public_only:
        return public_rows(db, posts, rounds, paths, processes, repeat)
    sql = traced_sql(db, paths)
    raw = {name: raw_seconds(db, statements) for name, statements in sql.items()}
    process, base = serve(db)
    # one reader, no writer: each page's own service time, without waiting behind the others
    alone, _ = read_load(base, paths, 3, posts, readers=1)
    writing = subprocess.Popen([sys.executable, __file__, "--write-into", str(db), "--start", str(posts + 10_000_000),
                                "--write-rate", str(write_rate)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        started = time.perf_counter()
        runs, errors = load_runs({"live": base}, paths, rounds, posts, repeat)["live"]
        seconds = time.perf_counter() - started
    finally:
        writing.terminate()
        written = json.loads(writing.communicate(timeout=60)[0] or '{"written": 0, "seconds": 1}')
        stop(process)
    total = sum(len(v) for run in runs for v in run.values())
    print(f"{posts:,} posts; {READERS} readers made {total} requests in {seconds:.1f} s ({repeat} run(s)); the "
          f"writer recorded {written['written']:,} posts meanwhile ({written['written'] / written['seconds']:.0f} "
          f"posts/s); errors: {len(errors)}{' - ' + errors[0] if errors else ''}")
    rows = latency_rows("5. Datasette", runs, errors, raw, alone)
    rows += public_rows(db, posts, rounds, paths, processes, repeat)
    if "-v" in sys.argv:
        for name, statements in sql.items():
            print(f"-- {name}")
            for statement, params in statements:
                print(f"{' '.join(statement.split())}  {params or ''}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20, help="rounds of the five pages per reader")
    parser.add_argument("--write-rate", type=float, default=200.0, help="posts/s the background writer records")
    parser.add_argument("--db", type=Path, help="Build (or reuse) the archive here; its name must be archive.db.")
    parser.add_argument("--rows", type=Path, help="Also write the rows as JSON here.")
    parser.add_argument("--processes", type=int, default=2, help="Datasette processes of the public face")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Runs of the load per face (interleaved between the public and cached faces); each "
                             "page's row is the median of the runs' p95 with their spread.")
    parser.add_argument("--public-only", action="store_true",
                        help="Measure only the face as served for the public (rows 5p and 5c), not the live one.")
    parser.add_argument("-v", action="store_true", help="Print the SQL each page ran.")
    parser.add_argument("--write-into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_into:
        writer(args.write_into, args.start, args.write_rate)
        return
    with tempfile.TemporaryDirectory(prefix="datasette-load-") as tmp:
        db = args.db or Path(tmp) / "archive.db"
        if db.name != "archive.db":
            raise SystemExit("--db: the file must be named archive.db (the database name metadata.yml configures)")
        db.parent.mkdir(parents=True, exist_ok=True)
        rows = measure(db, args.posts, args.rounds, args.write_rate, processes=args.processes,
                       public_only=args.public_only, repeat=args.repeat)
    print_table(rows)
    save(rows, args.rows)


if __name__ == "__main__":
    main()
