"""What storing the chain's digests as 32-byte blobs instead of 64 hex digits would save: the archive's own
rows after an ingest of N new posts (read back from its file, as bench/ingest.py's "own rows plainly"),
written by plain sqlite3 into a fresh archive twice — chain digests as the archive stores them (hex text)
and as blobs — same schema, indexes, search indexes and commits; interleaved, medians. Prints the write
time and the file's size per chain entry of each. Not in run_all: a measurement for a schema decision.

    python bench/chain_digests.py [--posts 50000] [--per-page 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from ingest import WRITER_BATCH, archive_rows, exchanges, make_texts, pages, record_pages, same_rows_write  # noqa: E402

from archiver.archive import Archive  # noqa: E402

DIGESTS = slice(3, 6)  # row_sha256, prev_sha256, entry_sha256 of a chain row


def as_blobs(chain: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return [(*row[:3], *(bytes.fromhex(str(value)) for value in row[DIGESTS])) for row in chain]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--per-page", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chain-digests-") as tmp:
        ingested = Path(tmp) / "archive.db"
        Archive(ingested, create=True).close()
        record_pages(ingested, exchanges(pages(make_texts(args.posts), args.per_page)))
        rows = archive_rows(ingested, None)
        ways = {"hex text": rows, "32-byte blobs": {**rows, "chain": as_blobs(rows["chain"])}}
        transactions = -(-args.posts // (args.per_page * WRITER_BATCH))
        entries = len(rows["chain"])
        seconds: dict[str, list[float]] = {way: [] for way in ways}
        sizes: dict[str, int] = {}
        for number in range(args.repeat):
            for way, written in ways.items():
                target = Path(tmp) / f"{number}-{way.replace(' ', '-')}.db"
                Archive(target, create=True).close()
                seconds[way].append(same_rows_write(target, written, transactions))
                sizes[way] = target.stat().st_size
                target.unlink()
    print(f"{args.posts:,} posts, {entries:,} chain entries, {transactions} commits, {args.repeat} interleaved runs")
    print(f"{'chain digests as':<16}{'write s (median)':>18}{'spread':>14}{'file MB':>10}{'vs hex, B per entry':>21}")
    for way, times in seconds.items():
        print(f"{way:<16}{statistics.median(times):>18.2f}{f'{min(times):.2f}–{max(times):.2f}':>14}"
              f"{sizes[way] / 1e6:>10.1f}{(sizes[way] - sizes['hex text']) / entries:>+21.0f}")


if __name__ == "__main__":
    main()
