"""Mastodon-API servers (Mastodon, GoToSocial, Pleroma/Akkoma): an account's statuses through the
public REST API. The newest page is the window that shows edits and deletions; `min_id` polling
catches everything newer than the last run; an edited status is recorded from its `/history`, every
version with its own time; a deletion is recorded when `GET /api/v1/statuses/:id` answers 404 and
the account is not suspended (a suspended account's statuses answer 404 too: they are `missing`).

Ids are opaque strings (Mastodon's are digits, GoToSocial's ULIDs, Pleroma's base62 flake ids): they
are never read as numbers. Which statuses a page covers is taken from the server's own `Link`
header (`next` names the oldest id shown, `prev` the newest); a known status is placed against those
bounds in the order the server pages, which for all three id schemes is shorter id first, then text
order.

A status is archived under its `uri`; a reblog under its own `uri` where that names the reblog (Mastodon,
GoToSocial), else under `<reblogged URI>#reblog-by-<id>` (Pleroma and Akkoma serve the reblogged status's
URI as a reblog's): a self-boost never takes the place of the status it boosts, and a reblog is asked
about by its own id on this server, never by one read from another server's URI."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from requests.utils import parse_header_links

from archiver.canonical import content_digest
from archiver.models import Exchange, Gone, Observation, PostDraft, Request, Source, VersionDraft
from archiver.platforms import Parsed, ParseError, expect_ok, read_with
from archiver.platforms.kinds import post_kind
from archiver.platforms.memory import ArchiveMemory
from archiver.platforms.options import Option, max_pages
from archiver.platforms.social import (
    departed,
    dumps,
    items,
    load_json,
    need,
    opt,
    utc,
)
from archiver.platforms.text import html_to_text

# 2: the shared HTML->text rule; 3: poll options in `extra`, opaque ids;
# 4: the media attachments (each by id and alt text) in `extra`
EXTRACTOR_VERSION = read_with("4", "selectolax", text_rule=True)
PLATFORM = "mastodon"
ADDED_SINCE = (("poll",), ("media",))  # the `extra` keys versions 3 and 4 began to count
_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")  # what servers hand out; also safe inside a URL path
_STATUS_ID = re.compile(r"/(?:statuses|notice|@[^/]+)/([0-9A-Za-z]{1,64})(?:/activity)?$")
_REBLOG_BY = "#reblog-by-"  # a reblog served under the reblogged status's URI: `<that URI>#reblog-by-<id>`
_LOCATOR = re.compile(r"^@?(?P<user>[\w.-]+)@(?P<host>[\w.-]+(?::\d+)?)$")


OPTIONS = (
    Option("api_base", "url", None, "the server's address when it differs from the locator's; "
           "`/api/v1/…` is appended (a path is kept)", example='"https://social.example"',
           default_doc="the locator's server"),
    max_pages(5, "timeline pages the first run reads (backfill)"),
    Option("window_pages", "int", 1, "newest timeline pages read on later runs (where edits and deletions "
           "are seen)", low=1, high=100, example="2"),
    Option("limit", "int", 40, "statuses per page (Mastodon serves at most 40)", low=1, high=80, example="20"),
)


def locator_problem(locator: str) -> str | None:
    try:
        user, _ = account(Source(id="check", kind=PLATFORM, locator=locator))
    except ParseError as exc:
        return str(exc)
    if not re.fullmatch(r"[\w.-]+", user):  # an account URL with more after the user (a post's URL)
        return f"mastodon locator {locator!r}: use @user@server or https://server/@user"
    return None


def account(source: Source) -> tuple[str, str]:
    """(user, API base URL) from a locator `@user@server` or `https://server/@user`; the option
    `api_base` overrides the server's address."""
    locator = source.locator.strip()
    match = _LOCATOR.match(locator)
    if match:
        user, base = match["user"], f"https://{match['host']}"
    else:
        parts = urlsplit(locator)
        path = parts.path.strip("/")
        if parts.scheme not in ("http", "https") or not path.startswith("@"):
            raise ParseError(f"mastodon locator {locator!r}: use @user@server or https://server/@user")
        user, base = path[1:].split("@")[0], f"{parts.scheme}://{parts.netloc}"
    return user, str(source.options.get("api_base", base)).rstrip("/")


def plan(source: Source, view: ArchiveMemory) -> list[Request]:
    user, api = account(source)
    account_id = view.state(source.id, "account_id")
    if account_id is None:
        return [Request(f"{api}/api/v1/accounts/lookup?{urlencode({'acct': user})}", purpose="listing",
                        conditional=False, meta=(("step", "lookup"),))]
    return _timeline_requests(source, view, api, account_id)


def _timeline_requests(source: Source, view: ArchiveMemory, api: str, account_id: str) -> list[Request]:
    requests = [_statuses(source, api, account_id, {}, page=1, upper=None)]
    newest = view.state(source.id, "newest_id")
    if newest:
        requests.append(_statuses(source, api, account_id, {"min_id": newest}, page=1, upper=None))
    return requests


def _statuses(source: Source, api: str, account_id: str, params: dict[str, str], page: int,
              upper: str | None) -> Request:
    query = urlencode({"limit": str(source.options.get("limit", 40)), **params})
    mode = "min_id" if "min_id" in params else "window"
    return Request(f"{api}/api/v1/accounts/{account_id}/statuses?{query}", purpose="listing", conditional=False,
                   meta=(("page", page), ("upper", upper), ("mode", mode), ("account_id", account_id)))


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    _, api = account(source)
    if request.meta_dict().get("step") == "account":
        return _parse_account(request, exchange, api)
    if exchange.status == 401:
        raise ParseError(f"{exchange.requested_url}: HTTP 401: the server {urlsplit(api).netloc} refuses "
                         "logged-out API access; this account cannot be archived without an access token")
    if request.purpose == "confirm":
        return _parse_confirm(source, request, exchange, view, api)
    lookup = request.meta_dict().get("step") == "lookup"
    if lookup and exchange.status == 404:
        raise ParseError(f"{exchange.requested_url}: HTTP 404: no account {source.locator} on this server")
    body = load_json(exchange)
    where = exchange.requested_url
    if lookup:
        account_id = _opaque_id(need(body, "id", str, where), "account", where)
        return Parsed(Observation(state={"account_id": account_id}),
                      _timeline_requests(source, view, api, account_id))
    if request.purpose == "history":
        return _parse_history(source, request, body, where, view)
    if not isinstance(body, list):
        raise ParseError(f"{where}: expected a JSON list of statuses, got {type(body).__name__}")
    return _parse_statuses(source, request, exchange, view, api, body)


def _parse_statuses(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory, api: str,
                    body: list[Any]) -> Parsed:
    where = exchange.requested_url
    meta = request.meta_dict()
    posts, follow, seen, ids = [], [], set(), []
    for index, status in enumerate(body):
        status_where = f"{where}: [{index}]"
        post, status_id = _post(status, status_where, api)
        seen.add(post.native_id)
        ids.append(status_id)
        edited = opt(status, "edited_at", str, status_where) and not status.get("reblog")
        known = view.post(PLATFORM, post.native_id)
        latest = post.versions[-1]
        if edited and (known is None or known.content_sha256 != content_digest(latest.title, latest.text,
                                                                                 latest.extra)):
            # recorded from its history instead, so every version lands in order with its own time
            follow.append(Request(f"{api}/api/v1/statuses/{status_id}/history", purpose="history",
                                  conditional=False, meta=(("status", dumps(status)),)))
        else:
            posts.append(post)
    links = _links(exchange)
    state = {}
    if ids and meta["mode"] == "window" and meta["page"] == 1:
        # the first page of the window is the account's newest: its newest id is where the next
        # run's `min_id` poll starts (min_id pages only walk up to it)
        state["newest_id"] = links.get("prev", ids[0])
    page, max_pages = meta["page"], int(source.options.get("max_pages", 5))
    if meta["mode"] == "min_id":
        if ids and "prev" in links and page < max_pages:  # `prev` walks towards newer statuses
            follow.append(_statuses(source, api, meta["account_id"], {"min_id": links["prev"]}, page + 1, None))
        return Parsed(Observation(posts=posts, state=state), follow)
    newest = view.state(source.id, "newest_id")
    pages = max_pages if newest is None else int(source.options.get("window_pages", 1))
    more = bool(ids) and "next" in links
    if more and page < pages:
        follow.append(_statuses(source, api, meta["account_id"], {"max_id": links["next"]}, page + 1,
                                links["next"]))
    if ids or not more:
        # this page covers the statuses from the oldest it shows (`next`) up to where the previous
        # page ended; the last page covers everything older
        low = _order(links["next"]) if more else None
        high = _order(meta["upper"]) if meta["upper"] is not None else None
        local_ids = {p.native_id: local for p in view.posts_of_source(source.id)
                     if p.platform == PLATFORM and (local := _local_id(p.native_id, p.url)) is not None}
        known_order = [(native_id, _order(local)) for native_id, local in local_ids.items()]
        gone = tuple((native_id, local_ids[native_id]) for native_id in departed(known_order, seen, low, high))
        if gone:
            # a suspended account's timeline is empty and each of its statuses answers 404, as a deleted
            # one does: the account is asked first, so that a suspension is never taken for deletions
            follow.append(Request(f"{api}/api/v1/accounts/{meta['account_id']}", purpose="confirm",
                                  conditional=False, meta=(("step", "account"), ("departed", gone))))
    return Parsed(Observation(posts=posts, state=state), follow)


def _parse_account(request: Request, exchange: Exchange, api: str) -> Parsed:
    """The account's standing, before the statuses that left its timeline are asked about one by one:
    while it is suspended (Mastodon keeps its statuses, and restores them if the suspension is lifted)
    they are `missing`, not deleted."""
    departed_ids = request.meta_dict()["departed"]
    # an account gone altogether, or one the server shows only to the logged-in (some servers refuse
    # logged-out account lookups but serve public statuses): its statuses answer for themselves
    if exchange.status not in (401, 403, 404, 410):
        body = load_json(exchange)
        if opt(body, "suspended", bool, exchange.requested_url):
            return Parsed(Observation(gone=[
                Gone(PLATFORM, uri, False, "the account is suspended (GET /api/v1/accounts says so): "
                                           "the server withholds its statuses, deleted or not")
                for uri, _ in departed_ids]))
    return Parsed(follow=[Request(f"{api}/api/v1/statuses/{local}", purpose="confirm", conditional=False,
                                  meta=(("uri", uri),)) for uri, local in departed_ids])


def _parse_confirm(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory, api: str) -> Parsed:
    uri = request.meta_dict()["uri"]
    if exchange.status in (404, 410):
        return Parsed(Observation(gone=[Gone(PLATFORM, uri, True,
                                             f"GET /api/v1/statuses answered {exchange.status}")]))
    expect_ok(exchange)
    post, _ = _post(load_json(exchange), exchange.requested_url, api)
    return Parsed(Observation(posts=[post]))


def _parse_history(source: Source, request: Request, body: Any, where: str, view: ArchiveMemory) -> Parsed:
    status = json.loads(request.meta_dict()["status"])
    _, api = account(source)
    post, _ = _post(status, where, api)
    if not isinstance(body, list) or not body:
        raise ParseError(f"{where}: expected a non-empty JSON list of versions")
    versions = []
    for index, entry in enumerate(body):
        entry_where = f"{where}: [{index}]"
        content = need(entry, "content", str, entry_where)
        created = need(entry, "created_at", str, entry_where)
        versions.append(VersionDraft(text=html_to_text(content), extra=_extra(entry, entry_where), raw=dumps(entry),
                                     claimed_at=utc(created)))
    post.versions = versions
    _keep_held_readings(post, view)
    return Parsed(Observation(posts=[post]))


def _keep_held_readings(post: PostDraft, view: ArchiveMemory) -> None:
    """An edit history re-read after new content began to count must not record again the versions
    the archive already holds: the archive marks the first new reading `reextracted`, but would take
    the next one for an edit. So the versions up to the one the archive holds as current, read as the
    extractor that archived it read them (without the keys counted since), keep that reading; only the
    versions after it (real edits, some of them visible only in what is newly counted) carry them."""
    known = view.post(PLATFORM, post.native_id)
    if known is None or any(content_digest(v.title, v.text, v.extra) == known.content_sha256
                            for v in post.versions):
        return
    for since in range(len(ADDED_SINCE) - 1, -1, -1):  # version 3's reading, then version 2's
        dropped = {key for keys in ADDED_SINCE[since:] for key in keys}
        earlier = [{k: v for k, v in version.extra.items() if k not in dropped} for version in post.versions]
        held = [index for index, version in enumerate(post.versions)
                if content_digest(version.title, version.text, earlier[index]) == known.content_sha256]
        if held:
            # versions the earlier reading cannot tell apart were one version to the archive, the first
            # of them (a later one differs only in what is newly counted: an edit it could not see)
            last = held[-1]
            while last - 1 in held:
                last -= 1
            for index in range(last + 1):
                post.versions[index].extra = earlier[index]
            return


def _post(status: Any, where: str, api: str) -> tuple[PostDraft, str]:
    status_id = _opaque_id(need(status, "id", str, where), "status", where)
    created = need(status, "created_at", str, where)
    author = need(status, "account", dict, where)
    reblog = opt(status, "reblog", dict, where)
    shown = reblog or status
    shown_where = f"{where}: reblog" if reblog else where
    if reblog:
        reblog_uri = need(reblog, "uri", str, shown_where)
        native_id = _reblog_id(opt(status, "uri", str, where), status_id, reblog_uri)
    else:
        native_id = need(status, "uri", str, where)
    content = need(shown, "content", str, shown_where)
    edited = opt(shown, "edited_at", str, shown_where)
    post = PostDraft(platform=PLATFORM, native_id=native_id, url=opt(status, "url", str, where) or opt(
                         shown, "url", str, shown_where),
                     versions=[VersionDraft(text=html_to_text(content), extra=_extra(shown, shown_where),
                                            raw=dumps(status), claimed_at=utc(edited or created))],
                     author_id=need(author, "id", str, f"{where}: account"),
                     author_handle=need(author, "acct", str, f"{where}: account"),
                     author_name=opt(author, "display_name", str, f"{where}: account") or None,
                     published_at=utc(created), published_raw=created, published_where="created_at",
                     language=opt(shown, "language", str, shown_where),
                     extractor="mastodon", extractor_version=EXTRACTOR_VERSION)
    if reblog:
        post.repost_of = reblog_uri
    # Akkoma and Pleroma name what the API cannot give a local id (a parent not resolved, a quote) by its
    # ActivityPub id in their own blocks
    fork = {**_block(shown, "pleroma"), **_block(shown, "akkoma")}
    reply = opt(shown, "in_reply_to_id", str, shown_where)
    if reply == "_" and not reblog:  # Akkoma's id of a parent it could not fetch ("will always 404")
        post.reply_to = fork["in_reply_to_apid"] if isinstance(fork.get("in_reply_to_apid"), str) else None
    elif reply and not reblog:
        post.reply_to = f"{api}/api/v1/statuses/{reply}"  # the API names the parent only by its local id
    quote = opt(shown, "quote", dict, shown_where)
    # Mastodon 4.4: {state, quoted_status}; Akkoma: the quoted status itself; Pleroma: pleroma.quote_url
    quoted = (quote.get("quoted_status") if quote and "state" in quote else quote) or {}
    quote_uri = quoted.get("uri") if isinstance(quoted, dict) else None
    for key in ("quote_apid", "quote_url"):
        quote_uri = quote_uri or (fork[key] if isinstance(fork.get(key), str) else None)
    if isinstance(quote_uri, str) and not reblog:
        post.quote_of = quote_uri
    post.kind = post_kind(post)
    for attachment in items(shown, "media_attachments", shown_where, required=False):
        post.media.append({"type": attachment.get("type"), "url": attachment.get("url"),
                           "alt": attachment.get("description")})
    post.tags = [tag["name"] for tag in items(shown, "tags", shown_where, required=False)
                 if isinstance(tag.get("name"), str)]
    return post, status_id


def _block(status: dict[str, Any], name: str) -> dict[str, Any]:
    block = status.get(name)
    return block if isinstance(block, dict) else {}


def _reblog_id(uri: str | None, status_id: str, reblog_uri: str) -> str:
    """A reblog's identity: its own `uri` where that names the reblog itself, which the reblog's own
    id in it shows (Mastodon: `…/statuses/<id>/activity`, GoToSocial: `…/statuses/<id>`). Pleroma and
    Akkoma serve the reblogged status's URI as a reblog's `uri` (their status view renders an Announce
    with `uri: object.data["id"]`, the announced Note's): such a reblog, or one without a `uri`, is
    `<reblogged URI>#reblog-by-<id>`, the status it reblogs and this server's id of the reblog. Both
    parts are the server's own answer, not the archive's settings (an `api_base` moves; these do not),
    and the id in it is what the server is asked about when the reblog leaves the timeline."""
    if uri and uri != reblog_uri and _path_id(uri) == status_id:
        return uri
    return f"{reblog_uri}{_REBLOG_BY}{status_id}"


def _extra(status: dict[str, Any], where: str) -> dict[str, Any]:
    """Content besides the text that counts as an edit: the content warning, a poll's options (their
    titles; vote counts move on their own and are not content) and the media attachments, each by the
    server's id (a replaced image is a new attachment) and its alt text (editable since Mastodon 4.1).
    Only present keys are added, so a status without them keeps the content digest it had before they
    counted."""
    extra: dict[str, Any] = {}
    spoiler = opt(status, "spoiler_text", str, where)
    if spoiler:
        extra["spoiler_text"] = spoiler
    poll = opt(status, "poll", dict, where)
    if poll:
        options = [need(option, "title", str, f"{where}: poll.options[{index}]")
                   for index, option in enumerate(items(poll, "options", f"{where}: poll"))]
        if options:
            extra["poll"] = options
    media = [{"id": str(need(attachment, "id", (str, int), f"{where}: media_attachments[{index}]")),
              "alt": attachment.get("description") or ""}
             for index, attachment in enumerate(items(status, "media_attachments", where, required=False))]
    if media:
        extra["media"] = media
    return extra


def _opaque_id(value: str, what: str, where: str) -> str:
    if not _ID.match(value):
        raise ParseError(f"{where}: {what} id {value!r} is not an id (letters and digits)")
    return value


def _order(server_id: str) -> tuple[int, str]:
    """Where an id of this server stands in its paging order: digits (Mastodon), fixed-length ULIDs
    (GoToSocial) and base62 flake ids (Pleroma, Akkoma) all sort as shorter first, then as text."""
    return len(server_id), server_id


def _local_id(native_id: str, url: str | None) -> str | None:
    """The server's own id of a known status, for asking the server about it: a reblog keyed
    `…#reblog-by-<id>` names it; otherwise it is read from the URI or web URL (`/statuses/<id>`,
    `/@user/<id>`, `/notice/<id>`). A status whose URI is also its web URL and names no activity is a
    Pleroma reblog archived before reblogs were keyed apart (under the reblogged status's URI, whose id
    is another server's): it has no id here, and is never asked about."""
    _, marked, reblog_id = native_id.rpartition(_REBLOG_BY)
    if marked:
        return reblog_id if _ID.match(reblog_id) else None
    if url == native_id and not native_id.endswith("/activity"):
        return None
    for candidate in (native_id, url or ""):
        found = _path_id(candidate)
        if found:
            return found
    return None


def _path_id(uri: str) -> str | None:
    match = _STATUS_ID.search(uri)
    return match[1] if match else None


def _links(exchange: Exchange) -> dict[str, str]:
    """rel → the paging id (max_id for next, min_id for prev) of the `Link` header."""
    header = exchange.header("link")
    found: dict[str, str] = {}
    if not header:
        return found
    for link in parse_header_links(header):
        query = parse_qs(urlsplit(link.get("url", "")).query)
        rel = link.get("rel")
        key = {"next": "max_id", "prev": "min_id"}.get(rel or "")
        if key and query.get(key) and _ID.match(query[key][0]):
            found[str(rel)] = query[key][0]
    return found
