"""The one-machine ceiling: a simulated fleet of feed sources on loopback, polled through the service's
own path (`start_source` in a pool of workers, one collector thread waiting for each run's commits, one
`Fetcher`, the `WriterThread`: benchmark 3's `cycle`), to find how many sources one machine keeps on
which schedule before runs are missed.

Sites answer after a latency drawn per site from a log-normal distribution (median 150 ms, most sites
between 60 ms and 400 ms, capped at 2 s, as public web servers measured from one vantage point spread),
and a share of sites is slow (5 s per response). Each size is polled twice: cycle 1 finds every item new;
cycle 2 is the steady state of a fleet that rarely changes (conditional GETs answered 304). A schedule
of interval I is sustained while a cycle takes less than I: past that, runs are coalesced and recorded
as missed.

Both sides share the machine's cores: the archiver's CPU time and the sites' are reported apart, so the
ceiling on a machine where the sites are elsewhere can be read off the archiver's share.

    python bench/fleet.py [--sources 1000 2500 5000 10000] [--workers 8 32] [--slow-share 0.01] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from poll_cycle import cycle, serve_feeds  # noqa: E402

from archiver.archive import Archive, WriterThread  # noqa: E402
from archiver.config import Settings  # noqa: E402
from archiver.fetch import Fetcher  # noqa: E402
from archiver.models import Source  # noqa: E402
from archiver.view import ArchiveView  # noqa: E402

FEEDS_PER_SITE = 10
MEDIAN_LATENCY, SIGMA, CAP, SLOW = 0.15, 0.55, 2.0, 5.0
SCHEDULES = {"5 min": 300, "15 min": 900, "1 h": 3600}


def latencies(sites: int, slow_share: float, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    drawn = [min(CAP, rng.lognormvariate(0, SIGMA) * MEDIAN_LATENCY) for _ in range(sites)]
    for index in rng.sample(range(sites), round(sites * slow_share)):
        drawn[index] = SLOW
    return drawn


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def poll(sources: list[Source], workers: int, db: Path) -> list[tuple[float, float, dict[str, int]]]:
    """Two cycles: (seconds, archiver CPU seconds, outcomes) each."""
    settings = Settings(allow_private=True, host_delay=0.0, workers=workers)
    Archive(db, create=True).close()
    writer = WriterThread(db)
    writer.call(lambda a: a.sync_sources([s.as_row() for s in sources]))
    view = ArchiveView(db)
    fetcher = Fetcher(settings)
    cycles = []
    try:
        for _ in range(2):
            cpu = cpu_seconds()
            seconds, outcomes = cycle(sources, fetcher, writer, view, workers)
            cycles.append((seconds, cpu_seconds() - cpu, outcomes))
    finally:
        fetcher.close()
        writer.close()
        view.close()
    return cycles


def measure(n_sources: int, workers: int, slow_share: float, items: int) -> list[dict[str, object]]:
    sites = max(1, n_sources // FEEDS_PER_SITE)
    pipe, child_end = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve_feeds, daemon=True,
                                     args=(child_end, n_sources, latencies(sites, slow_share), items))
    server.start()
    ports = pipe.recv()
    # consecutive sources on different sites, as a worker pool taking sources in order meets them
    sources = [Source(id=f"feed-{i:05d}", kind="feed", name=f"Feed {i}",
                      locator=f"http://127.0.0.1:{ports[i % sites]}/feed/{i}.xml") for i in range(n_sources)]
    try:
        with tempfile.TemporaryDirectory(prefix="fleet-") as tmp:
            cycles = poll(sources, workers, Path(tmp) / "archive.db")
        pipe.send("take")
        site_cpu = pipe.recv()[-1]
    finally:
        pipe.send("stop")
        server.join(timeout=30)
    results = []
    for name, (seconds, cpu, outcomes) in zip(("new", "steady"), cycles, strict=True):
        sustained = [label for label, interval in SCHEDULES.items() if seconds < interval]
        results.append({"sources": n_sources, "workers": workers, "cycle": name, "seconds": round(seconds, 2),
                        "sources_per_s": round(n_sources / seconds, 1), "cores": round(cpu / seconds, 2),
                        "cpu_ms_per_source": round(cpu / n_sources * 1000, 2), "site_cpu_s": round(site_cpu, 1),
                        "shortest_schedule": sustained[0] if sustained else "> 1 h", "outcomes": outcomes})
    return results


HEADER = (f"{'sources':>8}{'workers':>8}  {'cycle':<7}{'seconds':>9}{'sources/s':>11}{'cores':>7}"
          f"{'CPU ms/src':>12}  {'shortest schedule kept':<24}outcomes")


def print_results(results: list[dict[str, object]]) -> None:
    print(HEADER)
    for r in results:
        print(f"{r['sources']:>8,}{r['workers']:>8}  {r['cycle']:<7}{r['seconds']:>9.1f}{r['sources_per_s']:>11.0f}"
              f"{r['cores']:>7.2f}{r['cpu_ms_per_source']:>12.1f}  {'every ' + str(r['shortest_schedule']):<24}"
              f"{r['outcomes']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, nargs="+", default=[1000, 2500, 5000, 10000])
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--slow-share", type=float, default=0.01)
    parser.add_argument("--items", type=int, default=10, help="items per feed")
    parser.add_argument("--json", type=Path, help="Also write the results as JSON here.")
    args = parser.parse_args()
    results = []
    for workers in args.workers:
        for n in args.sources:
            results += measure(n, workers, args.slow_share, args.items)
            print_results(results[-2:])
    print("\n== fleet (both cycles of every size)")
    print_results(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
