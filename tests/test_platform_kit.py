"""The platforms kit: the post-kind rule defined once and used by every social parser, no parser
reading the archive other than through `ArchiveMemory`, and content newly counted by an extractor
upgrade never turning an archived, unchanged post into an "edited" one."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from archiver.canonical import content_digest
from archiver.models import PostDraft, Request, Source, VersionDraft
from archiver.platforms import bluesky, mastodon, telegram
from archiver.platforms.kinds import post_kind
from archiver.platforms.memory import KnownPost
from tests.conftest import FIXTURES
from tests.social_loop import exchange

PACKAGE = Path(__file__).resolve().parent.parent / "archiver"
PARSERS = [*sorted((PACKAGE / "platforms").glob("*.py")), *sorted((PACKAGE / "importers").glob("*.py"))]


def draft(**links: str) -> PostDraft:
    return PostDraft(platform="p", native_id="1", versions=[VersionDraft(text="t")], **links)


@pytest.mark.parametrize(("links", "reposted", "kind"), [
    ({}, False, "post"),
    ({"reply_to": "a"}, False, "reply"),
    ({"quote_of": "q", "reply_to": "a"}, False, "quote"),  # a reply that quotes is a quote everywhere
    ({"repost_of": "r", "quote_of": "q"}, False, "repost"),
    ({"reply_to": "a"}, True, "repost"),  # an archive's `RT @…` names no original
])
def test_the_post_kind_ladder(links: dict[str, str], reposted: bool, kind: str) -> None:
    assert post_kind(draft(**links), reposted=reposted) == kind


def test_every_parser_uses_the_one_rule_and_none_reads_the_archive_directly() -> None:
    ladder = re.compile(r"""["'](?:repost|quote|reply)["'][ \t]+if[ \t]""")
    reads_archive = re.compile(r"^\s*(?:from|import)\s+(?:archiver\.view|archiver\.database|sqlite3)\b", re.M)
    for path in PARSERS:
        source = path.read_text(encoding="utf-8")
        assert path.name == "kinds.py" or not ladder.search(source), f"{path.name} writes its own post-kind ladder"
        if path.parent.name == "platforms":
            assert not reads_archive.search(source), f"{path.name} reads the archive directly"
    users = {path.name for path in PARSERS if "post_kind(" in path.read_text(encoding="utf-8")}
    assert users >= {"bluesky.py", "mastodon.py", "telegram.py", "x.py", "x_archive.py"}


class Memory:
    """What a parser may know about the archive: here, one known post and nothing else."""

    def __init__(self, known: KnownPost | None = None) -> None:
        self.known = known

    def state(self, source_id: str, key: str) -> str | None:
        return None

    def validators(self, url: str) -> None:
        return None

    def post(self, platform: str, native_id: str) -> KnownPost | None:
        return self.known if self.known and self.known.native_id == native_id else None

    def posts_of_source(self, source_id: str, statuses: tuple[str, ...] = ("live",)) -> list[KnownPost]:
        return [self.known] if self.known else []


def mastodon_poll(view: Memory) -> VersionDraft:
    status = json.loads((FIXTURES / "mastodon" / "status_poll.json").read_text())["body"]
    request = Request("https://h.example/api/v1/accounts/1/statuses?limit=40",
                      meta=(("page", 1), ("upper", None), ("mode", "window"), ("account_id", "1")))
    src = Source(id="m", kind="mastodon", locator="@admin@h.example")
    post, = mastodon.parse(src, request, exchange(request.url, json.dumps([status])), view).observation.posts
    return post.versions[0]


def bluesky_gallery(view: Memory) -> VersionDraft:
    item = {"post": json.loads((FIXTURES / "bluesky" / "author_feed_item_images_facets.json").read_text())["post"]}
    src = Source(id="b", kind="bluesky", locator="avclub.com")
    request = bluesky.plan(src, view)[0]
    post, = bluesky.parse(src, request, exchange(request.url, json.dumps({"feed": [item]})), view).observation.posts
    return post.versions[0]


def telegram_links(view: Memory) -> VersionDraft:
    html = (FIXTURES / "telegram" / "message_link_preview.html").read_text()
    body = f'<html><body><div class="tgme_channel_info"></div>{html}</body></html>'
    src = Source(id="t", kind="telegram", locator="oper_goblin")
    request = telegram.plan(src, view)[0]
    post, = telegram.parse(src, request, exchange(request.url, body), view).observation.posts
    return post.versions[0]


@pytest.mark.parametrize(("read", "native_id", "added"), [
    (mastodon_poll, "http://localhost:3000/users/admin/statuses/109440145884097283", ("poll",)),
    (bluesky_gallery, "at://did:plc:kwxpje5qog6wwndagwbssatp/app.bsky.feed.post/3mviutosqmk2t", ("images", "links")),
    (telegram_links, "oper_goblin/22360", ("links",)),
])
def test_content_newly_counted_does_not_make_an_archived_post_look_edited(read: Any, native_id: str,
                                                                           added: tuple[str, ...]) -> None:
    fresh = read(Memory())
    assert all(key in fresh.extra for key in added)  # a post new to the archive gets the full reading
    earlier = {key: value for key, value in fresh.extra.items() if key not in added}
    archived_before = KnownPost(platform="p", native_id=native_id, url=None, status="live",
                                content_sha256=content_digest(fresh.title, fresh.text, earlier), last_seen_at="")
    assert read(Memory(archived_before)).extra == earlier  # the archive's reading stands: no false edit
    changed = KnownPost(platform="p", native_id=native_id, url=None, status="live",
                        content_sha256=content_digest(None, "something else", earlier), last_seen_at="")
    assert read(Memory(changed)).extra == fresh.extra  # a real change carries the new content


def test_an_edit_history_keeps_the_archived_reading_of_the_versions_already_held() -> None:
    """A poll status archived before polls counted, then edited: its /history gives both versions with
    the poll. The version the archive holds keeps its reading; only the edit carries the poll."""
    status = json.loads((FIXTURES / "mastodon" / "status_poll.json").read_text())["body"]
    history = [{"content": status["content"], "created_at": status["created_at"], "poll": status["poll"]},
               {"content": "<p>nice, edited</p>", "created_at": "2022-12-01T19:50:00.000Z", "poll": status["poll"]}]
    edited = {**status, "content": "<p>nice, edited</p>", "edited_at": "2022-12-01T19:50:00.000Z"}
    src = Source(id="m", kind="mastodon", locator="@admin@h.example")
    request = Request("https://h.example/api/v1/statuses/109440145884097283/history", purpose="history",
                      meta=(("status", json.dumps(edited)),))
    held = KnownPost(platform="mastodon", native_id=status["uri"], url=None, status="live",
                     content_sha256=content_digest(None, "nice", {}), last_seen_at="")
    post, = mastodon.parse(src, request, exchange(request.url, json.dumps(history)), Memory(held)).observation.posts
    assert [(v.text, v.extra) for v in post.versions] == [
        ("nice", {}), ("nice, edited", {"poll": ["four twenty", "sixty-nine"]})]
    fresh, = mastodon.parse(src, request, exchange(request.url, json.dumps(history)), Memory()).observation.posts
    assert [v.extra for v in fresh.versions] == [{"poll": ["four twenty", "sixty-nine"]}] * 2
