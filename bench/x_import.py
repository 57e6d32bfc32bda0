"""Benchmark 4: importing an X archive, against twitter-to-sqlite 0.22 on the same tweets, in the same
run. Writes N tweets as `tweets.js` (for `archiver import x-archive`) and as the legacy `tweet.js` that
twitter-to-sqlite reads (`window.YTD.tweet.part0 = [{"tweet": {...}}, ...]`), runs each import as a
child under /usr/bin/time and takes the wall time and the peak RSS the kernel reports for it (ours: of
the importing process plus its reader process, bench/tree_rss.py), and the peak PSS of each child's
process tree, sampled. Then our import alone at a large size, for the ratio of peak memory large / small.

    python bench/x_import.py [--tweets 50000] [--large 1000000] [--repeat 5] [--rows FILE]

--repeat runs the two imports in turn (peer, ours, peer, ours, …) and reports the pair with the median
speed ratio and the spread; the large run is made once.

twitter-to-sqlite is installed from PyPI into bench/.venv-peers (created when missing)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from import_memory import write_archive  # noqa: E402
from ingest import archive_rows, same_rows_write  # noqa: E402
from table import Row, median_run, print_table, save  # noqa: E402

from archiver.archive import Archive  # noqa: E402
from archiver.importers.filecapture import BATCH  # noqa: E402

PEERS = BENCH / ".venv-peers"
PEER = "twitter-to-sqlite==0.22"
TIME = "/usr/bin/time"


def peer_command() -> Path:
    """The twitter-to-sqlite executable of the benchmark's own environment, installed when missing."""
    exe = PEERS / "bin" / "twitter-to-sqlite"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        subprocess.run([str(PEERS / "bin" / "pip"), "install", "-q", PEER], check=True)
    return exe


def legacy_copy(tweets_js: Path, tweet_js: Path) -> None:
    """The same entries under the legacy name twitter-to-sqlite maps to its archive_tweet table."""
    with tweets_js.open("r", encoding="utf-8") as src, tweet_js.open("w", encoding="utf-8") as out:
        first = src.readline()
        out.write(first.replace("window.YTD.tweets.part0", "window.YTD.tweet.part0", 1))
        while chunk := src.read(1 << 20):
            out.write(chunk)


def tree_pss(pid: int) -> int:
    """PSS in KiB of a process and all its descendants now (pages shared between them counted once,
    split among the sharers); 0 for processes already gone."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
                break
        children = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                    for child in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return total
    return total + sum(tree_pss(child) for child in children)


SAMPLE = 0.02  # seconds between samples of the process tree's PSS


def timed(command: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB as GNU time reads it from wait4(), peak PSS in KiB of the process
    tree, sampled every SAMPLE seconds) of one child."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        child = subprocess.Popen([TIME, "-f", "%e %M", "-o", report.name, *command], cwd=ROOT,
                                 stdout=subprocess.DEVNULL)
        pss = 0
        while child.poll() is None:
            pss = max(pss, tree_pss(child.pid))
            time.sleep(SAMPLE)
        if child.returncode:
            raise subprocess.CalledProcessError(child.returncode, command)
        seconds, kib = report.read().split()[-2:]
    return float(seconds), int(kib), pss


def ours(archive_file: Path, db: Path) -> tuple[float, int, int]:
    """Our import into a new archive (made first: importing never creates an archive implicitly): wall
    seconds, the peak RSS of the importing process plus that of its reader process (an upper bound of
    their peak together: it counts twice the pages they share since the fork), and the tree's peak PSS."""
    subprocess.run([sys.executable, "-m", "archiver", "init", "--db", str(db)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as tree:
        seconds, _, pss = timed([sys.executable, str(BENCH / "tree_rss.py"), tree.name, "-m", "archiver", "import",
                                 "x-archive", "--db", str(db), str(archive_file)])
        writer_kib, reader_kib, writer_cpu, reader_cpu = tree.read().split()
    print(f"  archiver: writer {int(writer_kib) / 1024:.0f} MiB, {float(writer_cpu):.1f} s CPU; "
          f"reader {int(reader_kib) / 1024:.0f} MiB, {float(reader_cpu):.1f} s CPU", flush=True)
    return seconds, int(writer_kib) + int(reader_kib), pss


def own_rows_plainly(db: Path, tweets: int, folder: Path) -> float:
    """Seconds for plain sqlite3 to write the rows our import wrote into `db` (a diagnostic beside the
    peer: see bench/ingest.py), in as many commits as the import makes."""
    rows = archive_rows(db, None)
    target = folder / "own-rows.db"
    for leftover in folder.glob(target.name + "*"):
        leftover.unlink()
    Archive(target, create=True).close()
    return same_rows_write(target, rows, -(-tweets // BATCH))


SPEED_TARGET = 1.0


def measure(tweets: int, large: int | None, folder: Path, repeat: int) -> list[Row]:
    small_js = folder / "tweets.js"
    write_archive(small_js, tweets)
    legacy = folder / "legacy" / "tweet.js"
    legacy.parent.mkdir()
    legacy_copy(small_js, legacy)
    pairs = []
    for number in range(repeat):
        for db in (folder / "peer.db", folder / "ours.db"):
            for leftover in folder.glob(db.name + "*"):
                leftover.unlink()
        peer = timed([str(peer_command()), "import", str(folder / "peer.db"), str(legacy)])
        mine = ours(small_js, folder / "ours.db")
        plainly = own_rows_plainly(folder / "ours.db", tweets, folder)
        pairs.append((mine, peer, plainly))
        print(f"run {number + 1}, {tweets:,} tweets: archiver {mine[0]:.1f} s, {mine[1] / 1024:.0f} MiB RSS, "
              f"{mine[2] / 1024:.0f} MiB PSS; twitter-to-sqlite {peer[0]:.1f} s, {peer[1] / 1024:.0f} MiB RSS, "
              f"{peer[2] / 1024:.0f} MiB PSS; our rows written plainly {plainly:.1f} s", flush=True)
    ((our_seconds, our_kib, our_pss), (peer_seconds, peer_kib, peer_pss), plainly), spread = median_run(
        pairs, lambda p: p[1][0] / p[0][0])
    print(f"where the gap is (the median pair): our rows written by plain sqlite3 / ours "
          f"{plainly / our_seconds:.2f} (the rest is the import's own code, both processes' wall time), "
          f"peer / our rows written plainly {peer_seconds / plainly:.2f}")
    n = f"{tweets // 1000}k"
    rows = [
        Row(f"4. X import {n}: speed (peer s / ours s)", f"{our_seconds:.1f} s", f"{peer_seconds:.1f} s",
            peer_seconds / our_seconds, f"≥ {SPEED_TARGET:.2f}", peer_seconds / our_seconds >= SPEED_TARGET, spread),
        Row(f"4. X import {n}: peak RSS (ours / peer)", f"{our_kib / 1024:.0f} MiB", f"{peer_kib / 1024:.0f} MiB",
            our_kib / peer_kib, "≤ 0.33", our_kib / peer_kib <= 1 / 3),
        Row(f"4. X import {n}: peak PSS (ours / peer)", f"{our_pss / 1024:.0f} MiB",
            f"{peer_pss / 1024:.0f} MiB", our_pss / peer_pss, "≤ 0.33", our_pss / peer_pss <= 1 / 3),
    ]
    if large:
        for path in (small_js, legacy, *folder.glob("peer.db*")):
            path.unlink()
        large_js = folder / "tweets-large.js"
        write_archive(large_js, large)
        large_seconds, large_kib, _ = ours(large_js, folder / "ours-large.db")
        print(f"{large:,} tweets: archiver {large_seconds:.1f} s, {large_kib / 1024:.0f} MiB", flush=True)
        rows.append(Row(f"4. X import peak RSS {large // 1000}k / {n} (ours)", f"{large_kib / 1024:.0f} MiB",
                        f"{our_kib / 1024:.0f} MiB", large_kib / our_kib, "≤ 1.20", large_kib / our_kib <= 1.2))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tweets", type=int, default=50_000)
    parser.add_argument("--large", type=int, default=1_000_000, help="0 to skip the large run")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved pairs of imports; the median is reported")
    parser.add_argument("--rows", type=Path, help="Also write the rows as JSON here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="x-import-") as tmp:
        rows = measure(args.tweets, args.large or None, Path(tmp), args.repeat)
    print_table(rows)
    save(rows, args.rows)


if __name__ == "__main__":
    main()
