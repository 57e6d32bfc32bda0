"""Bluesky: the real author-feed fixture served on loopback, polled twice through the fetch layer
while one post is rewritten (new cid) and one deleted (confirmed by getPosts omitting it)."""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from archiver.models import Request, Source
from archiver.platforms import ParseError, bluesky
from archiver.platforms.memory import KnownPost, Validators
from archiver.view import ArchiveView
from tests.conftest import FIXTURES
from tests.loopback import LoopbackServer, Reply
from tests.social_loop import PathRoutes, events, exchange, poll, rows

FEED = json.loads((FIXTURES / "bluesky" / "getAuthorFeed_bsky.app_trimmed.json").read_text())
REPOST, REPLY = FEED["feed"]
DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
A = f"at://{DID}/app.bsky.feed.post/3mwzzabcdefg2"
B = f"at://{DID}/app.bsky.feed.post/3mv2aaaaaaaa2"
ORIGINAL = "at://did:plc:ifn645rwvsuolxg7o3w7ouo4/app.bsky.feed.post/3mwqgsd4cgs2a"


def own_post(uri: str, text: str, cid: str) -> dict[str, Any]:
    item = copy.deepcopy(REPLY)
    del item["reply"]
    post = item["post"]
    post.update(uri=uri, cid=cid)
    del post["record"]["reply"]
    post["record"].update(text=text, createdAt="2026-10-01T08:00:00.000+02:00")
    return item


def source(api: str, **options: Any) -> Source:
    return Source(id="bsky", kind="bluesky", locator="bsky.app",
                  options={"api_base": api, "plc_directory": f"{api}/plc", **options})


DESCRIBED = json.loads((FIXTURES / "bluesky" / "describeRepo_did_doc.json").read_text())


def repository(base: str, records: dict[str, Reply], did: str = DID) -> dict[str, Any]:
    """Routes of a PLC directory serving the real DID document (re-keyed to the account's DID, its PDS
    on loopback) and of that PDS's getRecord: `records` maps a record key to its answer; any other
    key answers as a PDS does for a deleted record."""
    document = json.loads(json.dumps(DESCRIBED["didDoc"]).replace(DESCRIBED["did"], did))
    document["service"][0]["serviceEndpoint"] = base

    def get_record(query: dict[str, Any], _: Any) -> Reply:
        assert (query["repo"], query["collection"]) == (did, "app.bsky.feed.post")
        uri = f"at://{did}/app.bsky.feed.post/{query['rkey']}"
        return records.get(query["rkey"], Reply(400, json.dumps({
            "error": "RecordNotFound", "message": f"Could not locate record: {uri}"}).encode(),
            {"Content-Type": "application/json"}))

    return {f"/plc/{did}": lambda q, h: Reply(200, json.dumps(document).encode(), {"Content-Type": "application/json"}),
            "/xrpc/com.atproto.repo.getRecord": get_record}


def test_two_polls_record_posts_repost_reply_edit_and_confirmed_deletion(db_path: Path) -> None:
    pages = {"first": {"feed": [REPOST, own_post(A, "Hello from Bluesky", "bafyA1")], "cursor": "c1"},
             "c1": {"feed": [REPLY, own_post(B, "A post that will be deleted", "bafyB1")]}}
    looked_up: list[Any] = []

    def feed(query: dict[str, Any], _: Any) -> Reply:
        assert query["actor"] == "bsky.app" and query["filter"] == "posts_with_replies"
        return Reply(200, json.dumps(pages[query.get("cursor", "first")]).encode(),
                     {"Content-Type": "application/json"})

    def get_posts(query: dict[str, Any], _: Any) -> Reply:
        looked_up.append(query["uris"])
        return Reply(200, b'{"posts": []}', {"Content-Type": "application/json"})

    with LoopbackServer() as server:
        server.routes = PathRoutes({"/xrpc/app.bsky.feed.getAuthorFeed": feed,
                                    "/xrpc/app.bsky.feed.getPosts": get_posts, **repository(server.base, {})})
        first = poll(db_path, source(server.base))
        assert (first.outcome, first.new, first.requests) == ("ok", 4, 2)
        pages["first"]["feed"][1] = own_post(A, "Hello from Bluesky, corrected", "bafyA2")
        pages["c1"]["feed"] = [REPLY]
        second = poll(db_path, source(server.base))
    assert (second.outcome, second.edited, second.deleted) == ("ok", 1, 1)
    assert looked_up == [B]  # only the post that left the feed is checked, in one getPosts call
    posts = {row[0]: row[1:] for row in rows(
        db_path, "SELECT native_id, kind, status, author_handle, author_name, reply_to, repost_of, version_count, "
                 "published_at, text FROM posts")}
    assert set(posts) == {A, B, REPLY["post"]["uri"], REPOST["reason"]["uri"]}
    repost = posts[REPOST["reason"]["uri"]]
    assert repost[:6] == ("repost", "live", "bsky.app", "Bluesky", None, ORIGINAL)
    assert repost[7] == "2026-09-30T18:15:05.366000Z"  # when the account reposted it
    reply = posts[REPLY["post"]["uri"]]
    assert reply[:5] == ("reply", "live", "bsky.app", "Bluesky",
                         "at://did:plc:ahthjcmetv4al6huzlxpvxg3/app.bsky.feed.post/3mv3zwsmhj226")
    assert posts[A][1] == "live" and posts[A][6:] == (2, "2026-10-01T06:00:00.000000Z",
                                                      "Hello from Bluesky, corrected")
    assert posts[B][1] == "deleted"
    assert events(db_path, A) == ["first_seen", "edited"]
    assert events(db_path, B) == ["first_seen", "deleted"]
    extras = [json.loads(extra) for (extra,) in rows(
        db_path, "SELECT v.extra FROM versions v JOIN posts p ON p.id = v.post_id WHERE p.native_id = ? "
                 "ORDER BY v.number", A)]
    assert extras == [{"cid": "bafyA1"}, {"cid": "bafyA2"}]
    raw, = rows(db_path, "SELECT v.raw FROM versions v JOIN posts p ON p.id = v.post_id WHERE p.native_id = ?",
                REPOST["reason"]["uri"])
    assert json.loads(raw[0])["reason"]["$type"] == "app.bsky.feed.defs#reasonRepost"


def test_a_cid_change_alone_makes_a_version(db_path: Path) -> None:
    pages = {"feed": [own_post(A, "Same words", "bafy1")]}
    with LoopbackServer() as server:
        server.routes = PathRoutes({"/xrpc/app.bsky.feed.getAuthorFeed": lambda q, h: Reply(
            200, json.dumps(pages).encode())})
        poll(db_path, source(server.base))
        pages["feed"] = [own_post(A, "Same words", "bafy2")]
        report = poll(db_path, source(server.base))
    assert report.edited == 1
    assert rows(db_path, "SELECT count(DISTINCT text) FROM versions") == [(1,)]


def test_a_post_still_returned_by_get_posts_is_not_deleted(db_path: Path) -> None:
    pages = {"feed": [own_post(A, "Old but still there", "bafy1")]}
    kept = own_post(A, "Old but still there", "bafy1")["post"]
    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/xrpc/app.bsky.feed.getAuthorFeed": lambda q, h: Reply(200, json.dumps(pages).encode()),
            "/xrpc/app.bsky.feed.getPosts": lambda q, h: Reply(200, json.dumps({"posts": [kept]}).encode())})
        poll(db_path, source(server.base))
        pages["feed"] = []
        report = poll(db_path, source(server.base))
    assert report.deleted == 0
    assert rows(db_path, "SELECT status FROM posts") == [("live",)]



def test_a_post_the_appview_hides_is_missing_unless_its_repository_lost_it(db_path: Path) -> None:
    """The AppView omits from the feed and from getPosts a deleted post, one taken down by moderation
    (bluesky-social/atproto's labels-takedown tests) and those of a deactivated account: the author's
    PDS, found through the real DID document, tells which."""
    taken, deactivated, deleted = (f"at://{DID}/app.bsky.feed.post/3mv2aaaaaaa{k}2" for k in "abc")
    pages = {"feed": [own_post(uri, f"post {uri[-3:]}", f"bafy{uri[-3:]}") for uri in (taken, deactivated, deleted)]}
    still_held = own_post(taken, "post ", "bafy")["post"]["record"]
    records = {"3mv2aaaaaaaa2": Reply(200, json.dumps({"uri": taken, "cid": "bafya", "value": still_held}).encode()),
               "3mv2aaaaaaab2": Reply(400, json.dumps({"error": "RepoDeactivated",
                                                      "message": f"Repo has been deactivated: {DID}"}).encode())}
    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/xrpc/app.bsky.feed.getAuthorFeed": lambda q, h: Reply(200, json.dumps(pages).encode()),
            "/xrpc/app.bsky.feed.getPosts": lambda q, h: Reply(200, b'{"posts": []}'),
            **repository(server.base, records)})
        poll(db_path, source(server.base))
        pages["feed"] = []
        report = poll(db_path, source(server.base))
        asked_plc = len(server.hits(f"/plc/{DID}"))
    assert (report.outcome, report.deleted, asked_plc) == ("ok", 1, 1), report.problems
    assert rows(db_path, "SELECT p.native_id, e.type, json_extract(e.details, '$.reason') FROM events e JOIN posts p "
                         "ON p.id = e.post_id WHERE e.type != 'first_seen' ORDER BY p.native_id") == [
        (taken, "missing", "omitted by app.bsky.feed.getPosts while the author's PDS still holds the record "
                           "(taken down)"),
        (deactivated, "missing", "omitted by app.bsky.feed.getPosts; the author's PDS answers RepoDeactivated"),
        (deleted, "deleted", "omitted by app.bsky.feed.getPosts, and the author's PDS answers RecordNotFound")]


def test_accounts_asking_not_to_be_shown_logged_out_are_archived_unpublished(view: ArchiveView) -> None:
    item = own_post(A, "Only for logged-in readers", "bafy1")
    item["post"]["author"]["labels"] = [{"src": DID, "uri": f"at://{DID}/app.bsky.actor.profile/self",
                                         "val": "!no-unauthenticated", "cts": "2026-01-01T00:00:00Z"}]
    body = json.dumps({"feed": [item]})
    request = bluesky.plan(source("https://public.api.bsky.app"), view)[0]
    post, = bluesky.parse(source("https://public.api.bsky.app"), request, exchange(request.url, body),
                          view).observation.posts
    assert post.publish is False
    allowed = source("https://public.api.bsky.app", publish_unauthenticated=True)
    post, = bluesky.parse(allowed, request, exchange(request.url, body), view).observation.posts
    assert post.publish is True


def test_paging_stops_at_max_pages_and_confirms_in_batches_of_25(view: ArchiveView, db_path: Path) -> None:
    src = source("https://public.api.bsky.app", max_pages=1, plc_directory="https://plc.directory")
    request = bluesky.plan(src, view)[0]
    assert request.url.startswith("https://public.api.bsky.app/xrpc/app.bsky.feed.getAuthorFeed?actor=bsky.app")
    parsed = bluesky.parse(src, request, exchange(request.url, json.dumps(FEED)), view)
    assert parsed.follow == []  # a cursor was given, but max_pages = 1
    confirm = Request("https://public.api.bsky.app/xrpc/app.bsky.feed.getPosts?uris=x", purpose="confirm",
                      meta=(("uris", (A, B)),))
    parsed = bluesky.parse(src, confirm, exchange(confirm.url, json.dumps({"posts": [REPLY["post"]]})), view)
    assert parsed.observation.gone == []  # omitted: the author's repository is asked, once for both
    assert [(r.url, r.meta_dict()["uris"]) for r in parsed.follow] == [(f"https://plc.directory/{DID}", (A, B))]


def test_an_empty_page_is_not_an_error(view: ArchiveView) -> None:
    request = bluesky.plan(source("https://public.api.bsky.app"), view)[0]
    parsed = bluesky.parse(source("https://public.api.bsky.app"), request, exchange(request.url, '{"feed": []}'),
                           view)
    assert parsed.observation.posts == [] and parsed.follow == []
    with pytest.raises(ParseError, match="field `feed` is missing"):
        bluesky.parse(source("https://x.example"), request, exchange(request.url, "{}"), view)


GALLERY = json.loads((FIXTURES / "bluesky" / "author_feed_item_images_facets.json").read_text())
THREAD = json.loads((FIXTURES / "bluesky" / "getPostThread_thread_view_post_with_embed_media.json").read_text())


def listed(item: dict[str, Any], view: ArchiveView) -> Any:
    request = bluesky.plan(source("https://h.example"), view)[0]
    post, = bluesky.parse(source("https://h.example"), request, exchange(request.url, json.dumps({"feed": [item]})),
                          view).observation.posts
    return post


def test_gallery_images_with_alt_texts_and_link_targets_are_content(view: ArchiveView) -> None:
    """A real post with an image and link, tag and mention facets (the A.V. Club post bsky.app reposted,
    read as the post itself), and a real quote with an image (recordWithMedia)."""
    item = {"post": GALLERY["post"]}
    version = listed(item, view).versions[0]
    blob = "bafkreicwxzp6lnqvuetiytyeanq3wynihsneq4qqdvv7bzhkrmw4nv36oy"
    assert version.extra == {"cid": "bafyreigyzxfb3tynf6hus4cshhzcrwr7sht4vfp2l5phbbfephvn7bcd7a",
                             "images": [{"alt": "", "blob": blob}],
                             "links": ["https://bsky.app/profile/avclub.com/feed/emmys-watch-r"]}
    described = copy.deepcopy(item)
    described["post"]["record"]["embed"]["images"][0]["alt"] = "The Emmys Watch feed, pinned"
    assert listed(described, view).versions[0].extra["images"][0]["alt"] == "The Emmys Watch feed, pinned"
    retargeted = copy.deepcopy(item)
    retargeted["post"]["record"]["facets"][2]["features"][0]["uri"] = "https://example.org/elsewhere"
    assert listed(retargeted, view).versions[0].extra["links"] == ["https://example.org/elsewhere"]
    request = Request("https://h.example/xrpc/app.bsky.feed.getPosts?uris=x", purpose="confirm",
                      meta=(("uris", (THREAD["thread"]["post"]["uri"],)),))
    quote, = bluesky.parse(source("https://h.example"), request,
                           exchange(request.url, json.dumps({"posts": [THREAD["thread"]["post"]]})),
                           view).observation.posts
    assert quote.versions[0].extra["images"] == [
        {"alt": "", "blob": "bafkreic3cp5ky525vsukjvrzxsc2h3jka2gud74l2hgeatw2rhj2qycnmq"}]
    plain = listed(REPLY, view).versions[0]  # no images, no link facets: the digest it had before
    assert plain.extra == {"cid": REPLY["post"]["cid"]}


CARDS = json.loads((FIXTURES / "bluesky" / "feed_generation_record_embeds.json").read_text())


def test_a_shared_feed_or_starter_pack_is_a_card_not_a_quote(view: ArchiveView) -> None:
    """The AppView's own views of a post sharing a starter pack and one sharing a feed generator (a
    record embed, as a quote is): only a post is quoted; the card is kept as what the post shows."""
    pack, feed = (listed(item, view) for item in CARDS["feed"])
    assert [(p.kind, p.quote_of) for p in (pack, feed)] == [("post", None), ("post", None)]
    assert pack.media == [{"type": "starterPack", "url": CARDS["feed"][0]["post"]["embed"]["record"]["uri"],
                           "title": "awesome starter pack!"}]
    assert feed.media == [{"type": "generator", "url": CARDS["feed"][1]["post"]["embed"]["record"]["uri"],
                           "title": "All"}]
    quoting = listed({"post": THREAD["thread"]["post"]}, view)  # a real quote of a post stays one
    assert quoting.kind == "quote" and quoting.quote_of and "/app.bsky.feed.post/" in quoting.quote_of


def test_shared_cards_and_an_invalid_handle_reach_the_archive_as_read(db_path: Path) -> None:
    body = copy.deepcopy(CARDS)
    body["feed"][0]["post"]["author"]["handle"] = "handle.invalid"
    with LoopbackServer() as server:
        server.routes = PathRoutes({"/xrpc/app.bsky.feed.getAuthorFeed": lambda q, h: Reply(
            200, json.dumps(body).encode(), {"Content-Type": "application/json"})})
        report = poll(db_path, source(server.base))
    assert (report.outcome, report.new) == ("ok", 2)
    assert rows(db_path, "SELECT text, kind, quote_of, author_handle, json_extract(media, '$[0].type') FROM posts "
                         "ORDER BY text") == [("cool feed!", "post", None, "bob.test", "generator"),
                                              ("sick starter pack!", "post", None, None, "starterPack")]


def test_the_appviews_invalid_handle_names_no_one(view: ArchiveView) -> None:
    """`handle.invalid` is the AppView's word for a handle that no longer resolves to the DID
    (app.bsky.actor.defs / com.atproto.identity.defs): it is no handle, and the DID stays the identity."""
    mine = own_post(A, "Posted while my domain's DNS was down", "bafy1")
    mine["post"]["author"]["handle"] = "handle.invalid"
    reposted = copy.deepcopy(REPOST)
    reposted["reason"]["by"]["handle"] = "handle.invalid"
    assert [(p.author_id, p.author_handle) for p in (listed(mine, view), listed(reposted, view))] == [
        (DID, None), (reposted["reason"]["by"]["did"], None)]


def test_a_repository_answer_that_settles_nothing_is_a_failed_check(view: ArchiveView) -> None:
    request = Request("https://pds.example/xrpc/com.atproto.repo.getRecord?repo=x", purpose="confirm",
                      meta=(("step", "record"), ("uri", A)))
    for status, body in ((400, '{"error": "InvalidRequest", "message": "Error: repo must be a valid did"}'),
                         (502, "Bad Gateway"), (200, '{"uri": "at://x"}')):
        with pytest.raises(ParseError):
            bluesky.parse(source("https://h.example"), request, exchange(request.url, body, status=status), view)


def _unnamed(item: dict[str, Any]) -> dict[str, Any]:
    """A repost as AppViews served it before `reasonRepost` named the repost record (its `uri` and `cid`
    were asked for in bluesky-social/atproto issue 2638, July 2024): `by` and `indexedAt` only."""
    item = copy.deepcopy(item)
    del item["reason"]["uri"], item["reason"]["cid"]
    return item


# bsky.app's real author feed (saigkill/omarchy-bluesky, MIT): two reposts, then a reply of its own
_BSKY = json.loads((FIXTURES / "bluesky" / "getAuthorFeed_bsky.app_trimmed.json").read_text())["feed"]
UNNAMED, UNNAMED_TOO, OWN_REPLY = (_unnamed(_BSKY[0]), _unnamed(json.loads(
    (FIXTURES / "bluesky" / "author_feed_item_images_facets.json").read_text())), _BSKY[1])
BSKY_FEED = {"feed": [UNNAMED, UNNAMED_TOO, OWN_REPLY]}
BSKY_DID = "did:plc:z72i7hdynmk6r22z27h6tvur"


def bsky_app(api: str) -> Source:
    return Source(id="bsky", kind="bluesky", locator="bsky.app",
                  options={"api_base": api, "plc_directory": f"{api}/plc"})


class Held:
    """An archive holding a few live posts of the source, by their keys."""

    def __init__(self, *native_ids: str) -> None:
        self.held = [KnownPost(bluesky.PLATFORM, key, None, "live", None, "2024-01-30T17:00:00.000000Z")
                     for key in native_ids]

    def state(self, source_id: str, key: str) -> str | None:
        return None

    def validators(self, url: str) -> Validators | None:
        return None

    def post(self, platform: str, native_id: str) -> KnownPost | None:
        return next((p for p in self.held if (p.platform, p.native_id) == (platform, native_id)), None)

    def posts_of_source(self, source_id: str, statuses: tuple[str, ...] = ("live",)) -> list[KnownPost]:
        return [p for p in self.held if p.status in statuses]


def test_a_repost_without_a_reason_uri_is_never_checked_as_a_post() -> None:
    """Its key names who reposted which post without being an at-uri; one the archive holds under the
    key used before (`<did>#repost:<at-uri of the original>`, which contains a post path and ends in the
    original's record key) keeps it; and no repost key, of either form, is ever a removal candidate."""
    src = bsky_app("https://public.api.bsky.app")
    request = bluesky.plan(src, Held())[0]
    posts = bluesky.parse(src, request, exchange(request.url, json.dumps(BSKY_FEED)), Held()).observation.posts
    originals = [item["post"]["uri"] for item in (UNNAMED, UNNAMED_TOO)]
    assert [(p.kind, p.native_id, p.repost_of, p.author_id, p.published_raw) for p in posts[:2]] == [
        ("repost", f"{BSKY_DID}#repost:did:plc:ifn645rwvsuolxg7o3w7ouo4:3mwqgsd4cgs2a", originals[0], BSKY_DID,
         "2026-09-30T18:15:05.366Z"),
        ("repost", f"{BSKY_DID}#repost:did:plc:kwxpje5qog6wwndagwbssatp:3mviutosqmk2t", originals[1], BSKY_DID,
         "2026-09-14T20:12:36.962Z")]
    assert [p.kind for p in posts[2:]] == ["reply"]
    named = copy.deepcopy(UNNAMED)  # today's AppView names the repost record (the one the capture's viewer shows)
    named["reason"]["uri"] = _BSKY[0]["reason"]["uri"]
    assert listed(named, Held()).native_id == named["reason"]["uri"]

    before = f"{BSKY_DID}#repost:{originals[0]}"  # the key an archive made before this rule holds
    own_reposted = f"{BSKY_DID}#repost:at://{BSKY_DID}/app.bsky.feed.post/3mv3zcjaijk22"  # its own post
    held = Held(before, posts[1].native_id, own_reposted, named["reason"]["uri"],
                OWN_REPLY["post"]["uri"])
    page = {"feed": [UNNAMED, UNNAMED_TOO]}  # the reply is gone; no cursor: the page covers all
    parsed = bluesky.parse(src, request, exchange(request.url, json.dumps(page)), held)
    assert [p.native_id for p in parsed.observation.posts[:2]] == [before, posts[1].native_id]
    assert [(r.purpose, r.meta_dict()["uris"]) for r in parsed.follow] == [("confirm", (OWN_REPLY["post"]["uri"],))]


def test_reposts_without_a_reason_uri_over_two_runs_into_the_archive(db_path: Path) -> None:
    """Served by an AppView that refuses a `uris` value that is no at-uri (as getPosts' lexicon
    requires). The account then deletes its reply, so the feed shows only the reposts: they stay live
    and out of every getPosts call, a repost an archive holds keyed as before keeps its row, and the
    reply is confirmed deleted by the account's repository."""
    pages = {"feed": list(BSKY_FEED["feed"])}
    asked: list[list[str]] = []

    def get_posts(query: dict[str, Any], _: Any) -> Reply:
        uris = query["uris"] if isinstance(query["uris"], list) else [query["uris"]]
        asked.append(uris)
        for index, uri in enumerate(uris):
            if not uri.startswith("at://"):
                return Reply(400, json.dumps({"error": "InvalidRequest",
                                              "message": f"Error: uris/{index} must be a valid at-uri"}).encode(),
                             {"Content-Type": "application/json"})
        return Reply(200, b'{"posts": []}', {"Content-Type": "application/json"})

    with LoopbackServer() as server:
        server.routes = PathRoutes({
            "/xrpc/app.bsky.feed.getAuthorFeed": lambda q, h: Reply(200, json.dumps(pages).encode(),
                                                                    {"Content-Type": "application/json"}),
            "/xrpc/app.bsky.feed.getPosts": get_posts, **repository(server.base, {}, BSKY_DID)})
        first = poll(db_path, bsky_app(server.base))
        assert (first.outcome, first.new, asked) == ("ok", 3, []), first.problems
        reposts = [key for (key,) in rows(db_path, "SELECT native_id FROM posts WHERE kind = 'repost' ORDER BY id")]
        before = f"{BSKY_DID}#repost:{UNNAMED['post']['uri']}"  # as an archive made before this rule holds it
        conn = sqlite3.connect(db_path)
        with conn:
            conn.execute("UPDATE posts SET native_id = ? WHERE native_id = ?", (before, reposts[0]))
        conn.close()
        pages["feed"] = [UNNAMED, UNNAMED_TOO]
        second = poll(db_path, bsky_app(server.base))
    assert (second.outcome, second.new, second.deleted, second.missing) == ("ok", 0, 1, 0), second.problems
    assert asked == [[OWN_REPLY["post"]["uri"]]]
    assert rows(db_path, "SELECT native_id, kind, status FROM posts ORDER BY id") == [
        (before, "repost", "live"), (reposts[1], "repost", "live"),
        (OWN_REPLY["post"]["uri"], "reply", "deleted")]
    assert [events(db_path, key) for key in (before, reposts[1])] == [["first_seen"], ["first_seen"]]
    assert events(db_path, OWN_REPLY["post"]["uri"]) == ["first_seen", "deleted"]
