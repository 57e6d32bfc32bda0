"""Benchmark 6: `archiver verify` per million chain entries, against plain sqlite3 reading the same rows
and hashing each of them once (the least work any fixity check of those rows does), in the same run.

The archive is built through `Archive.record` (pages of 50 posts with their captures and payloads), so
its chain holds captures, versions and events as a real archive's does.

    python bench/verify_speed.py [--posts 200000] [--repeat 5] [--jobs N] [--rows FILE]

Both sides read the file as a file at rest (`immutable`), as verify reads a snapshot: a read-only
connection that is not immutable would leave a -wal file beside it, and verify would then take the
archive for a live one (and rebuild its views on its own snapshot rather than in its workers).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from ingest import exchanges, make_texts, pages  # noqa: E402
from table import Row, median_run, print_table, save  # noqa: E402

from archiver import verify as checks  # noqa: E402
from archiver.archive import CHAINED, Archive  # noqa: E402
from archiver.database import open_to_check  # noqa: E402
from archiver.verify import verify  # noqa: E402

TARGET = 1.5


def build(db: Path, posts: int) -> int:
    """The archive, and how many chain entries it holds."""
    with Archive(db, create=True) as archive:
        for exchange, observation in exchanges(pages(make_texts(posts), 50)):
            exchange.prepare()
            archive.record(exchange, observation)
        return archive.conn.execute("SELECT count(*) FROM chain").fetchone()[0]


def plain_read_and_hash(db: Path) -> float:
    """Every chained row, chain entry and payload read once and hashed once (SHA-256 over each row's
    values as text, over each payload's decoded bytes). Seconds."""
    started = time.perf_counter()
    conn = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
    for table in (*CHAINED, "chain"):
        for row in conn.execute(f"SELECT * FROM {table}"):
            hashlib.sha256("\x00".join(map(str, row)).encode("utf-8", "surrogatepass")).digest()
    # a payload's digest is of the decoded body, so any check of it decodes it first
    for compression, data in conn.execute("SELECT compression, data FROM payloads"):
        hashlib.sha256(zlib.decompress(data) if compression == "zlib" else data).digest()
    conn.close()
    return time.perf_counter() - started


def timed_verify(db: Path, jobs: int | None) -> float:
    started = time.perf_counter()
    report = verify(db, jobs=jobs)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"verify found problems in the benchmark's own archive: {report.problems[0]}")
    return seconds


def check_costs(db: Path) -> list[tuple[str, float]]:
    """Seconds of each of verify's checks over the whole file in one process (the work its jobs share
    out): what its time goes to, beside what the plain read-and-hash does."""
    conn = open_to_check(db)
    archive = checks._Archive(conn)
    scope = checks._Scope({t: frozenset(c) for t, c in archive.columns.items()},
                          conn.execute("PRAGMA user_version").fetchone()[0], {}, None)
    first, last = conn.execute("SELECT min(seq), max(seq) FROM chain").fetchone()
    work: list[tuple[str, Any]] = [
        ("page check (quick_check)", lambda: checks._check_pages(conn, str(db))),
        ("chain entries, row and content digests", lambda: checks._check_entries(conn, scope, first, last)),
        ("payloads decoded and digested", lambda: checks._check_payloads(conn, None, None)),
    ]
    work += [(f"view: {check.__name__.strip('_')}", lambda check=check: checks._check_views(conn, scope, (check,)))
             for check in checks._VIEWS]
    costs = []
    for name, task in work:
        started = time.perf_counter()
        task()
        costs.append((name, time.perf_counter() - started))
    conn.close()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5, help="interleaved pairs; the median ratio is reported")
    parser.add_argument("--jobs", type=int, help="verify's worker processes [default: its own choice]")
    parser.add_argument("--rows", type=Path, help="Also write the rows as JSON here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verify-speed-") as tmp:
        db = Path(tmp) / "archive.db"
        entries = build(db, args.posts)
        print(f"{args.posts:,} posts: {entries:,} chain entries; verify with "
              f"{args.jobs or 'its default number of'} jobs on {os.cpu_count()} CPUs", flush=True)
        runs = []
        for number in range(args.repeat):
            runs.append((timed_verify(db, args.jobs), plain_read_and_hash(db)))
            print(f"run {number + 1}: verify {runs[-1][0]:.2f} s, plain sqlite3 {runs[-1][1]:.2f} s", flush=True)
        costs = check_costs(db)
    (ours, limit), spread = median_run(runs, lambda r: r[0] / r[1])
    print(f"what verify's work is (one process, whole file; plain sqlite3 read-and-hash: {limit:.2f} s):")
    for name, seconds in costs:
        print(f"  {name:<42}{seconds:>8.2f} s{seconds / limit:>7.2f}× plain")
    total = sum(seconds for _, seconds in costs)
    print(f"  {'all checks':<42}{total:>8.2f} s{total / limit:>7.2f}× plain")
    per_million = 1_000_000 / entries
    rows = [Row("6. verify per 1M chain entries", f"{ours * per_million:.1f} s", f"{limit * per_million:.1f} s",
                ours / limit, f"≤ {TARGET:.2f}", ours / limit <= TARGET, spread)]
    print_table(rows)
    save(rows, args.rows)


if __name__ == "__main__":
    main()
