"""The removal-window rule every listing-based parser shares: a listing that covers a range (ids,
dates, positions) and does not show a post the archive knows inside that range is evidence that the
post left; outside the range it says nothing (the post may simply have aged out of view)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


K = TypeVar("K", bound=_Ordered)


def departed(known: Iterable[tuple[str, K | None]], seen: set[str], low: K | None, high: K | None) -> list[str]:
    """Known posts (native id, sort key) inside [low, high) that a listing covering that range did
    not show. low None = the listing reached the beginning; high None = nothing newer exists. A post
    without a sort key is inside only a range open at the bottom."""
    gone = []
    for native_id, key in known:
        if native_id in seen:
            continue
        if key is None:
            if low is None and high is None:
                gone.append(native_id)
            continue
        if (low is None or not key < low) and (high is None or key < high):
            gone.append(native_id)
    return gone
