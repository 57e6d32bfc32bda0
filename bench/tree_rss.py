"""Run `python -m archiver ARGS` in this process and write, to the file named first, the peak RSS in
KiB of this process and of its largest waited-for child (the import's reader process), then the CPU
seconds of each: GNU time's %M reports only the larger of the two peaks, and the import's memory is both.

    python bench/tree_rss.py OUT -m archiver import x-archive --db DB FILE
"""

from __future__ import annotations

import resource
import runpy
import sys
from pathlib import Path


def main() -> None:
    out, flag, module, *args = sys.argv[1:]
    if flag != "-m":
        raise SystemExit("usage: tree_rss.py OUT -m MODULE [ARGS...]")
    sys.argv = [module, *args]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(out).write_text(f"{own.ru_maxrss} {children.ru_maxrss} {own.ru_utime + own.ru_stime:.2f} "
                         f"{children.ru_utime + children.ru_stime:.2f}\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
