"""Hostile input for the social parsers: each real payload broken in many ways (fields missing or
of the wrong type, truncated JSON, login walls, HTML instead of JSON, error statuses). Every case
ends in a ParseError that names the URL, never another exception; through a whole run it becomes a
recorded failure."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.archive import Archive
from archiver.models import Request, Source
from archiver.platforms import ParseError, bluesky, mastodon, telegram, x
from archiver.view import ArchiveView
from tests.conftest import FIXTURES
from tests.loopback import LoopbackServer, Reply
from tests.social_loop import PathRoutes, exchange, poll, rows

DELETE = object()
LOGIN_WALL = (b"<!DOCTYPE html><html><head><title>Log in</title></head><body><form action='/login'>"
              b"<input name='password'></form></body></html>")


def mutate(document: Any, path: tuple[Any, ...], value: Any) -> bytes:
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(changed).encode()


def field_cases(document: Any, required: list[tuple[Any, ...]], wrong: tuple[Any, ...] = (DELETE, 42, [], "x")
                ) -> Iterator[tuple[str, bytes]]:
    for path in required:
        original: Any = document
        for key in path:
            original = original[key]
        for value in wrong:
            if type(value) is type(original) or (value is DELETE and isinstance(path[-1], int)):
                continue  # not broken: a string for a string, one item fewer in a list
            label = "missing" if value is DELETE else f"{type(value).__name__}"
            yield f"{'.'.join(map(str, path))}={label}", mutate(document, path, value)


def text_cases(valid: bytes) -> Iterator[tuple[str, bytes]]:
    for cut in (1, len(valid) // 3, len(valid) // 2, len(valid) - 2):
        yield f"truncated@{cut}", valid[:cut]
    yield "empty", b""
    yield "login wall html", LOGIN_WALL
    yield "binary", bytes(range(256))
    yield "json null", b"null"
    yield "json string", b'"feed"'


@pytest.fixture(scope="module")
def view(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveView]:
    path = tmp_path_factory.mktemp("hostile") / "archive.db"
    Archive(path, create=True).close()
    opened = ArchiveView(path)
    yield opened
    opened.close()


def assert_clear_failure(module: Any, source: Source, request: Request, body: bytes | None, view: ArchiveView,
                         status: int = 200, final_url: str | None = None) -> None:
    with pytest.raises(ParseError) as caught:
        module.parse(source, request, exchange(request.url, body, status, final_url=final_url), view)
    message = str(caught.value)
    assert request.url in message or "locator" in message, message
    assert "\n" not in message  # one line


# -- Bluesky ---------------------------------------------------------------------------------------

BSKY = json.loads((FIXTURES / "bluesky" / "getAuthorFeed_bsky.app_trimmed.json").read_text())
BSKY_SOURCE = Source(id="b", kind="bluesky", locator="bsky.app")
BSKY_CASES = [
    *field_cases(BSKY, [("feed",), ("feed", 0), ("feed", 0, "post"), ("feed", 1, "post", "uri"),
                        ("feed", 1, "post", "cid"), ("feed", 1, "post", "author"), ("feed", 1, "post", "author", "did"),
                        ("feed", 1, "post", "record"), ("feed", 1, "post", "record", "text"),
                        ("feed", 0, "reason", "by"), ("feed", 1, "post", "record", "reply", "parent")]),
    ("uri not at://", mutate(BSKY, ("feed", 1, "post", "uri"), "https://bsky.app/post/1")),
    ("cursor int", mutate(BSKY, ("cursor",), 7)),
    ("reply parent uri int", mutate(BSKY, ("feed", 1, "post", "record", "reply", "parent", "uri"), 3)),
    ("handle list", mutate(BSKY, ("feed", 1, "post", "author", "handle"), ["a"])),
    ("reason not object", mutate(BSKY, ("feed", 0, "reason"), "repost")),
    *text_cases(json.dumps(BSKY).encode()),
]


@pytest.mark.parametrize(("case", "body"), BSKY_CASES, ids=[c for c, _ in BSKY_CASES])
def test_bluesky_feed_breakage(case: str, body: bytes, view: ArchiveView) -> None:
    request = bluesky.plan(BSKY_SOURCE, view)[0]
    assert_clear_failure(bluesky, BSKY_SOURCE, request, body, view)


@pytest.mark.parametrize("status", [401, 403, 429, 500, 502])
def test_bluesky_error_statuses(status: int, view: ArchiveView) -> None:
    request = bluesky.plan(BSKY_SOURCE, view)[0]
    assert_clear_failure(bluesky, BSKY_SOURCE, request, b'{"error":"x"}', view, status)


# -- Mastodon --------------------------------------------------------------------------------------

MASTO = json.loads((FIXTURES / "mastodon" / "account_statuses_page1.json").read_text())["body"]
MASTO_SOURCE = Source(id="m", kind="mastodon", locator="@mastodonpy_test@localhost:3000")
MASTO_LISTING = Request("https://localhost:3000/api/v1/accounts/1/statuses?limit=40",
                        meta=(("page", 1), ("upper", None), ("mode", "window"), ("account_id", "1")))
MASTO_CASES = [
    *field_cases(MASTO, [(0,), (0, "id"), (0, "uri"), (0, "created_at"), (0, "account"), (0, "account", "id"),
                         (0, "account", "acct"), (0, "content")]),
    ("id not an id", mutate(MASTO, (0, "id"), "../abc")),  # ids are opaque, but letters and digits
    ("media not list", mutate(MASTO, (0, "media_attachments"), "x")),
    ("media element str", mutate(MASTO, (0, "media_attachments"), ["x"])),
    ("tags element int", mutate(MASTO, (0, "tags"), [1])),
    ("reblog str", mutate(MASTO, (0, "reblog"), "x")),
    ("reblog without uri", mutate(MASTO, (0, "reblog"), {"content": "<p>x</p>"})),
    ("object not list", b'{"error": "Record not found"}'),
    *text_cases(json.dumps(MASTO).encode()),
]


@pytest.mark.parametrize(("case", "body"), MASTO_CASES, ids=[c for c, _ in MASTO_CASES])
def test_mastodon_statuses_breakage(case: str, body: bytes, view: ArchiveView) -> None:
    assert_clear_failure(mastodon, MASTO_SOURCE, MASTO_LISTING, body, view)


@pytest.mark.parametrize(("case", "purpose", "body", "status"), [
    ("history not list", "history", b'{"a": 1}', 200),
    ("history empty", "history", b"[]", 200),
    ("history entry without content", "history", b'[{"created_at": "2026-01-01T00:00:00Z"}]', 200),
    ("history entry without time", "history", b'[{"content": "<p>x</p>"}]', 200),
    ("lookup without id", "lookup", b'{"acct": "x"}', 200),
    ("lookup id not an id", "lookup", b'{"id": "../../x"}', 200),
    ("lookup 404", "lookup", b'{"error":"Record not found"}', 404),
    ("closed server 401", "listing", b'{"error":"This API requires an authenticated user"}', 401),
    ("server error", "listing", b"<html>502</html>", 502),
    ("confirm 500", "confirm", b"", 500),
])
def test_mastodon_other_responses(case: str, purpose: str, body: bytes, status: int, view: ArchiveView) -> None:
    meta = {"history": (("status", json.dumps(MASTO[0])),), "confirm": (("uri", MASTO[0]["uri"]),),
            "lookup": (("step", "lookup"),)}.get(purpose, MASTO_LISTING.meta)
    request = Request("https://localhost:3000/api/v1/x", purpose="listing" if purpose == "lookup" else purpose,
                      meta=meta)
    assert_clear_failure(mastodon, MASTO_SOURCE, request, body, view, status)


# -- X ---------------------------------------------------------------------------------------------

TWARC = json.loads((FIXTURES / "twarc2" / "quoted_edit.jsonl").read_text().splitlines()[0])
XPAGE = {"data": TWARC["data"], "includes": TWARC["includes"], "meta": {"result_count": 1, "newest_id": "1"}}
X_SOURCE = Source(id="x", kind="x", locator="783214")
X_LISTING = Request("https://api.x.com/2/users/783214/tweets?max_results=100", meta=(("page", 1),
                                                                                     ("user_id", "783214")))
X_CASES = [
    *field_cases(XPAGE, [("data", 0, "id"), ("data", 0, "text")]),
    *field_cases(XPAGE, [("data",), ("data", 0), ("includes",), ("includes", "users"), ("meta",),
                         ("data", 0, "edit_history_tweet_ids"), ("data", 0, "referenced_tweets"),
                         ("data", 0, "created_at"), ("data", 0, "author_id")], wrong=(42, "x")),
    ("id not numeric", mutate(XPAGE, ("data", 0, "id"), "12a")),
    ("edit history of words", mutate(XPAGE, ("data", 0, "edit_history_tweet_ids"), ["a", "b"])),
    ("referenced id int", mutate(XPAGE, ("data", 0, "referenced_tweets"), [{"type": "quoted", "id": 5}])),
    ("referenced element str", mutate(XPAGE, ("data", 0, "referenced_tweets"), ["5"])),
    ("included tweet without id", mutate(XPAGE, ("includes", "tweets"), [{"text": "x"}])),
    ("next_token int", mutate(XPAGE, ("meta",), {"next_token": 5})),
    ("attachments str", mutate(XPAGE, ("data", 0, "attachments"), "x")),
    ("media_keys str", mutate(XPAGE, ("data", 0, "attachments"), {"media_keys": "k"})),
    ("list body", b"[]"),
    *text_cases(json.dumps(XPAGE).encode()),
]


@pytest.mark.parametrize(("case", "body"), X_CASES, ids=[c for c, _ in X_CASES])
def test_x_timeline_breakage(case: str, body: bytes, view: ArchiveView) -> None:
    assert_clear_failure(x, X_SOURCE, X_LISTING, body, view)


@pytest.mark.parametrize(("case", "purpose", "body", "status"), [
    ("token refused", "listing", b'{"title":"Unauthorized"}', 401),
    ("forbidden", "listing", b'{"title":"Forbidden"}', 403),
    ("rate limited", "listing", b"{}", 429),
    ("server error", "listing", b"", 503),
    ("user lookup without data", "lookup", b'{"errors": [{"title": "Not Found Error"}]}', 200),
    ("user id not numeric", "lookup", b'{"data": {"id": "me"}}', 200),
    ("lookup errors not a list", "confirm", b'{"errors": {"a": 1}}', 200),
    ("lookup error element str", "confirm", b'{"errors": ["gone"]}', 200),
])
def test_x_other_responses(case: str, purpose: str, body: bytes, status: int, view: ArchiveView) -> None:
    step = (("step", "lookup"),) if purpose == "lookup" else ()
    request = Request(X_LISTING.url, purpose="listing" if step else purpose,
                      meta=(*X_LISTING.meta, ("ids", ("1",)), *step))
    assert_clear_failure(x, X_SOURCE, request, body, view, status)


# -- Telegram --------------------------------------------------------------------------------------

MESSAGE = (FIXTURES / "telegram" / "message_text.html").read_text()
TG_SOURCE = Source(id="t", kind="telegram", locator="topwar_official")
TG_LISTING = Request("https://t.me/s/topwar_official", meta=(("page", 1), ("upper", None)))


def tg_page(*blocks: str) -> bytes:
    return f"<html><body><section>{''.join(blocks)}</section></body></html>".encode()


TG_CASES = [
    ("login wall", LOGIN_WALL, 200, None),
    ("empty body", b"", 200, None),
    ("binary", bytes(range(256)), 200, None),
    ("json instead of html", b'{"ok": false}', 200, None),
    ("truncated before any message", MESSAGE.encode()[:100], 200, None),
    ("redirect to the channel card", tg_page(MESSAGE), 200, "https://t.me/topwar_official"),
    ("redirect to the home page", tg_page(MESSAGE), 200, "https://telegram.org/"),
    ("redirect to a login page", LOGIN_WALL, 200, "https://t.me/login"),
    ("404", b"not found", 404, None),
    ("429", b"", 429, None),
    ("500", b"", 500, None),
    ("302 without location", b"", 302, None),
    *[(f"data-post {bad!r}", tg_page(MESSAGE.replace("topwar_official/70991", bad)), 200, None)
      for bad in ("topwar_official", "topwar_official/", "topwar_official/abc", "/70991", "topwar_official/1/2",
                  "top war/1", "topwar_official/-1", "topwar_official/1.5", "", "topwar_official/70991?x=1",
                  "<script>", "topwar_official//70991", "../70991", "topwar_official/ 70991",
                  "topwar_official/0x10", "topwar_official/1e3", "топвар/1", "topwar_official/٣")],
]


@pytest.mark.parametrize(("case", "body", "status", "final_url"), TG_CASES, ids=[c[0] for c in TG_CASES])
def test_telegram_page_breakage(case: str, body: bytes, status: int, final_url: str | None,
                                view: ArchiveView) -> None:
    assert_clear_failure(telegram, TG_SOURCE, TG_LISTING, body, view, status, final_url)


@pytest.mark.parametrize("html", [
    MESSAGE.replace('datetime="2023-02-28T08:48:01+00:00"', 'datetime="yesterday"'),
    MESSAGE.replace('<time', "<span").replace("</time>", "</span>"),
    MESSAGE.replace("tgme_widget_message_text", "something_else"),
    MESSAGE.replace("tgme_widget_message_owner_name", "x"),
    MESSAGE[: MESSAGE.index("tgme_widget_message_footer")],
])
def test_telegram_messages_missing_parts_keep_what_is_there(html: str, view: ArchiveView) -> None:
    post, = telegram.parse(TG_SOURCE, TG_LISTING, exchange(TG_LISTING.url, tg_page(html)), view).observation.posts
    assert post.native_id == "topwar_official/70991" and post.versions[0].raw


def test_telegram_confirm_page_that_is_neither_message_nor_notice(view: ArchiveView) -> None:
    request = Request("https://t.me/topwar_official/5?embed=1", purpose="confirm",
                      meta=(("native_id", "topwar_official/5"),))
    assert_clear_failure(telegram, TG_SOURCE, request, LOGIN_WALL, view)


def test_every_parser_has_at_least_30_hostile_cases() -> None:
    assert len(BSKY_CASES) + 5 >= 30
    assert len(MASTO_CASES) + 10 >= 30
    assert len(X_CASES) + 8 >= 30
    assert len(TG_CASES) + 1 >= 30


# -- through a whole run: a recorded failure, not a crash ------------------------------------------

@pytest.mark.parametrize(("kind", "locator", "path", "options"), [
    ("bluesky", "bsky.app", "/xrpc/app.bsky.feed.getAuthorFeed", "api_base"),
    ("mastodon", "@someone@example.org", "/api/v1/accounts/lookup", "api_base"),
    ("x", "783214", "/2/users/783214/tweets", "api_base"),
    ("telegram", "topwar_official", "/s/topwar_official", "base_url"),
])
def test_a_login_wall_instead_of_the_listing_is_a_recorded_failure(kind: str, locator: str, path: str,
                                                                   options: str, db_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "test-token")
    with LoopbackServer() as server:
        server.routes = PathRoutes({path: Reply(200, LOGIN_WALL, {"Content-Type": "text/html"})})
        report = poll(db_path, Source(id="s", kind=kind, locator=locator, options={options: server.base}))
    assert report.outcome == "failed"
    assert "internal error" not in (report.error or "")
    assert path in (report.error or "") or "no channel preview" in (report.error or "")
    assert rows(db_path, "SELECT outcome FROM runs") == [("failed",)]
    assert rows(db_path, "SELECT count(*) FROM captures") == [(1,)]  # the wall itself is kept as evidence


# -- imports: a broken file is a named problem or a clear failure, never a crash ---------------------

GOOD_TWEET = {"tweet": {"id_str": "1", "full_text": "fine", "created_at": "Mon Sep 05 10:00:00 +0000 2022"}}
YTD_FILES = [
    ("no prefix", "[]"), ("other assignment", "var x = [];"), ("empty", ""),
    ("prefix only", "window.YTD.tweets.part0 = "),
    ("unclosed array", "window.YTD.tweets.part0 = [" + json.dumps(GOOD_TWEET)),
    ("missing comma", "window.YTD.tweets.part0 = [" + json.dumps(GOOD_TWEET) * 2 + "]"),
    ("trailing comma", "window.YTD.tweets.part0 = [" + json.dumps(GOOD_TWEET) + ",]"),
    ("truncated object", "window.YTD.tweets.part0 = [" + json.dumps(GOOD_TWEET)[:-5]),
    ("garbage entry", "window.YTD.tweets.part0 = [tweet]"),
    ("object not array", "window.YTD.tweets.part0 = {}"),
]
BAD_ENTRIES = [1, "x", None, [], {}, {"tweet": None}, {"tweet": []}, {"tweet": {}}, {"tweet": {"id_str": 1}},
               {"tweet": {"id_str": "abc", "full_text": "x"}}, {"tweet": {"id_str": "²", "full_text": "x"}},
               {"tweet": {"id_str": "1"}}, {"tweet": {"id_str": "1", "full_text": 5}},
               {"tweet": {"id_str": "1", "full_text": "x", "edit_info": "nope"}},
               {"tweet": {"id_str": "1", "full_text": "x", "edit_info": {"initial": {"editTweetIds": [1, None]}}}},
               {"tweet": {"id_str": "1", "full_text": "x", "created_at": 5, "entities": "x",
                          "extended_entities": {"media": "x"}}}]


@pytest.mark.parametrize(("case", "text"), YTD_FILES, ids=[c for c, _ in YTD_FILES])
def test_x_archive_files_that_are_not_readable(case: str, text: str, tmp_path: Path) -> None:
    from archiver.importers.filecapture import ImportFailed
    from archiver.importers.x_archive import import_x_archive

    path = tmp_path / "tweets.js"
    path.write_text(text)
    with Archive(tmp_path / "a.db", create=True) as archive, pytest.raises(ImportFailed, match=r"^tweets\.js: "):
        import_x_archive(archive, path, progress=False)


@pytest.mark.parametrize("entry", BAD_ENTRIES, ids=[json.dumps(e)[:40] for e in BAD_ENTRIES])
def test_x_archive_entries_that_are_not_tweets(entry: Any, tmp_path: Path) -> None:
    from archiver.importers.x_archive import import_x_archive

    path = tmp_path / "tweets.js"
    path.write_text("window.YTD.tweets.part0 = " + json.dumps([GOOD_TWEET, entry]))
    with Archive(tmp_path / "a.db", create=True) as archive:
        report = import_x_archive(archive, path, progress=False)
    assert report.posts >= 1
    assert all(problem.startswith("tweets.js: entry 2: ") for problem in report.problems)
    assert rows(tmp_path / "a.db", "SELECT count(*) FROM runs WHERE outcome IS NULL") == [(0,)]


TWARC_LINES = ["{", "[]", "null", '"x"', '{"data": 5}', '{"data": [5]}', '{"data": [{"id": "1"}]}',
               '{"data": [{"id": 1, "text": "x"}]}', '{"data": [{"id": "1", "text": "x"}], "includes": []}',
               '{"data": [{"id": "1", "text": "x"}], "includes": {"users": {}}}',
               '{"data": [{"id": "1", "text": "x", "edit_history_tweet_ids": "1"}]}',
               '{"data": [{"id": "1", "text": "x", "referenced_tweets": [{"id": 2}]}]}', "\ud800", "\x00\x01"]


@pytest.mark.parametrize("line", TWARC_LINES)
def test_twarc_lines_that_are_not_pages(line: str, tmp_path: Path) -> None:
    from archiver.importers.twarc import import_twarc

    path = tmp_path / "bad.jsonl"
    path.write_bytes(line.encode("utf-8", "surrogatepass") + b"\n")  # a lone surrogate: invalid UTF-8
    with Archive(tmp_path / "a.db", create=True) as archive:
        report = import_twarc(archive, path, progress=False)
    assert report.posts == 0
    assert len(report.problems) == 1 and report.problems[0].startswith("bad.jsonl: line 1: ")
    assert rows(tmp_path / "a.db", "SELECT outcome FROM runs") == [("failed",)]
