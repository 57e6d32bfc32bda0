"""Bluesky through the public AppView: an account's author feed paged with its cursor, reposts kept
as the account's repost pointing at the original, `cid` changes as versions, and deletions recorded
only after `getPosts` omits the post and the author's own repository (its PDS, found through the DID
document) answers RecordNotFound; a post the AppView hides while the repository keeps it is missing.
Only the account's own posts are checked that way: a key is one when it parses as the at-uri of an
app.bsky.feed.post record in the account's repository, which no repost key does."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote, urlencode

from archiver.models import Exchange, Gone, Observation, PostDraft, Request, Source, VersionDraft
from archiver.platforms import Parsed, ParseError
from archiver.platforms.kinds import post_kind
from archiver.platforms.memory import ArchiveMemory
from archiver.platforms.options import Option, max_pages
from archiver.platforms.social import base_url, departed, dumps, items, load_json, need, opt, utc

EXTRACTOR_VERSION = "2"  # 2: the record's images (with alt texts) and facet link targets in `extra`
PLATFORM = "bluesky"
DEFAULT_API = "https://public.api.bsky.app"
DEFAULT_PLC = "https://plc.directory"
_REPO_UNAVAILABLE = ("RepoTakendown", "RepoDeactivated", "RepoSuspended")
POST_COLLECTION = "/app.bsky.feed.post/"
GET_POSTS_MAX = 25
NO_UNAUTHENTICATED = "!no-unauthenticated"
INVALID_HANDLE = "handle.invalid"
_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"  # record keys are TIDs: base32-sortable timestamps
_RECORD_KEY = re.compile(r"^[A-Za-z0-9._:~-]{1,512}$")  # the atproto record-key syntax


OPTIONS = (
    Option("api_base", "url", DEFAULT_API, "the AppView; `/xrpc/app.bsky.feed.getAuthorFeed?…` and "
           "`/xrpc/app.bsky.feed.getPosts?…` are appended (a path is kept)", example='"https://api.example/bsky"'),
    Option("plc_directory", "url", DEFAULT_PLC, "the PLC directory that resolves a did:plc to its PDS, asked "
           "before a post the AppView omits is recorded deleted; `/<did>` is appended",
           example='"https://plc.example"'),
    max_pages(3, "author-feed pages one run reads"),
    Option("limit", "int", 50, "posts per author-feed page", low=1, high=100, example="100"),
    Option("publish_unauthenticated", "bool", False, "publish posts of accounts labelled `!no-unauthenticated`",
           example="true"),
)
_HANDLE = re.compile(r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
_DID = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]{1,2000}$")


def locator_problem(locator: str) -> str | None:
    """A locator is the account's handle (`@` allowed) or its DID."""
    if _HANDLE.match(locator.lstrip("@")) or _DID.match(locator):
        return None
    return (f"a bluesky locator is a handle (e.g. `un.org`, `someone.bsky.social`) or a DID (`did:plc:…`), "
            f"got {locator!r}")


def plan(source: Source, view: ArchiveMemory) -> list[Request]:
    return [_feed_request(source, None, 1, None)]


def _feed_request(source: Source, cursor: str | None, page: int, upper: int | None) -> Request:
    params = {"actor": source.locator.lstrip("@"), "limit": str(source.options.get("limit", 50)),
              "filter": "posts_with_replies"}
    if cursor:
        params["cursor"] = cursor
    api = base_url(source.options, "api_base", DEFAULT_API)
    return Request(url=f"{api}/xrpc/app.bsky.feed.getAuthorFeed?{urlencode(params)}", purpose="listing",
                   conditional=False, meta=(("page", page), ("upper", upper)))


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    step = request.meta_dict().get("step")
    if step == "record":
        return _parse_record(request, exchange)
    body = load_json(exchange)
    where = exchange.requested_url
    if step == "did":
        return _parse_pds(request, body, where)
    if request.purpose == "confirm":
        return _parse_confirm(source, request, body, where)
    feed = items(body, "feed", where)
    posts = []
    for index, item in enumerate(feed):
        posts.append(_feed_item(source, item, f"{where}: feed[{index}]", view))
    cursor = opt(body, "cursor", str, where)
    meta = request.meta_dict()
    follow = []
    own = [p.native_id for p in posts if p.kind != "repost"]
    numbers = [n for n in (_tid(uri) for uri in own) if n is not None]
    more = bool(cursor) and bool(feed)
    if more and meta["page"] < int(source.options.get("max_pages", 3)):
        follow.append(_feed_request(source, cursor, meta["page"] + 1, min(numbers, default=meta["upper"])))
    # the page covers the account's posts from its oldest one up to where the previous page ended;
    # the last page covers everything older; a page of reposts only covers nothing
    if not more or numbers:
        low = min(numbers) if more else None
        # the account is who posted and reposted on the page (or the DID the source names); only an
        # at-uri of a post record in its repository is a candidate: never a repost, whatever its key
        reposts = [p for p in posts if p.kind == "repost"]
        dids = {record[0] for uri in own if (record := _post_record(uri))} | {p.author_id for p in reposts}
        if _DID.match(source.locator):
            dids.add(source.locator)
        shown = {p.native_id for p in reposts}
        known = [(p.native_id, n) for p in view.posts_of_source(source.id)
                 if p.platform == PLATFORM and p.native_id not in shown
                 and (record := _post_record(p.native_id)) is not None and (not dids or record[0] in dids)
                 and (n := _tid(p.native_id)) is not None]
        gone = departed(known, set(own), low, meta["upper"])
        api = base_url(source.options, "api_base", DEFAULT_API)
        for start in range(0, len(gone), GET_POSTS_MAX):
            batch = gone[start:start + GET_POSTS_MAX]
            follow.append(Request(url=f"{api}/xrpc/app.bsky.feed.getPosts?"
                                  + urlencode([("uris", uri) for uri in batch]),
                                  purpose="confirm", conditional=False, meta=(("uris", tuple(batch)),)))
    return Parsed(Observation(posts=posts), follow)


def _parse_confirm(source: Source, request: Request, body: Any, where: str) -> Parsed:
    found = [_post(source, post, None, f"{where}: posts[{i}]") for i, post in enumerate(items(body, "posts", where))]
    present = {post.native_id for post in found}
    # the AppView leaves out a deleted post, but also one taken down by moderation and every post of
    # a deactivated or suspended account: only the author's own repository can tell them apart
    omitted: dict[str, list[str]] = {}
    for uri in request.meta_dict().get("uris", ()):
        if uri not in present:
            omitted.setdefault(uri.split("/")[2], []).append(uri)
    follow, gone = [], []
    for did, uris in omitted.items():
        document = _did_document(source, did)
        if document is None:
            gone += [Gone(PLATFORM, uri, False, f"omitted by app.bsky.feed.getPosts; {did} cannot be resolved to "
                                               "its repository") for uri in uris]
        else:
            follow.append(Request(document, purpose="confirm", conditional=False,
                                  meta=(("step", "did"), ("uris", tuple(uris)))))
    return Parsed(Observation(posts=found, gone=gone), follow)


def _xrpc_error(exchange: Exchange) -> str | None:
    """The error name of an XRPC error body (`{"error": "RecordNotFound", "message": …}`), if any."""
    try:
        body = json.loads(exchange.body or b"")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    said = body.get("error") if isinstance(body, dict) else None
    return said if isinstance(said, str) else None


def _did_document(source: Source, did: str) -> str | None:
    """Where the DID's document is served: the PLC directory for did:plc, the host's well-known
    address for did:web (a host alone: a did:web with a path names no atproto account)."""
    if did.startswith("did:plc:"):
        return f"{base_url(source.options, 'plc_directory', DEFAULT_PLC)}/{did}"
    host = did.removeprefix("did:web:")
    if did.startswith("did:web:") and ":" not in host:
        return f"https://{unquote(host)}/.well-known/did.json"
    return None


def _parse_pds(request: Request, body: Any, where: str) -> Parsed:
    """The author's PDS, from the DID document, asked for each omitted post's record."""
    services = items(body, "service", where, required=False)
    pds = next((s.get("serviceEndpoint") for s in services if str(s.get("id", "")).endswith("#atproto_pds")
                and s.get("type") == "AtprotoPersonalDataServer"), None)
    if not isinstance(pds, str) or not pds.startswith(("https://", "http://")):
        raise ParseError(f"{where}: the DID document names no #atproto_pds service")
    follow = []
    for uri in request.meta_dict()["uris"]:
        did, collection, rkey = uri.split("/")[2:5]
        query = urlencode({"repo": did, "collection": collection, "rkey": rkey})
        follow.append(Request(f"{pds.rstrip('/')}/xrpc/com.atproto.repo.getRecord?{query}", purpose="confirm",
                              conditional=False, meta=(("step", "record"), ("uri", uri))))
    return Parsed(follow=follow)


def _parse_record(request: Request, exchange: Exchange) -> Parsed:
    """The repository's answer settles it: RecordNotFound is a deletion; a record still held, or a
    repository taken down or deactivated, is a post the public no longer sees, not a deleted one."""
    uri = request.meta_dict()["uri"]
    where = exchange.requested_url
    if exchange.status in (400, 404):  # XRPC errors are 400s; some servers answer a missing record 404
        said = _xrpc_error(exchange)
        if said == "RecordNotFound":
            return Parsed(Observation(gone=[Gone(PLATFORM, uri, True, "omitted by app.bsky.feed.getPosts, and "
                                                                      "the author's PDS answers RecordNotFound")]))
        if said not in _REPO_UNAVAILABLE:
            raise ParseError(f"{where}: HTTP {exchange.status} {said or 'without an error name'}")
        reason = f"omitted by app.bsky.feed.getPosts; the author's PDS answers {said}"
    else:
        need(load_json(exchange), "value", dict, where)
        reason = "omitted by app.bsky.feed.getPosts while the author's PDS still holds the record (taken down)"
    return Parsed(Observation(gone=[Gone(PLATFORM, uri, False, reason)]))


def _feed_item(source: Source, item: dict[str, Any], where: str, view: ArchiveMemory) -> PostDraft:
    post = need(item, "post", dict, where)
    reason = opt(item, "reason", dict, where)
    if reason and str(reason.get("$type", "")).endswith("#reasonRepost"):
        return _repost(source, item, post, reason, where, view)
    return _post(source, post, item, where)


def _post(source: Source, post: dict[str, Any], item: dict[str, Any] | None, where: str) -> PostDraft:
    uri = _at_uri(need(post, "uri", str, where), where)
    cid = need(post, "cid", str, where)
    author = need(post, "author", dict, where)
    record = need(post, "record", dict, where)
    text = need(record, "text", str, f"{where}: record")
    created = opt(record, "createdAt", str, f"{where}: record")
    draft = PostDraft(platform=PLATFORM, native_id=uri, url=_web_url(uri),
                      versions=[VersionDraft(text=text, extra={"cid": cid, **_record_content(record)},
                                             raw=dumps(item or post))],
                      author_id=need(author, "did", str, f"{where}: author"),
                      author_handle=_handle(author, f"{where}: author"),
                      author_name=opt(author, "displayName", str, f"{where}: author"),
                      published_at=utc(created), published_raw=created,
                      published_where="record.createdAt" if created else None,
                      extractor="bluesky", extractor_version=EXTRACTOR_VERSION,
                      publish=_publishable(source, author))
    langs = opt(record, "langs", list, f"{where}: record")
    if langs and isinstance(langs[0], str):
        draft.language = langs[0]
    reply = opt(record, "reply", dict, f"{where}: record")
    if reply:
        parent = need(reply, "parent", dict, f"{where}: record.reply")
        draft.reply_to = need(parent, "uri", str, f"{where}: record.reply.parent")
    embed = opt(record, "embed", dict, f"{where}: record") or {}
    quoted = _quoted(embed)
    if quoted:
        draft.quote_of = quoted
    draft.kind = post_kind(draft)
    draft.media = _media(opt(post, "embed", dict, where) or {})
    return draft


def _repost(source: Source, item: dict[str, Any], post: dict[str, Any], reason: dict[str, Any],
            where: str, view: ArchiveMemory) -> PostDraft:
    original = _post(source, post, item, where)
    reposter = need(reason, "by", dict, f"{where}: reason")
    repost_uri = opt(reason, "uri", str, f"{where}: reason")
    if repost_uri is None:
        repost_uri = _unnamed_repost_key(need(reposter, "did", str, f"{where}: reason.by"), original.native_id,
                                         view, where)
    indexed = opt(reason, "indexedAt", str, f"{where}: reason")
    extra = {"cid": reason["cid"]} if isinstance(reason.get("cid"), str) else {}
    return PostDraft(platform=PLATFORM, native_id=repost_uri, kind="repost", repost_of=original.native_id,
                     url=original.url, versions=[VersionDraft(text=original.versions[0].text, extra=extra,
                                                              raw=dumps(item))],
                     author_id=need(reposter, "did", str, f"{where}: reason.by"),
                     author_handle=_handle(reposter, f"{where}: reason.by"),
                     author_name=opt(reposter, "displayName", str, f"{where}: reason.by"),
                     published_at=utc(indexed), published_raw=indexed,
                     published_where="reason.indexedAt" if indexed else None,
                     language=original.language, media=original.media,
                     publish=_publishable(source, reposter) and original.publish,
                     extractor="bluesky", extractor_version=EXTRACTOR_VERSION)


def _unnamed_repost_key(reposter: str, original: str, view: ArchiveMemory, where: str) -> str:
    """Older AppViews do not name the repost record (`reason` has no `uri`): the repost is keyed by who
    reposted which post, `<reposter DID>#repost:<original's DID>:<original's record key>`, which is no
    at-uri and holds no post path. Until this rule the key was `<reposter DID>#repost:<original at-uri>`;
    a repost the archive already holds that way keeps its identity."""
    record = _post_record(original)
    if record is None:
        raise ParseError(f"{where}: the reposted uri {original!r} is not an app.bsky.feed.post record")
    held = f"{reposter}#repost:{original}"
    return held if view.post(PLATFORM, held) is not None else f"{reposter}#repost:{record[0]}:{record[1]}"


def _handle(actor: dict[str, Any], where: str) -> str | None:
    """The actor's handle; None for the AppView's `handle.invalid` (the handle no longer resolves to
    the DID), which names no one: the DID stays the identity, the raw fragment keeps what was shown."""
    handle = opt(actor, "handle", str, where)
    return None if handle == INVALID_HANDLE else handle


def _at_uri(uri: str, where: str) -> str:
    if not uri.startswith("at://") or uri.count("/") < 4:
        raise ParseError(f"{where}: uri {uri!r} is not an at:// record URI")
    return uri


def _web_url(uri: str) -> str | None:
    parts = uri.split("/")
    if POST_COLLECTION not in uri or len(parts) < 5:
        return None
    return f"https://bsky.app/profile/{parts[2]}/post/{parts[4]}"


def _post_record(uri: str) -> tuple[str, str] | None:
    """(DID, record key) of `at://<did>/app.bsky.feed.post/<rkey>`, parsed whole; None for anything
    else (a repost record, a repost key of an older AppView, a string that merely contains the path)."""
    if not uri.startswith("at://"):
        return None
    parts = uri[len("at://"):].split("/")
    if len(parts) != 3 or f"/{parts[1]}/" != POST_COLLECTION or not _DID.match(parts[0]):
        return None
    if not _RECORD_KEY.match(parts[2]) or parts[2] in (".", ".."):
        return None
    return parts[0], parts[2]


def _tid(uri: str) -> int | None:
    """The time-ordered number of a post's record key, or None if the uri is no post record's or its
    key is not a TID."""
    record = _post_record(uri)
    rkey = record[1] if record else ""
    if len(rkey) != 13 or any(c not in _TID_CHARS for c in rkey):
        return None
    number = 0
    for char in rkey:
        number = number * 32 + _TID_CHARS.index(char)
    return number


def _publishable(source: Source, author: dict[str, Any]) -> bool:
    labels = author.get("labels") if isinstance(author.get("labels"), list) else []
    asked_hidden = any(isinstance(label, dict) and label.get("val") == NO_UNAUTHENTICATED for label in labels)
    return not asked_hidden or bool(source.options.get("publish_unauthenticated", False))


def _quoted(embed: dict[str, Any]) -> str | None:
    kind = embed.get("$type")
    record = embed.get("record")
    if kind == "app.bsky.embed.recordWithMedia" and isinstance(record, dict):
        record = record.get("record")
    if kind in ("app.bsky.embed.record", "app.bsky.embed.recordWithMedia") and isinstance(record, dict):
        uri = record.get("uri")
        # a record embed also shares a feed, a list, a starter pack or a labeler: only a post is quoted
        return uri if isinstance(uri, str) and POST_COLLECTION in uri else None
    return None


def _record_content(record: dict[str, Any]) -> dict[str, Any]:
    """What the signed record says besides its text that a reader sees: the gallery (each image by its
    blob and alt text) and where the text's links lead. Only present keys are added, so a post
    without them keeps the content digest it had before they counted."""
    content: dict[str, Any] = {}
    embed = record.get("embed") if isinstance(record.get("embed"), dict) else {}
    if str(embed.get("$type", "")) == "app.bsky.embed.recordWithMedia" and isinstance(embed.get("media"), dict):
        embed = embed["media"]
    if embed.get("$type") == "app.bsky.embed.images" and isinstance(embed.get("images"), list):
        images = []
        for image in embed["images"]:
            if isinstance(image, dict):
                blob = image.get("image") if isinstance(image.get("image"), dict) else {}
                ref = blob.get("ref") if isinstance(blob.get("ref"), dict) else {}
                images.append({"alt": image.get("alt"), "blob": ref.get("$link")})
        if images:
            content["images"] = images
    links = [feature.get("uri") for facet in record.get("facets") or [] if isinstance(facet, dict)
             for feature in facet.get("features") or []
             if isinstance(feature, dict) and feature.get("$type") == "app.bsky.richtext.facet#link"]
    if links:
        content["links"] = links
    return content


def _media(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Media from the AppView's embed view (which carries CDN URLs), leaving anything odd out; a
    shared record that is not a post (a feed, list, starter pack, labeler) as the card it shows."""
    kind = str(view.get("$type", ""))
    if kind.startswith("app.bsky.embed.recordWithMedia") and isinstance(view.get("media"), dict):
        card = view.get("record") if isinstance(view.get("record"), dict) else {}
        return _media(view["media"]) + _media(card)
    if kind.startswith("app.bsky.embed.record") and isinstance(view.get("record"), dict):
        return _card(view["record"])
    if kind.startswith("app.bsky.embed.images") and isinstance(view.get("images"), list):
        return [{"type": "image", "url": image.get("fullsize"), "alt": image.get("alt")}
                for image in view["images"] if isinstance(image, dict)]
    if kind.startswith("app.bsky.embed.video"):
        return [{"type": "video", "url": view.get("playlist"), "alt": view.get("alt")}]
    if kind.startswith("app.bsky.embed.external") and isinstance(view.get("external"), dict):
        external = view["external"]
        return [{"type": "link", "url": external.get("uri"), "title": external.get("title")}]
    return []


def _card(shown: dict[str, Any]) -> list[dict[str, Any]]:
    """A shared feed, list, starter pack or labeler, by its URI and the name its card shows; a quoted
    post (`#viewRecord`) is `quote_of`, and a record the AppView cannot show is left out."""
    kind = str(shown.get("$type", ""))
    uri = shown.get("uri")
    if not isinstance(uri, str) or POST_COLLECTION in uri or not kind.startswith(("app.bsky.feed.defs#",
                                                                                   "app.bsky.graph.defs#",
                                                                                   "app.bsky.labeler.defs#")):
        return []
    record = shown.get("record") if isinstance(shown.get("record"), dict) else {}
    title = shown.get("displayName") or shown.get("name") or record.get("name")
    return [{"type": kind.split("#", 1)[1].removesuffix("Basic").removesuffix("View") or "record", "url": uri,
             "title": title if isinstance(title, str) else None}]
