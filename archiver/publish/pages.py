"""What the archive's own pages show, computed from rows: word-level diffs between versions, how long a
deleted post stayed up, which links are safe to make clickable, and search snippets.

Everything archived is treated as untrusted text: these functions return plain strings and segments
that the templates escape; only `highlight` builds markup, and it escapes the archived text first."""

from __future__ import annotations

import mimetypes
import re
from functools import lru_cache
from itertools import pairwise
from urllib.parse import unquote, urlsplit

from diff_match_patch import diff_match_patch
from markupsafe import Markup, escape

from archiver.models import parse_time

# Private-use characters mark a search hit inside an FTS5 snippet: they cannot occur in escaped HTML,
# so the snippet is escaped whole and only these markers become <mark> elements.
HIT_START, HIT_END = "\ue000", "\ue001"
_TOKENS = re.compile(r"\s+|[^\s]+")
# Words (and runs of whitespace) of both texts together beyond which a page shows no diff: Myers' diff
# is fast for few changes, and DIFF_SECONDS bounds it (then non-minimal) when there are many.
MAX_DIFF_TOKENS = 400_000
DIFF_SECONDS = 2.0
_OPERATIONS = {-1: "del", 0: "same", 1: "ins"}
_FIRST_CODE = 0x100  # token codes start past ASCII, so diff-match-patch's boundary heuristics see letters


def word_diff(old: str | None, new: str | None) -> tuple[tuple[str, str], ...] | None:
    """(operation, text) segments turning `old` into `new`: 'same', 'del' or 'ins', word by word
    (whitespace kept, so the joined segments reproduce both texts), with semantic cleanup so that an edit
    reads as whole phrases replaced rather than interleaved words. None when the texts are too long."""
    return _word_diff(old or "", new or "")


@lru_cache(maxsize=32)
def _word_diff(old: str, new: str) -> tuple[tuple[str, str], ...] | None:
    before, after = _TOKENS.findall(old), _TOKENS.findall(new)
    if len(before) + len(after) > MAX_DIFF_TOKENS:
        return None
    # each distinct token becomes one character, so the character diff is a word diff
    codes: dict[str, str] = {}
    words: list[str] = []

    def encode(tokens: list[str]) -> str:
        chars = []
        for token in tokens:
            code = codes.get(token)
            if code is None:
                code = codes[token] = chr(_FIRST_CODE + len(words))
                words.append(token)
            chars.append(code)
        return "".join(chars)

    engine = diff_match_patch()
    engine.Diff_Timeout = DIFF_SECONDS
    diffs = engine.diff_main(encode(before), encode(after), checklines=False)
    engine.diff_cleanupSemantic(diffs)
    return tuple((_OPERATIONS[op], "".join(words[ord(char) - _FIRST_CODE] for char in chars))
                 for op, chars in diffs)


def diffs_between(texts: list[str | None]) -> list[tuple[tuple[str, str], ...] | None]:
    """The word diff of each text from the one before it (len(texts) - 1 diffs)."""
    return [word_diff(old, new) for old, new in pairwise(texts)]


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


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def download_name(url: str | None, content_type: str | None, sha256: str) -> str:
    """A payload's file name from the URL it was fetched from and its content type, with the start of its
    digest so that two versions of one page stay apart: example.org-news-2552b4f5eb44.html."""
    parts = urlsplit(url or "")
    path = unquote(parts.path).rstrip("/")
    stem = path.rsplit("/", 1)[-1] if path else ""
    base, dot, suffix = stem.rpartition(".")
    extension = mimetypes.guess_extension((content_type or "").split(";")[0].strip()) or (f".{suffix}" if dot else "")
    if dot and f".{suffix}".lower() == extension:
        stem = base
    name = _UNSAFE_NAME.sub("-", "-".join(part for part in (parts.hostname, stem) if part)).strip("-.")[:80]
    return f"{name or 'payload'}-{sha256[:12]}{extension or '.bin'}"


def safe_link(url: str | None) -> str | None:
    """`url` if it may be an href (http or https); archived URLs with other schemes stay text."""
    if not url:
        return None
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else None


def highlight(snippet: str | None) -> Markup:
    """An FTS5 snippet made with HIT_START/HIT_END markers, escaped, with the hits in <mark>."""
    escaped = str(escape(snippet or ""))
    return Markup(escaped.replace(HIT_START, "<mark>").replace(HIT_END, "</mark>"))


_CLOCK_MINUTES = re.compile(r"\d:\d\d")
_CLOCK_SECONDS = re.compile(r"\d:\d\d:\d\d")


def shown_time(value: str | None, claim: str | None = None) -> str:
    """An archive time (UTC ISO 8601, microseconds) as a reader should see it: in UTC, to the second, and
    for a source's claim (`claim`, as found) no finer than the claim was: a date-only claim shows its
    date, a claim to the minute its minute. The stored value stays the exact one (see `time_element`)."""
    if not value:
        return "not stated"
    try:
        moment = parse_time(value)
    except ValueError:
        return value
    if claim is not None and not _CLOCK_MINUTES.search(claim):
        return moment.strftime("%Y-%m-%d")
    if claim is not None and not _CLOCK_SECONDS.search(claim):
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def time_element(value: str | None, claim: str | None = None) -> Markup:
    """`shown_time` in a <time> element carrying the exact stored value (shown on hover)."""
    if not value:
        return Markup("not stated")
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(value, shown_time(value, claim))


def checkpoint_line(checkpoint: dict | None, proof_url: str) -> str:
    """The citation's line naming the signed checkpoint a version is included in (archiver.proofs), and
    where its inclusion proof downloads; or that no checkpoint covers it yet."""
    if checkpoint is None:
        return "Checkpoint: not yet in a checkpoint (no signed checkpoint covers this version yet)."
    return (f"Checkpoint: {checkpoint['origin']}, tree size {checkpoint['tree_size']}, root hash "
            f"{checkpoint['root_hash']}, signed {shown_time(checkpoint['created_at'])}; "
            f"inclusion proof: {proof_url}")


def citation(post: dict, version: dict, archived_url: str, checkpoint: str) -> str:
    """The plain text a reader copies to cite `version` of `post`; `checkpoint` is its `checkpoint_line`."""
    who = post.get("author_name") or post.get("author_handle") or post.get("organisation") or "Unknown author"
    if post.get("organisation") and post["organisation"] != who:
        who = f"{who} ({post['organisation']})"
    title = post.get("title") or (post.get("text") or "")[:80] or f"{post['platform']} post"
    claimed = shown_time(post["published_at"], post.get("published_raw")) if post.get("published_at") \
        else "no publication date stated"
    lines = [f"{who}. “{title}”. {post['platform']}, published {claimed} (as the source states).",
             f"Archived: first seen {shown_time(post.get('first_seen_at'))}; version {version['number']} "
             f"of {post.get('version_count') or version['number']} seen {shown_time(version.get('observed_at'))}.",
             f"Original URL: {post.get('url') or 'none'}",
             f"Archived copy: {archived_url}",
             f"Content SHA-256: {version.get('content_sha256')}",
             checkpoint]
    return "\n".join(lines)
