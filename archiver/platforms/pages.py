"""Options every official-statement kind shares: the bounds of a run, the SSRF switch, and paging
through a listing."""

from __future__ import annotations

from typing import Any

# read by jobs.run_source (bounds of one run) and the fetch layer (private addresses for this source)
COMMON_OPTIONS: dict[str, tuple[type, ...]] = {"max_requests": (int,), "run_deadline": (int, float),
                                               "allow_private": (bool,)}


# -- options -----------------------------------------------------------------------------------

def check_options(options: dict[str, Any], allowed: dict[str, tuple[type, ...]]) -> list[str]:
    """Problems with `options`: unknown names (typos) and wrong types."""
    problems = []
    known = {**COMMON_OPTIONS, **allowed}
    for name, value in options.items():
        if name not in known:
            problems.append(f"unknown option `{name}` (known: {', '.join(sorted(known))})")
            continue
        types = known[name]
        if (bool not in types and isinstance(value, bool)) or not isinstance(value, types):
            problems.append(f"option `{name}`: expected {' or '.join(t.__name__ for t in types)}, "
                            f"got {type(value).__name__}")
    return problems


# Listings that continue on further pages: `next` is the CSS selector of the link to the next page,
# `max_pages` how many pages one run reads (default 1). Later pages hold older entries; an entry that
# moves off the first page is confirmed with a direct request, as any entry leaving the listing is.
PAGING_OPTIONS: dict[str, tuple[type, ...]] = {"max_pages": (int,), "next": (str,)}


def check_paging(options: dict[str, Any]) -> list[str]:
    pages = options.get("max_pages")
    if isinstance(pages, int) and not isinstance(pages, bool) and not 1 <= pages <= 100:
        return ["option `max_pages`: between 1 and 100"]
    return []
