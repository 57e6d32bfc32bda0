"""Import an X account archive ("Download your archive": a zip, its unpacked folder, or one
tweets.js): tweets.js and its parts, community-tweet.js (posts to an X Community), twitter-circle-tweet.js
(posts shown only to the account's Circle: archived, never published), deleted-tweets.js (posts that
are recorded, then deleted) and note-tweet.js (the full text of long posts). The .js files are streamed
one tweet at a time, so memory does not grow with the archive's size."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from archiver.archive import Archive
from archiver.importers.filecapture import ImportFailed, ImportReport, file_digest, import_batches
from archiver.importers.reader import ReadInProcess
from archiver.models import Gone, Observation, PostDraft, VersionDraft, format_time
from archiver.platforms.kinds import post_kind
from archiver.platforms.social import dumps, numeric
from archiver.platforms.x import unescape
from archiver.progress import bar

EXTRACTOR_VERSION = "2"  # 2: entities unescaped; notes matched by time window and text
PLATFORM = "x"
CHUNK = 1 << 16
MAX_ENTRY = 64 << 20  # one tweet larger than this is not a tweet: stop instead of buffering on
# the files whose entries are posts: the account's own, those it posted to a community, those it showed
# only to its Twitter Circle (never public: archived unpublished), and those it deleted
POST_KINDS = ("tweets", "community-tweet", "twitter-circle-tweet", "deleted-tweets")
_PREFIX = re.compile(r"\s*window\.YTD\.[A-Za-z0-9_.]+\s*=\s*\[")
_DATA_FILE = re.compile(r"^(?P<kind>tweets?|community-tweet|twitter-circle-tweet|deleted-tweets|note-tweet|account)"
                        r"(?:-part(?P<part>\d+))?\.js$")


def iter_ytd(stream: IO[str], name: str) -> Iterator[Any]:
    """The entries of a `window.YTD.<name>.partN = [ ... ]` file, decoded one at a time from a
    buffer that never holds more than a chunk and the entry being read."""
    decoder = json.JSONDecoder()
    buf, pos, offset, eof = "", 0, 0, False

    def fill() -> None:
        nonlocal buf, pos, offset, eof
        chunk = stream.read(CHUNK)
        offset += pos
        buf, pos = buf[pos:] + chunk, 0
        eof = not chunk

    while not eof and "[" not in buf:
        fill()
    match = _PREFIX.match(buf)
    if not match:
        raise ImportFailed(f"{name}: does not start with `window.YTD.<name>.partN = [`")
    pos = match.end()
    index, expect_value = 0, True
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n":
            pos += 1
        if pos == len(buf):
            if eof:
                raise ImportFailed(f"{name}: truncated after entry {index} (no closing `]`)")
            fill()
            continue
        char = buf[pos]
        if char == "]" and (not expect_value or index == 0):
            return
        if not expect_value:
            if char != ",":
                raise ImportFailed(f"{name}: expected `,` or `]` after entry {index} at character {offset + pos}")
            pos += 1
            expect_value = True
            continue
        try:
            value, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            if eof or len(buf) - pos > MAX_ENTRY:
                raise ImportFailed(f"{name}: entry {index + 1}: invalid or truncated JSON at character "
                                   f"{offset + exc.pos}: {exc.msg}") from exc
            fill()
            continue
        if end == len(buf) and not eof:  # a value ending exactly at the buffer's end may go on
            fill()
            continue
        yield value
        index += 1
        pos, expect_value = end, False


@dataclass
class ArchiveFiles:
    """The data files of an archive, in reading order, and how to open them."""

    location: Path
    members: dict[str, list[str]] = field(default_factory=dict)  # kind → names, part order
    zip: zipfile.ZipFile | None = None

    def open(self, name: str, advance: Callable[[int], object] | None = None) -> IO[str]:
        """The file as text; `advance` is told of every byte read (the import's progress)."""
        raw: IO[bytes] = self.zip.open(name) if self.zip is not None else open(name, "rb")  # noqa: SIM115
        if advance is not None:
            raw = io.BufferedReader(_Counted(raw, advance))
        return io.TextIOWrapper(raw, encoding="utf-8-sig")  # the caller's ExitStack closes it

    def size(self, kinds: tuple[str, ...]) -> int:
        """Bytes of the files of these kinds, uncompressed: the import's progress total."""
        names = [name for kind in kinds for name in self.members.get(kind, [])]
        if self.zip is not None:
            return sum(self.zip.getinfo(name).file_size for name in names)
        return sum(Path(name).stat().st_size for name in names)

    def digest(self) -> tuple[str, int]:
        if self.zip is not None or self.location.is_file():
            return file_digest([self.location])
        return file_digest(Path(name) for names in self.members.values() for name in names)


class _Counted(io.RawIOBase):
    def __init__(self, raw: IO[bytes], advance: Callable[[int], object]) -> None:
        self.raw, self.advance = raw, advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.advance(n)
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def find_files(path: Path) -> ArchiveFiles:
    if not path.exists():
        raise ImportFailed(f"{path}: no such file or folder")
    found: dict[str, list[tuple[int, str]]] = {}
    archive_zip = None
    if path.is_dir():
        names = [str(p) for p in sorted(path.rglob("*.js"))]
    elif zipfile.is_zipfile(path):
        archive_zip = zipfile.ZipFile(path)
        names = archive_zip.namelist()
    else:
        names = [str(path)]
    for name in names:
        match = _DATA_FILE.match(Path(name).name)
        if match is None and len(names) == 1 and not path.is_dir() and archive_zip is None:
            match = _DATA_FILE.match("tweets.js")  # a single .js file given by hand is a tweets file
        if match:
            kind = "tweets" if match["kind"] in ("tweet", "tweets") else match["kind"]
            found.setdefault(kind, []).append((int(match["part"] or 0), name))
    if "tweets" not in found and "deleted-tweets" not in found:
        raise ImportFailed(f"{path}: no data/tweets.js (or tweets-partN.js, deleted-tweets.js) found")
    members = {kind: [name for _, name in sorted(parts)] for kind, parts in found.items()}
    return ArchiveFiles(location=path, members=members, zip=archive_zip)


def import_x_archive(archive: Archive, path: Path, *, progress: bool = True) -> ImportReport:
    files = find_files(path)
    try:
        digest, size = files.digest()
        total = files.size(POST_KINDS)
    finally:
        if files.zip is not None:
            files.zip.close()
    problems: list[str] = []
    # progress in bytes of the tweet files read: their number of entries is known only at the end
    shown = bar(f"importing {path.name}", total, "B", enabled=progress, scale=True)
    with ReadInProcess(partial(_read, path), problems) as read:
        return import_batches(archive, path, digest, size, read, problems, what="x-archive", shown=shown)


def _read(path: Path, problems: list[str], advance: Callable[[int], object]) -> Iterator[Observation]:
    """The archive's observations, as its reader process reads them."""
    files = find_files(path)
    with ExitStack() as stack:
        if files.zip is not None:
            stack.callback(files.zip.close)
        yield from _observations(files, stack, problems, advance)


def _observations(files: ArchiveFiles, stack: ExitStack, problems: list[str],
                  advance: Callable[[int], object] | None = None) -> Iterator[Observation]:
    account = _account(files, stack)
    notes = _notes(files, stack, problems)
    for kind in POST_KINDS:
        chains = _Chains()  # one for all parts of a kind: an edit chain may be split between two parts
        for name in files.members.get(kind, []):
            short = Path(name).name
            for index, entry in enumerate(iter_ytd(stack.enter_context(files.open(name, advance)), short)):
                where = f"{short}: entry {index + 1}"
                try:
                    tweet, version = _read_tweet(entry, where, notes)
                except ValueError as exc:
                    problems.append(str(exc))
                    continue
                for post in chains.add(tweet, version, account):
                    yield _observation(post, kind, tweet)
        for post in chains.flush(account):
            yield _observation(post, kind, None)


def _observation(post: PostDraft, kind: str, tweet: dict[str, Any] | None) -> Observation:
    post.publish = kind != "twitter-circle-tweet"
    if kind != "deleted-tweets":
        return Observation(posts=[post])
    deleted_at = tweet.get("deleted_at") if tweet else None
    return Observation(posts=[post], gone=[Gone(PLATFORM, post.native_id, True,
                                                f"listed in deleted-tweets.js (deleted_at {deleted_at})")])


class _Chains:
    """Tweets of one edit chain held back until every id of the chain has been read, so its
    versions are written oldest first; a chain of one tweet passes straight through."""

    def __init__(self) -> None:
        self.open: dict[str, tuple[set[str], list[tuple[dict[str, Any], VersionDraft]]]] = {}

    def add(self, tweet: dict[str, Any], version: VersionDraft, account: dict[str, str]) -> list[PostDraft]:
        identity, expected = _chain(tweet)
        held = self.open.setdefault(identity, (set(), []))
        held[0].update(expected)
        held[1].append((tweet, version))
        if held[0] <= {t["id_str"] for t, _ in held[1]}:
            del self.open[identity]
            return [_post(identity, held[1], account)]
        return []

    def flush(self, account: dict[str, str]) -> list[PostDraft]:
        posts = [_post(identity, members, account) for identity, (_, members) in self.open.items()]
        self.open.clear()
        return posts


def _chain(tweet: dict[str, Any]) -> tuple[str, set[str]]:
    info = tweet.get("edit_info") if isinstance(tweet.get("edit_info"), dict) else {}
    initial = info.get("initial")
    edit = info.get("edit")
    ids: list[Any] = []
    if isinstance(initial, dict):
        ids = initial.get("editTweetIds") or []
    elif isinstance(edit, dict):
        control = edit.get("editControlInitial")
        ids = (control.get("editTweetIds") if isinstance(control, dict) else None) or []
        if isinstance(edit.get("initialTweetId"), str):
            ids = [edit["initialTweetId"], *ids]
    ids = [i for i in ids if isinstance(i, str) and numeric(i)] or [tweet["id_str"]]
    return min(ids, key=int), set(ids) | {tweet["id_str"]}


def _read_tweet(entry: Any, where: str, notes: _Notes) -> tuple[dict[str, Any], VersionDraft]:
    tweet = entry.get("tweet") if isinstance(entry, dict) else None
    if not isinstance(tweet, dict):
        raise ValueError(f"{where}: not an object with a `tweet` object")
    tweet_id = tweet.get("id_str")
    if not isinstance(tweet_id, str) or not numeric(tweet_id):
        raise ValueError(f"{where}: `id_str` missing or not numeric")
    text = tweet.get("full_text", tweet.get("text"))
    if not isinstance(text, str):
        raise ValueError(f"{where}: tweet {tweet_id}: `full_text` missing or not a string")
    text = unescape(text)
    created = _created(tweet.get("created_at"))
    if created is not None:
        text = notes.full_text(tweet_id, created, text)
    extra = {"id": tweet_id}
    community = tweet.get("community_id_str")
    if isinstance(community, str) and numeric(community):
        extra["community"] = community  # posted to an X Community (community-tweet.js)
    return tweet, VersionDraft(text=text, extra=extra, raw=dumps(entry), claimed_at=created)


def _post(identity: str, members: list[tuple[dict[str, Any], VersionDraft]], account: dict[str, str]) -> PostDraft:
    members = sorted(members, key=lambda member: int(member[0]["id_str"]))
    first, latest = members[0][0], members[-1][0]
    handle = account.get("username")
    post = PostDraft(platform=PLATFORM, native_id=identity, versions=[version for _, version in members],
                     url=f"https://x.com/{handle or 'i/web'}/status/{identity}", author_id=account.get("accountId"),
                     author_handle=handle, author_name=account.get("accountDisplayName"),
                     published_at=_created(first.get("created_at")),
                     published_raw=first.get("created_at") if isinstance(first.get("created_at"), str) else None,
                     published_where="created_at of the first tweet of the edit chain",
                     language=latest.get("lang") if isinstance(latest.get("lang"), str) else None,
                     extractor="x-archive", extractor_version=EXTRACTOR_VERSION)
    reply = latest.get("in_reply_to_status_id_str")
    quote = latest.get("quoted_status_id_str")
    post.reply_to = reply if isinstance(reply, str) and reply else None
    post.quote_of = quote if isinstance(quote, str) and quote else None
    post.kind = post_kind(post, reposted=(post.versions[-1].text or "").startswith("RT @"))
    if post.kind == "repost":
        # an export keeps a repost as X's "RT @user: " and the original, often cut, and never the original
        # itself: a partial reading, never a new version of a repost the archive holds complete
        for version in post.versions:
            version.partial = True
    for holder in (latest.get("extended_entities"), latest.get("entities")):
        media = holder.get("media") if isinstance(holder, dict) else None
        if isinstance(media, list) and media:
            post.media = [{"type": item.get("type"), "url": item.get("media_url_https")}
                          for item in media if isinstance(item, dict)]
            break
    return post


_LEGACY_TIME = re.compile(r"^[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{2}) (\d{2}):(\d{2}):(\d{2}) "
                          r"([+-])(\d{2})(\d{2}) (\d{4})$")
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}


def _created(value: Any) -> str | None:
    """`Fri Feb 24 06:58:32 +0000 2023` (or ISO 8601) as the archive's UTC time; None if unreadable.
    The legacy form is read with a regular expression: strptime cost more than the rest of a
    tweet's parsing."""
    if not isinstance(value, str):
        return None
    match = _LEGACY_TIME.match(value)
    try:
        if match:
            month, day, hour, minute, second, sign, off_h, off_m, year = match.groups()
            offset = dt.timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
            moment = dt.datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second),
                                 tzinfo=dt.timezone(offset))
        else:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, KeyError):
        return None
    return format_time(moment) if moment.tzinfo is not None else None


def _account(files: ArchiveFiles, stack: ExitStack) -> dict[str, str]:
    for name in files.members.get("account", []):
        for entry in iter_ytd(stack.enter_context(files.open(name)), Path(name).name):
            account = entry.get("account") if isinstance(entry, dict) else None
            if isinstance(account, dict):
                return {key: str(account[key]) for key in ("accountId", "username", "accountDisplayName")
                        if isinstance(account.get(key), str)}
    return {}


_MENTIONS = re.compile(r"^(?:@\w+\s+)+")
_TAIL = re.compile(r"(?:\s*https://t\.co/\w+)*\s*$")
NOTE_WINDOW = 2  # seconds between a note's updatedAt and its tweet's created_at
ELLIPSIS = "\u2026"


def _comparable(text: str) -> str:
    """A text reduced to what a long post's tweet and its note share: no reply mentions in front,
    no t.co links of attached media behind, no ellipsis where the tweet was cut, spaces folded."""
    text = _TAIL.sub("", _MENTIONS.sub("", text))
    return " ".join(text.removesuffix(ELLIPSIS).split())


def _cut(text: str) -> bool:
    """Whether a tweet's text ends where X cut a long post (an ellipsis before any media links)."""
    return _TAIL.sub("", text).endswith(ELLIPSIS)


def _snowflake_ms(native_id: str) -> int:
    return int(native_id) >> 22  # X ids begin with their creation time in milliseconds


class _Notes:
    """The long posts of note-tweet.js. The archive does not link a note to its tweet (the
    `noteTweetId` is an id of its own, made a few milliseconds before the tweet's), so a tweet gets
    the note written within NOTE_WINDOW seconds of it whose text is the tweet's, or begins with it
    when the tweet was cut; of several such notes, the one whose id is nearest in time to the tweet's."""

    def __init__(self) -> None:
        self.by_second: dict[int, list[tuple[str, str]]] = {}

    def add(self, note_id: str, made: str, text: str) -> None:
        second = int(dt.datetime.fromisoformat(made.replace("Z", "+00:00")).timestamp())
        self.by_second.setdefault(second, []).append((note_id, text))

    def full_text(self, tweet_id: str, created: str, text: str) -> str:
        if not self.by_second:
            return text
        second = int(dt.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
        head = _comparable(text)
        if not head:
            return text
        cut = _cut(text)  # a whole short tweet is no one's beginning: "Ok" is not "Ok, here is why…"
        found = [(note_id, note) for offset in range(-NOTE_WINDOW, NOTE_WINDOW + 1)
                 for note_id, note in self.by_second.get(second + offset, ())
                 if _comparable(note) == head or (cut and _comparable(note).startswith(head))]
        if not found:
            return text
        when = _snowflake_ms(tweet_id)

        def distance(item: tuple[str, str]) -> float:
            return abs(_snowflake_ms(item[0]) - when) if numeric(item[0]) else math.inf

        return min(found, key=distance)[1]


def _notes(files: ArchiveFiles, stack: ExitStack, problems: list[str]) -> _Notes:
    notes = _Notes()
    for name in files.members.get("note-tweet", []):
        for index, entry in enumerate(iter_ytd(stack.enter_context(files.open(name)), Path(name).name)):
            note = entry.get("noteTweet") if isinstance(entry, dict) else None
            core = note.get("core") if isinstance(note, dict) else None
            created = _created(note.get("createdAt")) if isinstance(note, dict) else None
            if not isinstance(core, dict) or not isinstance(core.get("text"), str) or created is None:
                problems.append(f"{Path(name).name}: entry {index + 1}: not a note tweet with core.text and createdAt")
                continue
            # the text is the note as of `updatedAt`: only the tweet made then (the latest edit of a
            # long post) gets it; earlier versions of an edited long post keep their own text
            note_id = note.get("noteTweetId")
            made = _created(note.get("updatedAt")) or created
            notes.add(note_id if isinstance(note_id, str) else "", made, core["text"])
    return notes
