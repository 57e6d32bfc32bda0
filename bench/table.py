"""The one table every benchmark prints: what we measured, the limit or peer measured in the same
run, their ratio, the target and whether it is met; rows can also be written as JSON for run_all."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Row:
    benchmark: str
    ours: str  # formatted figure, unit included
    limit: str  # the limit or the peer, same unit
    ratio: float | None  # ours / limit as the target reads it (None: not measured)
    target: str  # e.g. "≤ 1.30"
    met: bool | None  # None: not measured

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT MET", None: "not run"}[self.met]


HEADER = f"{'benchmark':<46}{'ours':>16}{'limit / peer':>16}{'ratio':>8}{'target':>10}  result"


def line(row: Row) -> str:
    ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
    return f"{row.benchmark:<46}{row.ours:>16}{row.limit:>16}{ratio:>8}{row.target:>10}  {row.verdict}"


def print_table(rows: list[Row]) -> None:
    print(HEADER)
    for row in rows:
        print(line(row))


def save(rows: list[Row], path: Path | None) -> None:
    if path is not None:
        path.write_text(json.dumps([asdict(r) for r in rows]), encoding="utf-8")


def load(path: Path) -> list[Row]:
    return [Row(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
