"""Mastodon: the recorded API responses served on loopback, polled twice through the fetch layer
while one status is edited (every version recorded from /history) and one deleted (404)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from archiver.canonical import content_digest
from archiver.models import Request, Source
from archiver.platforms import ParseError, mastodon
from archiver.view import ArchiveView
from tests.conftest import FIXTURES
from tests.loopback import LoopbackServer, Reply
from tests.social_loop import PathRoutes, events, exchange, poll, rows


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "mastodon" / f"{name}.json").read_text())


PAGE1, PAGE2 = fixture("account_statuses_page1"), fixture("account_statuses_page2_max_id")
ACCOUNT = fixture("accounts_lookup")["body"]["id"]
TOOT9, TOOT8 = PAGE1["body"][0], PAGE1["body"][1]
STATUSES = f"/api/v1/accounts/{ACCOUNT}/statuses"


def source(api: str, **options: Any) -> Source:
    return Source(id="masto", kind="mastodon", locator="@mastodonpy_test@localhost:3000",
                  options={"api_base": api, **options})


def json_reply(body: Any, status: int = 200, link: str | None = None) -> Reply:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if link:
        headers["Link"] = link
    return Reply(status, json.dumps(body).encode(), headers)


def test_two_polls_record_statuses_every_edit_version_and_a_confirmed_deletion(db_path: Path) -> None:
    page1 = copy.deepcopy(PAGE1["body"])
    edited = copy.deepcopy(TOOT9)
    edited.update(content="<p>Toot number 9, <b>edited</b>!</p>", edited_at="2026-08-01T14:00:00.000Z")
    history = [{"content": TOOT9["content"], "spoiler_text": "", "sensitive": True,
                "created_at": TOOT9["created_at"], "account": TOOT9["account"], "media_attachments": [],
                "emojis": []},
               {"content": edited["content"], "spoiler_text": "", "sensitive": True,
                "created_at": edited["edited_at"], "account": TOOT9["account"], "media_attachments": [],
                "emojis": []}]
    asked: list[str] = []

    def statuses(query: dict[str, Any], _: Any) -> Reply:
        asked.append(json.dumps(query, sort_keys=True))
        if "min_id" in query:
            return json_reply([])
        if "max_id" not in query:
            return json_reply(page1, link=PAGE1["_provenance"]["headers"]["link"])
        if query["max_id"] == PAGE1["body"][-1]["id"]:
            return json_reply(PAGE2["body"], link=PAGE2["_provenance"]["headers"]["link"])
        return json_reply([])

    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/api/v1/accounts/lookup": lambda q, h: json_reply(fixture("accounts_lookup")["body"]),
            STATUSES: statuses,
            f"/api/v1/statuses/{TOOT9['id']}/history": lambda q, h: json_reply(history),
            f"/api/v1/statuses/{TOOT8['id']}": lambda q, h: json_reply(fixture("status_404")["body"], 404),
            f"/api/v1/accounts/{ACCOUNT}": lambda q, h: json_reply(fixture("accounts_lookup")["body"]),
        })
        first = poll(db_path, source(server.base))
        assert (first.outcome, first.new) == ("ok", 10)
        page1[0] = edited
        del page1[1]
        second = poll(db_path, source(server.base))
    assert (second.outcome, second.edited, second.deleted) == ("ok", 1, 1), second.problems
    assert json.dumps({"limit": "40", "min_id": TOOT9["id"]}, sort_keys=True) in asked  # incremental poll
    posts = {row[0]: row[1:] for row in rows(
        db_path, "SELECT native_id, kind, status, author_id, author_handle, author_name, version_count, text, "
                 "published_at FROM posts")}
    assert len(posts) == 10
    toot9 = posts[TOOT9["uri"]]
    assert toot9 == ("post", "live", ACCOUNT, "mastodonpy_test", "John Lennon", 2, "Toot number 9, edited!",
                     "2026-08-01T13:52:34.108000Z")
    assert posts[TOOT8["uri"]][1] == "deleted"
    assert events(db_path, TOOT9["uri"]) == ["first_seen", "edited"]
    assert events(db_path, TOOT8["uri"]) == ["first_seen", "deleted"]
    versions = rows(db_path, "SELECT v.number, v.text, v.claimed_at FROM versions v JOIN posts p ON p.id = v.post_id "
                             "WHERE p.native_id = ? ORDER BY v.number", TOOT9["uri"])
    assert versions == [(1, "Toot number 9!", "2026-08-01T13:52:34.108000Z"),
                        (2, "Toot number 9, edited!", "2026-08-01T14:00:00.000000Z")]
    assert rows(db_path, "SELECT key, value FROM source_state WHERE source_id = 'masto' ORDER BY key") == [
        ("account_id", ACCOUNT), ("newest_id", TOOT9["id"])]


def suspended(account: dict[str, Any]) -> dict[str, Any]:
    """The account as Mastodon's REST::AccountSerializer shows it while it is suspended ("unavailable"):
    profile blanked, `suspended: true`."""
    return {**account, "display_name": "", "note": "", "fields": [], "emojis": [], "locked": False,
            "suspended": True}


def test_a_suspended_account_makes_its_statuses_missing_not_deleted(db_path: Path) -> None:
    """Mastodon answers a suspended account's timeline with [] and each of its statuses with 404 (the
    status policy refuses a suspended author), exactly as for deleted ones; it keeps them, and shows
    them again when the suspension is lifted."""
    lookup = fixture("accounts_lookup")["body"]
    state = {"suspended": False}

    def statuses(query: dict[str, Any], _: Any) -> Reply:
        if state["suspended"] or "min_id" in query:
            return json_reply([])
        return json_reply(PAGE1["body"])

    def gone_status(query: dict[str, Any], _: Any) -> Reply:
        return json_reply(fixture("status_404")["body"], 404)

    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/api/v1/accounts/lookup": lambda q, h: json_reply(lookup),
            f"/api/v1/accounts/{ACCOUNT}": lambda q, h: json_reply(suspended(lookup) if state["suspended"]
                                                                   else lookup),
            STATUSES: statuses,
            **{f"/api/v1/statuses/{status['id']}": gone_status for status in PAGE1["body"]},
        })
        first = poll(db_path, source(server.base))
        state["suspended"] = True
        second = poll(db_path, source(server.base))
        asked_statuses = server.hits("/api/v1/statuses/")
        state["suspended"] = False
        third = poll(db_path, source(server.base))
    assert (first.new, second.deleted, second.outcome) == (len(PAGE1["body"]), 0, "ok"), second.problems
    assert asked_statuses == []  # the account's answer settles it: no status is asked about
    assert rows(db_path, "SELECT DISTINCT e.type, json_extract(e.details, '$.reason'), c.requested_url FROM events e "
                         "JOIN captures c ON c.id = e.capture_id WHERE e.type NOT IN ('first_seen')") == [
        ("missing", "the account is suspended (GET /api/v1/accounts says so): the server withholds its "
                    "statuses, deleted or not", f"{server.base}/api/v1/accounts/{ACCOUNT}"),
        ("restored", None, f"{server.base}{STATUSES}?limit=40")]
    assert third.outcome == "ok" and rows(db_path, "SELECT DISTINCT status FROM posts") == [("live",)]


def test_a_third_poll_does_not_fetch_history_again(db_path: Path) -> None:
    edited = copy.deepcopy(TOOT9)
    edited.update(content="<p>changed</p>", edited_at="2026-08-01T14:00:00.000Z")
    history = [{"content": TOOT9["content"], "created_at": TOOT9["created_at"]},
               {"content": "<p>changed</p>", "created_at": "2026-08-01T14:00:00.000Z"}]
    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/api/v1/accounts/lookup": lambda q, h: json_reply(fixture("accounts_lookup")["body"]),
            STATUSES: lambda q, h: json_reply([] if "min_id" in q else [edited]),
            f"/api/v1/statuses/{TOOT9['id']}/history": lambda q, h: json_reply(history)})
        poll(db_path, source(server.base))
        poll(db_path, source(server.base))
        assert len(server.hits(f"/api/v1/statuses/{TOOT9['id']}/history")) == 1
    assert rows(db_path, "SELECT count(*) FROM versions") == [(2,)]



def test_recorded_history_gives_every_version_with_its_own_time(view: ArchiveView) -> None:
    status = fixture("status_edited")["body"]
    history = fixture("status_history")["body"]
    src = Source(id="m2", kind="mastodon", locator="@mastodonpy_test_2@localhost:3000")
    request = Request(f"https://localhost:3000/api/v1/statuses/{status['id']}/history", purpose="history",
                      meta=(("status", json.dumps(status)),))
    post, = mastodon.parse(src, request, exchange(request.url, json.dumps(history)), view).observation.posts
    assert post.native_id == status["uri"]
    assert [v.text for v in post.versions] == ["the best editor? why, of course it is VS Code",
                                               "the best editor? why, of course it is the KDE Advanced Text "
                                               "Editor, Kate"]
    assert [v.claimed_at for v in post.versions] == ["2026-08-01T13:54:00.505000Z", "2026-08-01T13:54:00.695000Z"]
    assert post.language == "ja"


def test_closed_servers_and_unknown_accounts_are_reported_clearly(view: ArchiveView) -> None:
    src = source("https://closed.example")
    lookup = mastodon.plan(src, view)[0]
    assert lookup.url == "https://closed.example/api/v1/accounts/lookup?acct=mastodonpy_test"
    with pytest.raises(ParseError, match="refuses logged-out API access"):
        mastodon.parse(src, lookup, exchange(lookup.url, '{"error":"This API requires an authenticated user"}',
                                             401), view)
    with pytest.raises(ParseError, match="no account @mastodonpy_test@localhost:3000"):
        mastodon.parse(src, lookup, exchange(lookup.url, json.dumps(fixture("accounts_lookup_404")["body"]), 404),
                       view)


def test_reblogs_are_reposts_of_the_original(view: ArchiveView) -> None:
    """Mastodon's reblog: its `uri` is its own, `…/statuses/<its id>/activity` (ActivityPub::TagManager
    `uri_for` a reblog), and stays the reblog's identity."""
    reblog = copy.deepcopy(TOOT8)
    reblog.update(id="117020580599999999", uri=TOOT8["uri"].replace(TOOT8["id"], "117020580599999999") + "/activity",
                  reblog=copy.deepcopy(TOOT9), content="")
    reblog["url"] = reblog["uri"]
    request = Request(f"https://h.example{STATUSES}?limit=40", meta=(("page", 1), ("upper", None),
                                                                     ("mode", "window"), ("account_id", ACCOUNT)))
    post, = mastodon.parse(source("https://h.example"), request, exchange(request.url, json.dumps([reblog])),
                           view).observation.posts
    assert (post.kind, post.repost_of, post.versions[0].text) == ("repost", TOOT9["uri"], "Toot number 9!")
    assert post.native_id == reblog["uri"]
    assert mastodon._local_id(post.native_id, post.url) == "117020580599999999"


# Pleroma and Akkoma, lib/pleroma/web/mastodon_api/views/status_view.ex (external-mirrors/akkoma @ 06589d9c):
# render("show.json") of a status: `id: to_string(activity.id)` (the server's flake id), `uri: object.data["id"]`,
# `url: url(~p[/notice/#{activity}])` for a local author, else `object.data["url"] || … || object.data["id"]`;
# render("show.json") of an Announce: `id: to_string(activity.id)`, `uri: object.data["id"]`,
# `url: object.data["id"]` (object = the announced Note), `reblog: reblogged`, `content: ""`,
# `created_at: activity.data["published"]`, `in_reply_to_id: nil`, `media_attachments`/`tags` the reblogged's.
PLEROMA = "https://pleroma.example"
PL_FOREIGN_ID, PL_OWN_ID = "AcbJ0bX4fN8kT1wQ6e", "AcbJ3lZ7rQ0hV2mN4K"  # this server's ids of the two statuses
PL_BOOST_FOREIGN_ID, PL_SELF_BOOST_ID = "AcbK0pT9xW1yE5sD8F", "AcbK9uC2gH6jL7qR3M"  # and of the two reblogs


def pleroma_status(status: dict[str, Any], flake_id: str, local: bool) -> dict[str, Any]:
    """A real status as Pleroma's status view renders it: this server's flake id; a local author's
    status has its object id as `uri` and its `/notice/<id>` page as `url`, a remote one keeps its own
    uri and url, its author's `acct` qualified by its server."""
    rendered = {**copy.deepcopy(status), "id": flake_id,
                "pleroma": {"local": local, "pinned_at": None}, "akkoma": {"source": None}}
    if local:
        rendered.update(uri=f"{PLEROMA}/objects/5b2d7c6e-9f3a-4c1b-8e2d-0a6f4b3c9d71",
                        url=f"{PLEROMA}/notice/{flake_id}")
    else:
        account = rendered["account"]
        account["acct"] = f"{account['username']}@{urlsplit(rendered['uri']).netloc}"
    return rendered


def pleroma_announce(reblogged: dict[str, Any], flake_id: str, at: str, by: dict[str, Any]) -> dict[str, Any]:
    """The reblog (Announce) as that view renders it: `uri` and `url` are the announced object's id."""
    return {"id": flake_id, "uri": reblogged["uri"], "url": reblogged["uri"], "account": by,
            "in_reply_to_id": None, "in_reply_to_account_id": None, "reblog": reblogged, "content": "",
            "created_at": at, "reblogs_count": 0, "replies_count": 0, "favourites_count": 0,
            "reblogged": False, "favourited": False, "bookmarked": False, "muted": False, "pinned": False,
            "sensitive": False, "spoiler_text": "", "visibility": "public",
            "media_attachments": reblogged["media_attachments"], "mentions": [], "tags": reblogged["tags"],
            "application": None, "language": reblogged["language"], "emojis": [],
            "pleroma": {"local": True, "pinned_at": None}}


def pleroma_timeline() -> list[dict[str, Any]]:
    """An account's newest statuses on Pleroma, newest first: a boost of its own status (Mastodon.py's
    recorded toot 8, re-rendered as the account's local status), a boost of a status on another server
    (the recorded toot 9 of the Mastodon server at localhost:3000, as Pleroma renders a remote Note),
    and the own status itself."""
    own = pleroma_status(TOOT8, PL_OWN_ID, local=True)
    foreign = pleroma_status(TOOT9, PL_FOREIGN_ID, local=False)
    return [pleroma_announce(own, PL_SELF_BOOST_ID, "2026-08-03T09:00:00.000Z", TOOT8["account"]),
            pleroma_announce(foreign, PL_BOOST_FOREIGN_ID, "2026-08-02T09:00:00.000Z", TOOT8["account"]),
            own]


def test_pleroma_reblogs_are_keyed_apart_from_what_they_reblog(view: ArchiveView) -> None:
    """Pleroma/Akkoma give a reblog the reblogged status's `uri` (see the view's lines above): a
    self-boost is its own post beside the status it boosts, which keeps its kind and date, and every
    reblog is asked about by the reblog's own id on this server, never by an id read from another
    server's URI."""
    timeline = pleroma_timeline()
    own = timeline[2]
    request = Request(f"{PLEROMA}{STATUSES}?limit=40", meta=(("page", 1), ("upper", None),
                                                             ("mode", "window"), ("account_id", ACCOUNT)))
    posts = mastodon.parse(source(PLEROMA), request, exchange(request.url, json.dumps(timeline)),
                           view).observation.posts
    read = [(p.native_id, p.kind, p.repost_of, p.published_at, p.versions[0].text) for p in posts]
    assert read == [
        (f"{own['uri']}#reblog-by-{PL_SELF_BOOST_ID}", "repost", own["uri"], "2026-08-03T09:00:00.000000Z",
         "Toot number 8!"),
        (f"{TOOT9['uri']}#reblog-by-{PL_BOOST_FOREIGN_ID}", "repost", TOOT9["uri"],
         "2026-08-02T09:00:00.000000Z", "Toot number 9!"),
        (own["uri"], "post", None, "2026-08-01T13:52:33.996000Z", "Toot number 8!")]
    assert [mastodon._local_id(p.native_id, p.url) for p in posts] == [
        PL_SELF_BOOST_ID, PL_BOOST_FOREIGN_ID, PL_OWN_ID]
    # a reblog recorded under the reblogged status's URI before this rule has no id here: never asked about
    assert mastodon._local_id(TOOT9["uri"], TOOT9["uri"]) is None


def test_pleroma_reblogs_over_loopback_are_two_posts_and_never_deleted(db_path: Path) -> None:
    """Two polls of a Pleroma-shaped server (the payloads above) into SQLite: the self-boost and its
    status are two posts, the status with its own date and kind; the boost of the Mastodon server's
    status (whose id there, all digits, sorts below this server's flake ids, so that a reblog placed by
    it would be taken for one the window no longer shows) is never thought gone, and no status is
    looked up."""
    timeline = pleroma_timeline()
    link = (f'<{PLEROMA}{STATUSES}?max_id={PL_OWN_ID}>; rel="next", '
            f'<{PLEROMA}{STATUSES}?min_id={PL_SELF_BOOST_ID}>; rel="prev"')

    def statuses(query: dict[str, Any], _: Any) -> Reply:
        if "min_id" in query or "max_id" in query:
            return json_reply([])  # Pleroma: nothing newer, nothing older, and no Link
        return json_reply(timeline, link=link)

    pleroma_404 = json_reply({"error": "Record not found"}, 404)
    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/api/v1/accounts/lookup": lambda q, h: json_reply(fixture("accounts_lookup")["body"]),
            f"/api/v1/accounts/{ACCOUNT}": lambda q, h: json_reply(fixture("accounts_lookup")["body"]),
            STATUSES: statuses,
            **{f"/api/v1/statuses/{status_id}": pleroma_404
               for status_id in (TOOT9["id"], TOOT8["id"], PL_FOREIGN_ID, PL_OWN_ID)},
        })
        first = poll(db_path, source(server.base))
        second = poll(db_path, source(server.base))
        looked_up = server.hits("/api/v1/statuses/")
    for report in (first, second):
        assert (report.outcome, report.deleted, report.missing) == ("ok", 0, 0), report.problems
    assert first.new == 3 and looked_up == []
    own_uri = timeline[2]["uri"]
    posts = rows(db_path, "SELECT native_id, kind, repost_of, published_at, status, text FROM posts ORDER BY native_id")
    assert posts == [
        (f"{TOOT9['uri']}#reblog-by-{PL_BOOST_FOREIGN_ID}", "repost", TOOT9["uri"], "2026-08-02T09:00:00.000000Z",
         "live", "Toot number 9!"),
        (own_uri, "post", None, "2026-08-01T13:52:33.996000Z", "live", "Toot number 8!"),
        (f"{own_uri}#reblog-by-{PL_SELF_BOOST_ID}", "repost", own_uri, "2026-08-03T09:00:00.000000Z", "live",
         "Toot number 8!")]
    assert rows(db_path, "SELECT DISTINCT type FROM events") == [("first_seen",)]


def test_locators_and_options() -> None:
    assert mastodon.account(Source(id="a", kind="mastodon", locator="https://mastodon.social/@Gargron")) == (
        "Gargron", "https://mastodon.social")
    with pytest.raises(ParseError, match="use @user@server"):
        mastodon.account(Source(id="a", kind="mastodon", locator="gargron"))


def gotosocial(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "gotosocial" / f"{name}.json").read_text())


GTS_NEW, GTS_OLD = gotosocial("status_admin_5")["body"], gotosocial("status_admin_1")["body"]
GTS_ACCOUNT = GTS_OLD["account"]
GTS_LINK = gotosocial("admin_statuses_link")["_provenance"]["headers"]["link"]


def test_a_gotosocial_account_with_ulid_ids_is_archived_end_to_end(db_path: Path) -> None:
    """GoToSocial's own API responses (ULID ids, its Link header) replayed on loopback: lookup, the
    statuses window and its next page, then a second poll where the newest status is gone and
    `GET /api/v1/statuses/:id` answers 404."""
    page = [GTS_NEW, GTS_OLD]
    asked: list[dict[str, Any]] = []

    def statuses(query: dict[str, Any], _: Any) -> Reply:
        asked.append(query)
        if "min_id" in query or query.get("max_id") == GTS_OLD["id"]:
            return json_reply([])  # nothing newer; nothing older than the oldest status
        newest = page[0]["id"]
        return json_reply(page, link=GTS_LINK.replace(GTS_NEW["id"], newest))

    gts = Source(id="gts", kind="mastodon", locator="@admin@localhost:8080")
    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/api/v1/accounts/lookup": lambda q, h: json_reply(GTS_ACCOUNT),
            f"/api/v1/accounts/{GTS_ACCOUNT['id']}/statuses": statuses,
            f"/api/v1/statuses/{GTS_NEW['id']}": lambda q, h: json_reply(fixture("status_404")["body"], 404),
        })
        gts.options["api_base"] = server.base
        first = poll(db_path, gts)
        assert (first.outcome, first.new) == ("ok", 2), first.problems
        assert {"limit": "40", "max_id": GTS_OLD["id"]} in asked  # the next page, from the Link header
        del page[0]
        second = poll(db_path, gts)
    assert (second.outcome, second.deleted) == ("ok", 1), second.problems
    assert {"limit": "40", "min_id": GTS_NEW["id"]} in asked  # incremental poll from the newest ULID
    posts = {row[0]: row[1:] for row in rows(
        db_path, "SELECT native_id, kind, status, author_id, author_handle, text, reply_to, media, tags FROM posts")}
    assert set(posts) == {GTS_NEW["uri"], GTS_OLD["uri"]}
    new, old = posts[GTS_NEW["uri"]], posts[GTS_OLD["uri"]]
    assert new[:4] == ("reply", "deleted", "01F8MH17FWEB39HZJ76B6VXSKF", "admin")
    assert new[4].startswith("Hi @1happyturtle, can I reply?")
    assert new[5] == f"{server.base}/api/v1/statuses/01F8MHC8VWDRBQR0N1BATDDEM5"
    assert old[:5] == ("post", "live", "01F8MH17FWEB39HZJ76B6VXSKF", "admin",
                       "hello world! #welcome ! first post on the instance :rainbow: !")
    assert json.loads(old[6])[0]["alt"] == "Black and white image of some 50's style text saying: Welcome On Board"
    assert json.loads(old[7]) == ["welcome"]
    assert events(db_path, GTS_NEW["uri"]) == ["first_seen", "deleted"]
    assert rows(db_path, "SELECT key, value FROM source_state WHERE source_id = 'gts' ORDER BY key") == [
        ("account_id", "01F8MH17FWEB39HZJ76B6VXSKF"), ("newest_id", GTS_OLD["id"])]


def test_poll_options_are_content_and_votes_are_not(view: ArchiveView) -> None:
    """Mastodon.py's recorded poll status, and the same poll after a vote."""
    status = fixture("status_poll")["body"]
    request = Request(f"https://h.example{STATUSES}?limit=40", meta=(("page", 1), ("upper", None),
                                                                     ("mode", "window"), ("account_id", ACCOUNT)))

    def content(body: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
        post, = mastodon.parse(source("https://h.example"), request, exchange(request.url, json.dumps([body])),
                               view).observation.posts
        version = post.versions[0]
        return version.text or "", version.extra, content_digest(version.title, version.text, version.extra)

    text, extra, digest = content(status)
    assert (text, extra) == ("nice", {"poll": ["four twenty", "sixty-nine"]})
    assert content({**status, "poll": fixture("poll_after_vote")["body"]})[2] == digest  # a vote is not an edit
    edited_poll = copy.deepcopy(status["poll"])
    edited_poll["options"][1]["title"] = "sixty-eight"
    assert content({**status, "poll": edited_poll})[2] != digest  # a changed option is
    without = content({**status, "poll": None})
    assert without[1] == {} and without[2] == content_digest(None, "nice", None)  # digest as before polls counted


def test_media_attachments_by_id_and_alt_text_are_content(view: ArchiveView) -> None:
    """GoToSocial's status with an image: the attachment's id and alt text are content, so a changed
    alt text or a replaced image is an edit; a status without media keeps the digest it had."""
    request = Request(f"https://h.example{STATUSES}?limit=40", meta=(("page", 1), ("upper", None),
                                                                     ("mode", "window"), ("account_id", ACCOUNT)))

    def read(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        post, = mastodon.parse(source("https://h.example"), request, exchange(request.url, json.dumps([body])),
                               view).observation.posts
        version = post.versions[0]
        return version.extra, content_digest(version.title, version.text, version.extra)

    extra, digest = read(GTS_OLD)
    assert extra == {"media": [{"id": "01F8MH6NEM8D7527KZAECTCR76", "alt": "Black and white image of some 50's "
                                                                         "style text saying: Welcome On Board"}]}
    relabelled = copy.deepcopy(GTS_OLD)
    relabelled["media_attachments"][0]["description"] = "A sign saying: Welcome On Board"
    replaced = copy.deepcopy(GTS_OLD)
    replaced["media_attachments"][0]["id"] = "01F8MH6NEM8D7527KZAECTCR77"
    assert len({digest, read(relabelled)[1], read(replaced)[1]}) == 3
    moved = copy.deepcopy(GTS_OLD)
    moved["media_attachments"][0]["url"] = "https://files.example/moved.jpg"  # storage moved: the same media
    assert read(moved)[1] == digest
    assert read(TOOT9) == ({}, content_digest(None, "Toot number 9!", None))


def test_an_edit_of_the_alt_text_alone_is_recorded_from_the_history(db_path: Path) -> None:
    """Over loopback into SQLite: a status with an image, then edited to change only the image's alt
    text (Mastodon 4.1+). Its history gives both versions; the edit is recorded with its own time."""
    first_alt = GTS_OLD["media_attachments"][0]["description"]
    status = {**copy.deepcopy(GTS_OLD), "account": GTS_ACCOUNT}
    edited = copy.deepcopy(status)
    edited["media_attachments"][0]["description"] = "A sign saying: Welcome On Board"
    edited["edited_at"] = "2026-08-02T10:00:00.000Z"
    history = [{"content": status["content"], "created_at": status["created_at"],
                "media_attachments": status["media_attachments"]},
               {"content": status["content"], "created_at": edited["edited_at"],
                "media_attachments": edited["media_attachments"]}]
    shown = [status]
    gts = Source(id="gts", kind="mastodon", locator="@admin@localhost:8080")
    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/api/v1/accounts/lookup": lambda q, h: json_reply(GTS_ACCOUNT),
            f"/api/v1/accounts/{GTS_ACCOUNT['id']}/statuses": lambda q, h: json_reply([] if "min_id" in q
                                                                                     else shown),
            f"/api/v1/statuses/{GTS_OLD['id']}/history": lambda q, h: json_reply(history)})
        gts.options["api_base"] = server.base
        first = poll(db_path, gts)
        shown[0] = edited
        second = poll(db_path, gts)
    assert (first.outcome, first.new) == ("ok", 1), first.problems
    assert (second.outcome, second.edited) == ("ok", 1), second.problems
    assert events(db_path, GTS_OLD["uri"]) == ["first_seen", "edited"]
    versions = rows(db_path, "SELECT v.claimed_at, v.extra FROM versions v ORDER BY v.number")
    assert [(at, json.loads(extra)["media"][0]["alt"]) for at, extra in versions] == [
        ("2021-10-20T11:36:45.000000Z", first_alt), ("2026-08-02T10:00:00.000000Z", "A sign saying: Welcome On Board")]


def test_an_account_lookup_refused_to_the_logged_out_leaves_the_statuses_to_answer(view: ArchiveView) -> None:
    """Some servers refuse a logged-out account lookup (401/403) but serve public statuses: the
    statuses that left the timeline are then asked about one by one, as before the account step."""
    departed_ids = ((TOOT8["uri"], TOOT8["id"]),)
    request = Request(f"https://h.example/api/v1/accounts/{ACCOUNT}", purpose="confirm",
                      meta=(("step", "account"), ("departed", departed_ids)))
    for status in (401, 403, 404):
        parsed = mastodon.parse(source("https://h.example"), request,
                                exchange(request.url, '{"error": "This method requires an authenticated user"}',
                                         status=status), view)
        assert parsed.observation.gone == []
        assert [r.url for r in parsed.follow] == [f"https://h.example/api/v1/statuses/{TOOT8['id']}"]
    live = mastodon.parse(source("https://h.example"), request,
                          exchange(request.url, json.dumps(fixture("accounts_lookup")["body"])), view)
    assert [r.meta_dict()["uri"] for r in live.follow] == [TOOT8["uri"]]


def test_akkoma_and_pleroma_quotes_and_unresolved_parents_are_kept(db_path: Path) -> None:
    """Akkoma renders a quote with `quote` = the quoted status itself and `akkoma.quote_apid`, Pleroma
    with `pleroma.quote_url`, and a reply whose parent Akkoma could not fetch with `in_reply_to_id: "_"`
    (its ghost id, which "will always 404") and the parent's ActivityPub id in `akkoma.in_reply_to_apid`
    (status_view.ex). Who was quoted was lost, and every such reply pointed at `/api/v1/statuses/_`.
    The statuses are Mastodon.py's recorded toots 8 and 9, rendered so, polled over loopback."""
    quoted = pleroma_status(TOOT9, PL_FOREIGN_ID, local=False)
    akkoma_quote = pleroma_status(TOOT8, PL_OWN_ID, local=True)
    akkoma_quote.update(quote=quoted, quote_id=PL_FOREIGN_ID)
    akkoma_quote["akkoma"].update(quote_apid=TOOT9["uri"], in_reply_to_apid=None)
    pleroma_quote = pleroma_status(TOOT8, PL_SELF_BOOST_ID, local=True)
    pleroma_quote.update(uri=f"{PLEROMA}/objects/0c9e4f1a-quote", url=f"{PLEROMA}/notice/{PL_SELF_BOOST_ID}")
    pleroma_quote["pleroma"].update(quote_url=TOOT9["uri"], quote_id=PL_FOREIGN_ID, quote_visible=True)
    ghost_reply = pleroma_status(TOOT8, PL_BOOST_FOREIGN_ID, local=True)
    ghost_reply.update(uri=f"{PLEROMA}/objects/7d1f-reply", url=f"{PLEROMA}/notice/{PL_BOOST_FOREIGN_ID}",
                       in_reply_to_id="_", in_reply_to_account_id="_")
    ghost_reply["akkoma"].update(in_reply_to_apid="https://remote.example/objects/parent", quote_apid=None)
    timeline = [pleroma_quote, ghost_reply, akkoma_quote]
    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/api/v1/accounts/lookup": lambda q, h: json_reply(fixture("accounts_lookup")["body"]),
            STATUSES: lambda q, h: json_reply([] if "min_id" in q or "max_id" in q else timeline)})
        first = poll(db_path, source(server.base))
    assert (first.outcome, first.new) == ("ok", 3), first.problems
    assert rows(db_path, "SELECT native_id, kind, quote_of, reply_to FROM posts ORDER BY native_id") == sorted([
        (pleroma_quote["uri"], "quote", TOOT9["uri"], None),
        (ghost_reply["uri"], "reply", None, "https://remote.example/objects/parent"),
        (akkoma_quote["uri"], "quote", TOOT9["uri"], None)])


def test_a_reblog_whose_original_was_edited_says_so(db_path: Path) -> None:
    """The account's reblog of Mastodon.py's recorded toot 9, polled over loopback before and after toot
    9's author edited it: the reblog shows the new text, and its `edited` names the original as what
    changed, since a reblog itself cannot be edited."""
    reblog = copy.deepcopy(TOOT8)
    reblog.update(id="117020580599999999", uri=TOOT8["uri"].replace(TOOT8["id"], "117020580599999999") + "/activity",
                  reblog=copy.deepcopy(TOOT9), content="")
    timeline = [reblog]
    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/api/v1/accounts/lookup": lambda q, h: json_reply(fixture("accounts_lookup")["body"]),
            STATUSES: lambda q, h: json_reply([] if "min_id" in q or "max_id" in q else timeline)})
        assert poll(db_path, source(server.base)).new == 1
        edited = copy.deepcopy(reblog)
        edited["reblog"].update(content="<p>Toot number 9, corrected!</p>", edited_at="2026-08-05T10:00:00.000Z")
        timeline[:] = [edited]
        fields = ("content", "spoiler_text", "sensitive", "media_attachments", "emojis", "account")
        versions = [{**{k: TOOT9[k] for k in fields}, "created_at": TOOT9["created_at"]},
                    {**{k: edited["reblog"][k] for k in fields}, "created_at": "2026-08-05T10:00:00.000Z"}]

        def history(query: dict[str, Any], _: Any) -> Reply:
            return json_reply(versions)

        for status_id in (TOOT9["id"], reblog["id"]):
            server.routes[f"/api/v1/statuses/{status_id}/history"] = history
        second = poll(db_path, source(server.base))
    assert second.outcome == "ok", second.problems
    assert rows(db_path, "SELECT p.kind, p.text, json_extract(e.details, '$.original') FROM events e "
                         "JOIN posts p ON p.id = e.post_id WHERE e.type = 'edited'") == [
        ("repost", "Toot number 9, corrected!", TOOT9["uri"])]
