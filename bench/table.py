"""The one table every benchmark prints: what we measured, the limit or peer measured in the same
run, their ratio, the target and whether it is met; rows can also be written as JSON for run_all."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Row:
    benchmark: str
    ours: str  # formatted figure, unit included
    limit: str  # the limit or the peer, same unit
    ratio: float | None  # ours / limit as the target reads it (None: not measured)
    target: str  # e.g. "≤ 1.30"
    met: bool | None  # None: not measured
    spread: str = ""  # min–max of the ratio over repeated runs, when the row is a median of several

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT MET", None: "not run"}[self.met]


HEADER = f"{'benchmark':<46}{'ours':>16}{'limit / peer':>18}{'ratio':>8}{'spread':>14}{'target':>10}  result"


def line(row: Row) -> str:
    ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
    return (f"{row.benchmark:<46}{row.ours:>16}{row.limit:>18}{ratio:>8}{row.spread or '-':>14}{row.target:>10}"
            f"  {row.verdict}")


def median_run(runs: list[T], ratio: Callable[[T], float]) -> tuple[T, str]:
    """The run whose ratio is the median of all runs, and the ratios' spread as "min–max": on a shared
    machine single runs drift more than some of the gaps they measure, so rows quote medians."""
    ordered = sorted(runs, key=ratio)
    spread = f"{ratio(ordered[0]):.2f}–{ratio(ordered[-1]):.2f}" if len(runs) > 1 else ""
    return ordered[len(ordered) // 2], spread


def print_table(rows: list[Row]) -> None:
    print(HEADER)
    for row in rows:
        print(line(row))


def save(rows: list[Row], path: Path | None) -> None:
    if path is not None:
        path.write_text(json.dumps([asdict(r) for r in rows]), encoding="utf-8")


def load(path: Path) -> list[Row]:
    return [Row(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
