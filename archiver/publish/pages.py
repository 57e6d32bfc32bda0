"""What the archive's own pages show, computed from rows: word-level diffs between versions, how long a
deleted post stayed up, which links are safe to make clickable, and search snippets.

Everything archived is treated as untrusted text: these functions return plain strings and segments
that the templates escape; only `highlight` builds markup, and it escapes the archived text first."""

from __future__ import annotations

import difflib
import re
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from archiver.models import parse_time

# Private-use characters mark a search hit inside an FTS5 snippet: they cannot occur in escaped HTML,
# so the snippet is escaped whole and only these markers become <mark> elements.
HIT_START, HIT_END = "\ue000", "\ue001"
_TOKENS = re.compile(r"\s+|[^\s]+")


def word_diff(old: str | None, new: str | None) -> list[tuple[str, str]]:
    """(operation, text) segments turning `old` into `new`: 'same', 'del' or 'ins', word by word
    (whitespace kept, so the joined segments reproduce both texts)."""
    before = _TOKENS.findall(old or "")
    after = _TOKENS.findall(new or "")
    segments: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            segments.append(("same", "".join(before[i1:i2])))
            continue
        if i2 > i1:
            segments.append(("del", "".join(before[i1:i2])))
        if j2 > j1:
            segments.append(("ins", "".join(after[j1:j2])))
    return segments


def stayed_up(start: str | None, deleted_at: str | None) -> str | None:
    """'3 days 4 hours' between publication (or first sighting) and the deletion, None if unknown."""
    if not start or not deleted_at:
        return None
    try:
        seconds = int((parse_time(deleted_at) - parse_time(start)).total_seconds())
    except ValueError:
        return None
    return human_duration(seconds)


def human_duration(seconds: int) -> str:
    if seconds < 0:
        return "deleted before its claimed publication time"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
        if len(parts) == 2:
            break
    return " ".join(parts) or "0 seconds"


def safe_link(url: str | None) -> str | None:
    """`url` if it may be an href (http or https); archived URLs with other schemes stay text."""
    if not url:
        return None
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else None


def highlight(snippet: str | None) -> Markup:
    """An FTS5 snippet made with HIT_START/HIT_END markers, escaped, with the hits in <mark>."""
    escaped = str(escape(snippet or ""))
    return Markup(escaped.replace(HIT_START, "<mark>").replace(HIT_END, "</mark>"))
