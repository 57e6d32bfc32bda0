"""Run every benchmark (issue sizes, or --quick for a smoke run of a few minutes) and print one table:
each child's own report first, then every row together.

    python bench/run_all.py [--quick] [--only ingest poll x datasette verify tlog] [--datasette-db PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from table import Row, load, print_table  # noqa: E402

FULL = {
    "ingest": ["ingest.py", "--posts", "50000", "--per-page", "50", "--repeat", "5"],
    "poll": ["poll_cycle.py", "--sources", "1000", "--hosts", "100", "--repeat", "5"],
    "x": ["x_import.py", "--tweets", "50000", "--large", "1000000", "--repeat", "5"],
    "datasette": ["datasette_load.py", "--posts", "1000000", "--rounds", "20", "--repeat", "5"],
    "verify": ["verify_speed.py", "--posts", "200000", "--repeat", "5"],
    "tlog": ["tlog.py", "--posts", "50000", "--every", "5000", "--entries", "1000000", "--repeat", "5"],
}
QUICK = {
    "ingest": ["ingest.py", "--posts", "2000", "--per-page", "50", "--repeat", "1"],
    "poll": ["poll_cycle.py", "--sources", "100", "--hosts", "20", "--repeat", "1"],
    "x": ["x_import.py", "--tweets", "2000", "--large", "0", "--repeat", "1"],
    "datasette": ["datasette_load.py", "--posts", "5000", "--rounds", "2", "--repeat", "1"],
    "verify": ["verify_speed.py", "--posts", "2000", "--repeat", "1"],
    "tlog": ["tlog.py", "--posts", "1000", "--every", "200", "--entries", "20000", "--repeat", "1"],
}
def run(name: str, argv: list[str], folder: Path) -> list[Row]:
    rows_file = folder / f"{name}.json"
    command = [sys.executable, str(BENCH / argv[0]), *argv[1:], "--rows", str(rows_file)]
    print(f"\n== {' '.join(argv)}", flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        return [Row(f"{name}: failed (exit {done.returncode})", "-", "-", None, "-", None)]
    return load(rows_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Small sizes: a smoke run, not a measurement.")
    parser.add_argument("--only", nargs="+", choices=sorted(FULL), help="Run only these benchmarks.")
    parser.add_argument("--datasette-db", type=Path, help="Keep (or reuse) benchmark 5's archive here.")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name, argv in plan.items():
            if args.only and name not in args.only:
                continue
            if name == "datasette" and args.datasette_db:
                argv = [*argv, "--db", str(args.datasette_db)]
            rows += run(name, argv, Path(tmp))
    print("\n== all benchmarks" + (" (--quick sizes: a smoke run, not a measurement)" if args.quick else ""))
    print_table(rows)
    sys.exit(0 if all(row.met is not None for row in rows) else 1)


if __name__ == "__main__":
    main()
