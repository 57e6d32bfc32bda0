"""Progress of long work (import, verify, export, snapshot) on stderr: a tqdm bar with its total and
ETA when stderr is a terminal, nothing otherwise (cron mail and the journal get the summary only)."""

from __future__ import annotations

import sys

from tqdm import tqdm


def bar(desc: str, total: int | None, unit: str = " rows", *, enabled: bool = True, scale: bool = False) -> tqdm:
    """A bar over `total` units (None: a counter without ETA); silent unless `enabled` and stderr is a TTY."""
    return tqdm(desc=desc, total=total, unit=unit, unit_scale=scale, file=sys.stderr, mininterval=0.5,
                dynamic_ncols=True, disable=not enabled or not sys.stderr.isatty())
