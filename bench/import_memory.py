"""Benchmark: peak memory of `archiver import x-archive` does not grow with the archive's size.
Writes an X archive tweets.js of N tweets (streamed to disk), imports it in a child process, and
prints the peak RSS of the import (its process and its reader process added up) for each size and the
ratio of the largest to the smallest.

    python bench/import_memory.py [--sizes 20000 200000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = ("statement", "minister", "rights", "council", "violation", "report", "investigation", "civilians",
         "government", "independent", "calls", "urges", "condemns", "concerned", "allegations", "detention",
         "journalists", "humanitarian", "ceasefire", "evidence")


def write_archive(path: Path, count: int, seed: int = 7) -> None:
    """tweets.js with `count` tweets in the export's shape, written one tweet at a time."""
    rng = random.Random(seed)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    with path.open("w", encoding="utf-8") as out:
        out.write("window.YTD.tweets.part0 = [")
        for index in range(count):
            tweet_id = str(1_200_000_000_000_000_000 + index * 1000)
            created = (start + dt.timedelta(minutes=index)).strftime("%a %b %d %H:%M:%S +0000 %Y")
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40)))
            entry = {"tweet": {"edit_info": {"initial": {"editTweetIds": [tweet_id], "editsRemaining": "5"}},
                               "id_str": tweet_id, "id": tweet_id, "full_text": text, "created_at": created,
                               "lang": "en", "favorite_count": str(rng.randint(0, 500)), "retweet_count": "0",
                               "entities": {"hashtags": [], "urls": [], "user_mentions": []}}}
            out.write(("\n  " if index == 0 else ",\n  ") + json.dumps(entry, indent=None))
        out.write("\n]")


def import_in_child(archive_file: Path, db_path: Path) -> tuple[float, int]:
    """Seconds taken and the peak RSS in KiB of the importing process plus that of its reader process
    (bench/tree_rss.py: an upper bound of their peak together)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as tree:
        started = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "bench" / "tree_rss.py"), tree.name, "-m", "archiver", "import",
                        "x-archive", "--db", str(db_path), str(archive_file)], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        writer_kib, reader_kib = tree.read().split()[:2]
    return seconds, int(writer_kib) + int(reader_kib)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--keep", type=Path, help="Folder to keep the generated files in.")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="import-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    peaks = {}
    for size in sorted(args.sizes):
        archive_file = folder / f"tweets-{size}.js"
        write_archive(archive_file, size)
        seconds, peak = import_in_child(archive_file, folder / f"archive-{size}.db")
        peaks[size] = peak
        print(f"{size:>9,} tweets  file {archive_file.stat().st_size / 2**20:8.1f} MiB  "
              f"import {seconds:7.1f} s  peak RSS {peak / 1024:7.1f} MiB", flush=True)
    smallest, largest = min(peaks), max(peaks)
    ratio = peaks[largest] / peaks[smallest]
    print(f"peak RSS ratio {largest:,} / {smallest:,} tweets: {ratio:.2f}x (target <= 1.2x)")
    if not args.keep:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    sys.exit(0 if ratio <= 1.2 else 1)


if __name__ == "__main__":
    main()
