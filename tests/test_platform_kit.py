"""The kit under archiver/platforms/: each rule in one place (HTML to text, dates, the removal window,
the post-kind ladder), no parser reaching the database, and content newly counted by an extractor
upgrade recorded as a re-reading, never as an edit."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from archiver.archive import Archive
from archiver.canonical import content_digest
from archiver.models import Observation, PostDraft, Request, Source, VersionDraft
from archiver.platforms import bluesky, mastodon, telegram
from archiver.platforms.kinds import post_kind
from archiver.platforms.memory import KnownPost
from tests.conftest import FIXTURES
from tests.social_loop import exchange

PLATFORMS = Path(__file__).resolve().parent.parent / "archiver" / "platforms"
PARSERS = [*sorted(PLATFORMS.glob("*.py")), *sorted((PLATFORMS.parent / "importers").glob("*.py"))]


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in PLATFORMS.glob("*.py")}


def test_no_platform_module_imports_the_view_or_the_database() -> None:
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("archiver.view", "archiver.database", "archiver.archive"), name
            elif isinstance(node, ast.Import):
                assert not any(a.name in ("archiver.view", "archiver.database") for a in node.names), name


def test_html_to_text_and_date_reading_are_defined_once() -> None:
    owners: dict[str, list[str]] = {}
    for name, tree in _modules().items():
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                owners.setdefault(node.name, []).append(name)
    assert owners["html_to_text"] == ["text"] and "html_text" not in owners
    assert owners["read_date"] == ["dates"] and owners["struct_time_utc"] == ["dates"]
    assert owners["main_text"] == ["statement"] and owners["parse_page"] == ["statement"]
    assert owners["follow_listing"] == ["listing"]
    # nothing else parses HTML to text or reads free-form dates by itself
    for name, tree in _modules().items():
        if name in ("text", "dates"):
            continue
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names}
        assert not imported & {"dateparser", "dateutil", "parser"}, name


def test_the_removal_window_rule_is_defined_once_and_used_by_youtube() -> None:
    from archiver.platforms.window import departed

    owners = [name for name, tree in _modules().items() for node in tree.body
              if isinstance(node, ast.FunctionDef) and node.name == "departed"]
    assert owners == ["window"]
    known = [("a", "2026-01-01"), ("b", "2026-03-01"), ("c", None), ("d", "2026-05-01")]
    assert departed(known, {"d"}, "2026-02-01", None) == ["b"]  # "a" aged out, "c" cannot be placed
    assert departed(known, {"d"}, None, None) == ["a", "b", "c"]
    assert departed([("x", 5), ("y", 9)], set(), 5, 9) == ["x"]  # [low, high)


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


def test_every_social_parser_uses_the_one_post_kind_rule() -> None:
    ladder = re.compile(r"""["'](?:repost|quote|reply)["'][ \t]+if[ \t]""")
    for path in PARSERS:
        source = path.read_text(encoding="utf-8")
        assert path.name == "kinds.py" or not ladder.search(source), f"{path.name} writes its own post-kind ladder"
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


def mastodon_status(fixture: str, view: Memory) -> list[PostDraft]:
    """One recorded status read as the newest page of a timeline."""
    status = json.loads((FIXTURES / fixture).read_text())["body"]
    request = Request("https://h.example/api/v1/accounts/1/statuses?limit=40",
                      meta=(("page", 1), ("upper", None), ("mode", "window"), ("account_id", "1")))
    src = Source(id="m", kind="mastodon", locator="@admin@h.example")
    return mastodon.parse(src, request, exchange(request.url, json.dumps([status])), view).observation.posts


def mastodon_poll(view: Memory) -> list[PostDraft]:
    return mastodon_status("mastodon/status_poll.json", view)


def mastodon_media(view: Memory) -> list[PostDraft]:
    return mastodon_status("gotosocial/status_admin_1.json", view)


def bluesky_gallery(view: Memory) -> list[PostDraft]:
    item = {"post": json.loads((FIXTURES / "bluesky" / "author_feed_item_images_facets.json").read_text())["post"]}
    src = Source(id="b", kind="bluesky", locator="avclub.com")
    request = bluesky.plan(src, view)[0]
    return bluesky.parse(src, request, exchange(request.url, json.dumps({"feed": [item]})), view).observation.posts


def telegram_links(view: Memory) -> list[PostDraft]:
    html = (FIXTURES / "telegram" / "message_link_preview.html").read_text()
    body = f'<html><body><div class="tgme_channel_info"></div>{html}</body></html>'
    src = Source(id="t", kind="telegram", locator="oper_goblin")
    request = telegram.plan(src, view)[0]
    return telegram.parse(src, request, exchange(request.url, body), view).observation.posts


def parsed_post(read: Any, view: Memory) -> PostDraft:
    post, = read(view)
    return post


@pytest.mark.parametrize(("read", "added", "before"), [
    (mastodon_poll, ("poll",), "2"),
    (mastodon_media, ("media",), "3"),
    (bluesky_gallery, ("images", "links"), "1"),
    (telegram_links, ("links",), "2"),
])
def test_content_newly_counted_is_a_re_reading_of_an_archived_post_never_an_edit(
        read: Any, added: tuple[str, ...], before: str, tmp_path: Path) -> None:
    post = parsed_post(read, Memory())
    version = post.versions[0]
    assert all(key in version.extra for key in added)
    old = PostDraft(**{**post.__dict__, "extractor_version": before,
                       "versions": [VersionDraft(text=version.text, title=version.title, raw=version.raw,
                                                 extra={k: v for k, v in version.extra.items() if k not in added})]})
    with Archive(tmp_path / "a.db", create=True) as archive:
        archive.record(exchange("https://h.example/page", b"page"), Observation(posts=[old]))
        result = archive.record(exchange("https://h.example/page", b"page"), Observation(posts=[post]))
        assert (result.edited, result.reextracted) == (0, 1)  # a version, but no edit on a public page
        stored, = archive.conn.execute("SELECT extra FROM versions ORDER BY id DESC LIMIT 1").fetchone()
    assert all(key in json.loads(stored) for key in added)


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


def test_an_edit_history_keeps_the_reading_of_each_earlier_extractor(tmp_path: Path) -> None:
    """A status with an image archived by extractor 3 (media not yet content), then its alt text edited:
    the held version keeps extractor 3's reading, the edit carries the media. And a poll status held as
    extractor 3 read it (the poll counted) keeps that reading."""
    status = json.loads((FIXTURES / "gotosocial" / "status_admin_1.json").read_text())["body"]
    relabelled = [{**status["media_attachments"][0], "description": "A sign"}]
    history = [{"content": status["content"], "created_at": status["created_at"],
                "media_attachments": status["media_attachments"]},
               {"content": status["content"], "created_at": "2026-08-02T10:00:00.000Z",
                "media_attachments": relabelled}]
    edited = {**status, "media_attachments": relabelled, "edited_at": "2026-08-02T10:00:00.000Z"}
    src = Source(id="m", kind="mastodon", locator="@admin@h.example")
    request = Request(f"https://h.example/api/v1/statuses/{status['id']}/history", purpose="history",
                      meta=(("status", json.dumps(edited)),))
    text = mastodon.parse(src, request, exchange(request.url, json.dumps(history)), Memory()).observation.posts[
        0].versions[0].text
    held = KnownPost(platform="mastodon", native_id=status["uri"], url=None, status="live",
                     content_sha256=content_digest(None, text, {}), last_seen_at="")
    post, = mastodon.parse(src, request, exchange(request.url, json.dumps(history)), Memory(held)).observation.posts
    assert [v.extra for v in post.versions] == [{}, {"media": [{"id": "01F8MH6NEM8D7527KZAECTCR76", "alt": "A sign"}]}]
    first = PostDraft(**{**post.__dict__, "extractor_version": "3", "versions": [
        VersionDraft(text=text, raw="{}", claimed_at=post.versions[0].claimed_at)]})
    with Archive(tmp_path / "a.db", create=True) as archive:
        archive.record(exchange("https://h.example/page", b"page"), Observation(posts=[first]))
        result = archive.record(exchange(request.url, b"history"), Observation(posts=[post]))
    assert (result.edited, result.reextracted) == (1, 0)  # the alt text's edit, at its own time

    poll_status = json.loads((FIXTURES / "mastodon" / "status_poll.json").read_text())["body"]
    poll_history = [{"content": poll_status["content"], "created_at": poll_status["created_at"],
                     "poll": poll_status["poll"]},
                    {"content": "<p>nice, edited</p>", "created_at": "2022-12-01T19:50:00.000Z",
                     "poll": poll_status["poll"]}]
    options = {"poll": ["four twenty", "sixty-nine"]}
    held_v3 = KnownPost(platform="mastodon", native_id=poll_status["uri"], url=None, status="live",
                        content_sha256=content_digest(None, "nice", options), last_seen_at="")
    poll_request = Request("https://h.example/api/v1/statuses/1/history", purpose="history",
                           meta=(("status", json.dumps({**poll_status, "content": "<p>nice, edited</p>"})),))
    post, = mastodon.parse(src, poll_request, exchange(poll_request.url, json.dumps(poll_history)),
                           Memory(held_v3)).observation.posts
    assert [v.extra for v in post.versions] == [options, options]


def test_an_upgraded_text_library_reads_anew_and_what_it_changes_is_never_an_edit(tmp_path: Path) -> None:
    """A page archived when trafilatura (or lxml) was another version: the extractor's version names the
    libraries' versions, so a text the upgrade reads differently is `reextracted`; the same text is no
    new version at all."""
    from archiver.platforms import read_with, statement
    from tests.official_fixtures import statement_page

    version = statement.EXTRACTOR_VERSION
    assert version == read_with("7", "trafilatura", "lxml") and "+trafilatura-" in version and "+lxml-" in version
    url = "https://ministry.example/en/statements/s"
    post = statement.statement_post(Source(id="m", kind="webpage", locator="https://ministry.example/en/statements"),
                                    statement.read_page(url, statement_page("S").decode()), raw=None,
                                    fallback_title=None, fallback_date=(None, None))
    older = "5+trafilatura-1.12.2+lxml-5.3.0"
    as_read = PostDraft(**{**post.__dict__, "extractor_version": older, "versions": [
        VersionDraft(text=post.versions[0].text.replace("the State's", "the States"))]})
    same = PostDraft(**{**post.__dict__, "native_id": url + "-2", "extractor_version": older})
    with Archive(tmp_path / "a.db", create=True) as archive:
        archive.record(exchange(url, b"page"), Observation(posts=[as_read, same]))
        again = PostDraft(**{**post.__dict__, "native_id": url + "-2"})
        result = archive.record(exchange(url, b"page"), Observation(posts=[post, again]))
    assert (result.new, result.edited, result.reextracted) == (0, 0, 1)


def test_a_library_without_distribution_metadata_still_names_a_version() -> None:
    import json as stdlib_json

    from archiver.platforms import _installed

    assert _installed("json") == stdlib_json.__version__  # no distribution: the module's own version
    assert _installed("textwrap") == "unknown"  # nor that: named unknown, never an import failure


def test_every_extractor_reading_text_by_the_shared_rule_names_its_version() -> None:
    """The HTML-to-text rule is one rule of several extractors: a change of it reads the same bytes
    differently for each, so each extractor's version carries the rule's (`+text-2`)."""
    from archiver.platforms import feed, mastodon, telegram, text, un_communications

    readers = {module.__name__: module.EXTRACTOR_VERSION for module in (feed, mastodon, telegram, un_communications)}
    assert all(version.endswith(f"+text-{text.RULE}") for version in readers.values()), readers
    for name, tree in _modules().items():  # and no other extractor reads text by it unnamed
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module == "archiver.platforms.text" for alias in node.names}
        if imported & {"html_to_text", "node_text"} and name not in ("text", "feedtree", "webpage"):
            assert f"archiver.platforms.{name}" in readers, name
