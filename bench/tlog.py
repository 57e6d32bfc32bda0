"""Benchmark 7: the transparency log. The tree is derived from the chain, not kept by the writer, so
what it costs is (a) the checkpoints themselves: an ingest through the writer thread with a checkpoint
every few thousand posts, the share of its time spent in them (the same ingest without checkpoints is
printed alongside), and (b) checkpoint, verify --checkpoint and proof times per million chain entries
(a synthetic chain of that many entries in a real archive file).

    python bench/tlog.py [--posts 50000] [--every 5000] [--entries 1000000] [--repeat 3] [--rows FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from ingest import exchanges, make_texts, pages, write_pages  # noqa: E402
from table import Row, median_run, print_table, save  # noqa: E402

from archiver import jobs  # noqa: E402
from archiver.archive import Archive, WriterThread  # noqa: E402
from archiver.checkpoint import check_checkpoints, take_checkpoint  # noqa: E402
from archiver.database import connect  # noqa: E402
from archiver.signed_note import SigningKey  # noqa: E402
from archiver.tlog import chain_tree  # noqa: E402

KEY = SigningKey("bench.invalid/archive", bytes(32))


def ingest(db: Path, texts: list[str], every: int | None, folder: Path) -> tuple[float, float]:
    """Seconds to record `texts` through the writer thread, in batches of `every` posts (50 per
    page); with `every`, a checkpoint after each batch, as the service would take one. Also returns
    the seconds spent in those checkpoints (the added work, less exposed to the machine's drift)."""
    Archive(db, create=True).close()
    batch = every or 5000
    work = [exchanges(pages(texts[i:i + batch], 50)) for i in range(0, len(texts), batch)]
    writer = WriterThread(db)
    started = time.perf_counter()
    in_checkpoints = 0.0
    for chunk in work:
        write_pages(writer, chunk)
        if every:
            checkpoint_started = time.perf_counter()
            take_checkpoint(writer.call, KEY, folder, [])
            in_checkpoints += time.perf_counter() - checkpoint_started
    writer.close()
    return time.perf_counter() - started, in_checkpoints


def synthetic_chain(db: Path, entries: int) -> None:
    """An archive whose chain has `entries` entries (the tree reads nothing else)."""
    with Archive(db, create=True) as archive:
        conn = archive.conn
        conn.execute("BEGIN")
        step = 100_000
        for start in range(0, entries, step):
            conn.executemany(
                "INSERT INTO chain (seq, table_name, row_id, row_sha256, prev_sha256, entry_sha256) "
                "VALUES (?, 'events', ?, '', '', ?)",
                ((seq, seq, hashlib.sha256(b"%d" % seq).hexdigest())
                 for seq in range(start + 1, min(entries, start + step) + 1)))
        conn.execute("COMMIT")


def tree_times(db: Path, entries: int, folder: Path) -> dict[str, float]:
    with Archive(db) as archive:
        started = time.perf_counter()
        first = take_checkpoint(jobs.direct(archive), KEY, folder, [])
        scratch = time.perf_counter() - started
    conn = connect(db, readonly=True)
    started = time.perf_counter()
    size = conn.execute("SELECT max(tree_size) FROM checkpoints").fetchone()[0]
    for index in (0, size // 2, size - 1):  # what a proof costs: the audit path from the cache
        assert len(chain_tree(conn, size).inclusion_proof(index)) <= size.bit_length()
    proof = (time.perf_counter() - started) / 3
    conn.close()
    started = time.perf_counter()
    checked = check_checkpoints(db, [first.path] if first.path else [], keys=[KEY.public])
    verify = time.perf_counter() - started
    assert not checked.problems, checked.problems
    return {"scratch": scratch, "proof": proof, "verify": verify}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--every", type=int, default=5_000, help="Posts between two checkpoints.")
    parser.add_argument("--entries", type=int, default=1_000_000, help="Chain entries of the tree benchmark.")
    parser.add_argument("--rows", type=Path, help="Write the rows as JSON here (bench/run_all.py).")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Measure the writer both ways this many times, interleaved; report the median ratio.")
    args = parser.parse_args()
    texts = make_texts(args.posts)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = []
        for n in range(args.repeat):
            # the order alternates (ABBA…): whichever ran first in a pair was slower on this machine
            plain = lambda n=n: ingest(folder / f"plain{n}.db", texts, None, folder / f"cp-plain{n}")[0]  # noqa: E731
            tree = lambda n=n: ingest(folder / f"tree{n}.db", texts, args.every, folder / f"cp-tree{n}")  # noqa: E731
            if n % 2:
                (with_tree, in_checkpoints), without = tree(), plain()
            else:
                without, (with_tree, in_checkpoints) = plain(), tree()
            runs.append((without, with_tree, in_checkpoints))
            print(f"writer run {n + 1}: without {without:.2f} s, with checkpoints {with_tree:.2f} s "
                  f"(of which {in_checkpoints:.2f} s in the checkpoints)", flush=True)
        (without, with_tree, in_checkpoints), spread = median_run(runs, lambda run: run[2] / run[1])
        synthetic_chain(folder / "chain.db", args.entries)
        times = tree_times(folder / "chain.db", args.entries, folder / "cp-chain")
    per_million = 1_000_000 / args.entries
    # The writer's own path is the same with and without the tree (it is derived from the chain), so
    # what checkpoints add is the time spent in them; whole-run times drift by more than that here.
    share = in_checkpoints / with_tree
    print(f"writer: {args.posts / without:,.0f} rows/s without checkpoints, {args.posts / with_tree:,.0f} rows/s "
          f"with one every {args.every:,} posts, {in_checkpoints:.2f} s of {with_tree:.1f} s in the checkpoints")
    rows = [
        Row(f"7. writer: time in checkpoints every {args.every:,}", f"{in_checkpoints:.2f} s",
            f"{with_tree:.1f} s", share, "≤ 0.10", share <= 0.10, spread),
    ]
    for name, key, budget in (("7. first checkpoint, per 1M chain entries", "scratch", 30.0),
                              ("7. verify --checkpoint, per 1M entries", "verify", 30.0)):
        seconds = times[key] * per_million
        rows.append(Row(name, f"{seconds:.1f} s", f"{budget:.0f} s", seconds / budget, "≤ 1.00", seconds <= budget))
    rows.append(Row("7. inclusion proof from the node cache", f"{times['proof'] * 1000:.1f} ms", "50 ms",
                    times["proof"] * 1000 / 50, "≤ 1.00", times["proof"] <= 0.05))
    print(f"tree of {args.entries:,} entries: first checkpoint {times['scratch']:.2f} s, "
          f"verify --checkpoint {times['verify']:.2f} s, proof {times['proof'] * 1000:.1f} ms")
    print_table(rows)
    save(rows, args.rows)


if __name__ == "__main__":
    main()
