"""X (Twitter) API v2: a user's timeline polled incrementally with `since_id`, edit chains folded into
one post (identity = first id of `edit_history_tweet_ids`), deletions confirmed by the tweets lookup,
and a monthly read budget that stops the source before it overspends."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

from archiver.models import Exchange, Gone, Observation, PostDraft, Request, Source, VersionDraft, format_time, utcnow
from archiver.platforms import Parsed, ParseError, expect_ok
from archiver.platforms.kinds import post_kind
from archiver.platforms.memory import ArchiveMemory
from archiver.platforms.options import Option, max_pages
from archiver.platforms.social import base_url, dumps, items, load_json, need, numeric, opt, utc

UNEXPANDED = "+unexpanded"  # the reading of a repost whose original, or a poll the response did not expand
# 2: `&amp;`, `&lt;`, `&gt;` unescaped; 3: a repost's text is the complete original; 4: a poll's options
EXTRACTOR_VERSION = "4"
PLATFORM = "x"
DEFAULT_API = "https://api.x.com"
# `withheld` (the countries, or a copyright claim) and `possibly_sensitive` are kept in each raw fragment
TWEET_FIELDS = ("created_at,author_id,conversation_id,referenced_tweets,attachments,entities,edit_controls,"
                "note_tweet,lang,edit_history_tweet_ids,withheld,possibly_sensitive")
EXPANSIONS = "author_id,referenced_tweets.id,attachments.media_keys,attachments.poll_ids,edit_history_tweet_ids"
_FIELDS = {"tweet.fields": TWEET_FIELDS, "expansions": EXPANSIONS, "user.fields": "username,name",
           "media.fields": "type,url,preview_image_url,alt_text", "poll.fields": "options"}
MIN_RESULTS = 5  # the timeline refuses max_results below 5: a smaller remainder cannot be read
LOOKUP_MAX = 100
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITY_CHARS = {"amp": "&", "lt": "<", "gt": ">"}


def unescape(text: str) -> str:
    """A tweet's text as written: X escapes exactly `&`, `<` and `>` in `text` (API v2) and
    `full_text` (account archives), so those three are undone in one pass (`&amp;lt;` stays `&lt;`,
    as typed). Long-post note texts are taken as given: account archives do not escape them."""
    return _ENTITY.sub(lambda match: _ENTITY_CHARS[match[1]], text)


OPTIONS = (
    Option("api_base", "url", DEFAULT_API, "the API; `/2/users/…` and `/2/tweets?…` are appended (a path is kept)",
           example='"https://api.example/x"'),
    Option("token_env", "env", "X_BEARER_TOKEN", "the variable (environment, else secrets file) holding the "
           "bearer token", example='"X_TOKEN_UN"'),
    Option("monthly_read_budget", "int", 10_000, "posts read per calendar month before the source stops",
           low=1, high=100_000_000, example="1500"),
    max_pages(5, "timeline pages one run reads"),
    Option("recheck", "int", 20, "newest known posts looked up again each run to see deletions", low=0,
           high=1000, example="100"),
)
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


def locator_problem(locator: str) -> str | None:
    """A locator is the numeric user id, the username (`@` allowed) or the profile URL."""
    if numeric(locator) or _USERNAME.match(locator.lstrip("@").rsplit("/", 1)[-1]):
        return None
    return f"an x locator is a username (e.g. `@UN`), a profile URL or a numeric user id, got {locator!r}"


def plan(source: Source, view: ArchiveMemory) -> list[Request]:
    budget = _budget(source)
    used = _used(source, view)
    if budget - used < MIN_RESULTS:
        raise ParseError(f"monthly read budget {budget} reached ({used} posts read in {_month()}); "
                         "no request made")
    reset = view.state(source.id, "rate_limit_reset")
    if reset and reset > utcnow():
        raise ParseError(f"X rate limit exhausted until {reset}; no request made")
    api = base_url(source.options, "api_base", DEFAULT_API)
    user_id = source.locator if numeric(source.locator) else view.state(source.id, "user_id")
    if user_id is None:
        handle = source.locator.lstrip("@").rsplit("/", 1)[-1]
        return [_request(source, f"{api}/2/users/by/username/{handle}", "listing", (("step", "lookup"),))]
    return _first_requests(source, view, user_id, budget - used)


def _first_requests(source: Source, view: ArchiveMemory, user_id: str, remaining: int) -> list[Request]:
    requests = [_timeline(source, view, user_id, None, 1, remaining)]
    # the newest known posts are looked up again: a deleted one answers resource-not-found, and one
    # missing (X refused to show it) is shown again when its author is reinstated, which the timeline,
    # read only for what is newer, would never show
    known = sorted((int(p.native_id), p.native_id) for p in view.posts_of_source(source.id, ("live", "missing"))
                   if numeric(p.native_id))
    recheck = [native for _, native in reversed(known)][:int(source.options.get("recheck", 20))]
    recheck = recheck[:max(remaining - MIN_RESULTS, 0)]
    api = base_url(source.options, "api_base", DEFAULT_API)
    for start in range(0, len(recheck), LOOKUP_MAX):
        ids = recheck[start:start + LOOKUP_MAX]
        # asked for as the timeline is, so a tweet shown reads as the timeline read it: never a false edit
        requests.append(_request(source, f"{api}/2/tweets?" + urlencode({"ids": ",".join(ids), **_FIELDS}),
                                 "confirm", (("ids", tuple(ids)),)))
    return requests


def _timeline(source: Source, view: ArchiveMemory, user_id: str, token: str | None, page: int,
              remaining: int) -> Request:
    api = base_url(source.options, "api_base", DEFAULT_API)
    params = {"max_results": str(max(MIN_RESULTS, min(100, remaining))), **_FIELDS}
    since = view.state(source.id, "newest_id")
    if since:
        params["since_id"] = since
    if token:
        params["pagination_token"] = token
    return _request(source, f"{api}/2/users/{user_id}/tweets?{urlencode(params)}", "listing",
                    (("page", page), ("user_id", user_id)))


def _request(source: Source, url: str, purpose: str, meta: tuple[tuple[str, Any], ...] = ()) -> Request:
    return Request(url=url, purpose=purpose, secret=str(source.options.get("token_env", "X_BEARER_TOKEN")),
                   conditional=False, meta=meta)


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    _check_status(exchange)
    if request.meta_dict().get("step") == "lookup":
        return _parse_user(source, exchange, view)
    body = load_json(exchange)
    if not isinstance(body, dict):
        raise ParseError(f"{exchange.requested_url}: expected a JSON object, got {type(body).__name__}")
    reads = len(body.get("data") or []) if isinstance(body.get("data"), list) else 0
    month_key = f"reads_{_month()}"
    used = _used(source, view) + reads
    state = {month_key: str(used)}
    posts = posts_from_page(body, exchange.requested_url)
    if request.purpose == "confirm":  # a tweet shown is a sighting: of a missing one, its return
        return Parsed(Observation(posts=posts, gone=_gone(body, request, exchange), state=state))
    meta = request.meta_dict()
    page_meta = opt(body, "meta", dict, exchange.requested_url) or {}
    newest = opt(page_meta, "newest_id", str, f"{exchange.requested_url}: meta")
    known_newest = view.state(source.id, "newest_id")
    if meta["page"] == 1 and newest and numeric(newest) and (
            not known_newest or int(newest) > int(known_newest)):
        state["newest_id"] = newest
    follow: list[Request] = []
    token = opt(page_meta, "next_token", str, f"{exchange.requested_url}: meta")
    remaining = _budget(source) - used
    if exchange.header("x-rate-limit-remaining") == "0":
        state["rate_limit_reset"] = _reset_time(exchange)
    elif token and meta["page"] < int(source.options.get("max_pages", 5)) and remaining >= MIN_RESULTS:
        follow.append(_timeline(source, view, meta["user_id"], token, meta["page"] + 1, remaining))
    return Parsed(Observation(posts=posts, state=state), follow)


def _check_status(exchange: Exchange) -> None:
    if exchange.status == 429:
        raise ParseError(f"{exchange.requested_url}: HTTP 429: X rate limit reached until {_reset_time(exchange)}")
    if exchange.status in (401, 403):
        raise ParseError(f"{exchange.requested_url}: HTTP {exchange.status}: X refused the bearer token "
                         "(missing, expired, or without access to this endpoint)")
    expect_ok(exchange)


def _parse_user(source: Source, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    body = load_json(exchange)
    user = need(body, "data", dict, exchange.requested_url)
    user_id = need(user, "id", str, f"{exchange.requested_url}: data")
    if not numeric(user_id):
        raise ParseError(f"{exchange.requested_url}: data.id {user_id!r} is not a numeric user id")
    remaining = _budget(source) - _used(source, view)
    observation = Observation(state={"user_id": user_id})
    return Parsed(observation, _first_requests(source, view, user_id, remaining))


def _gone(body: dict[str, Any], request: Request, exchange: Exchange) -> list[Gone]:
    """A looked-up tweet X reports `resource-not-found` is deleted. One it refuses to show
    (`not-authorized-for-resource`: its author is suspended or protected) is `missing`, its reason
    X's own words: the tweet may still exist, but the public no longer sees it."""
    asked = set(request.meta_dict().get("ids", ()))
    gone = []
    for error in items(body, "errors", exchange.requested_url, required=False):
        resource = error.get("resource_id", error.get("value"))  # refusals name the tweet in `value` only
        if not isinstance(resource, str) or resource not in asked or error.get("resource_type", "tweet") != "tweet":
            continue
        kind = str(error.get("type", ""))
        if kind.endswith("/resource-not-found"):
            gone.append(Gone(PLATFORM, resource, True, "GET /2/tweets answered resource-not-found"))
        elif kind.endswith("/not-authorized-for-resource"):
            said = error.get("detail") if isinstance(error.get("detail"), str) else "not authorized"
            gone.append(Gone(PLATFORM, resource, False, f"GET /2/tweets answered not-authorized-for-resource: "
                                                         f"{said}"))
    return gone


def posts_from_page(page: dict[str, Any], where: str, provenance: dict[str, Any] | None = None) -> list[PostDraft]:
    """Posts of one API v2 response page (timeline, lookup, or a twarc2 line). Tweets of one edit
    chain, in `data` or expanded in `includes.tweets`, become one post with a version per edit."""
    tweets = items(page, "data", where, required=False)
    includes = opt(page, "includes", dict, where) or {}
    users = {u.get("id"): u for u in items(includes, "users", f"{where}: includes", required=False)}
    media = {m.get("media_key"): m for m in items(includes, "media", f"{where}: includes", required=False)}
    media.update({("poll", p.get("id")): p for p in items(includes, "polls", f"{where}: includes", required=False)})
    included = items(includes, "tweets", f"{where}: includes", required=False)
    chains: dict[str, dict[str, dict[str, Any]]] = {}
    order: list[str] = []
    for index, tweet in enumerate(tweets):
        tweet_where = f"{where}: data[{index}]"
        identity = _identity(tweet, tweet_where)
        if identity not in chains:
            chains[identity] = {}
            order.append(identity)
        chains[identity][tweet["id"]] = tweet
    identities = {tid: identity for identity, chain in chains.items() for tid in chain}
    for index, tweet in enumerate(included):
        identity = _identity(tweet, f"{where}: includes.tweets[{index}]")
        if identity in chains:
            chains[identity].setdefault(tweet["id"], tweet)
        identities.setdefault(tweet["id"], identity)
    originals = {t["id"]: t for t in included if isinstance(t.get("id"), str)}
    return [_post(identity, chains[identity], users, media, identities, originals, provenance, where)
            for identity in order]


def _identity(tweet: dict[str, Any], where: str) -> str:
    tweet_id = need(tweet, "id", str, where)
    if not numeric(tweet_id):
        raise ParseError(f"{where}: id {tweet_id!r} is not numeric")
    history = opt(tweet, "edit_history_tweet_ids", list, where)
    if history:
        if not all(isinstance(i, str) and numeric(i) for i in history):
            raise ParseError(f"{where}: edit_history_tweet_ids must be a list of numeric strings")
        return min(history, key=int)
    return tweet_id


def _text(tweet: dict[str, Any], where: str) -> str:
    text = unescape(need(tweet, "text", str, where))
    note = opt(tweet, "note_tweet", dict, where)
    if note and isinstance(note.get("text"), str):
        text = note["text"]  # long posts: `text` is only the first 280 characters
    return text


def _post(identity: str, chain: dict[str, dict[str, Any]], users: dict[Any, Any], media: dict[Any, Any],
          identities: dict[str, str], originals: dict[str, dict[str, Any]], provenance: dict[str, Any] | None,
          where: str) -> PostDraft:
    ordered = sorted(chain.values(), key=lambda t: int(t["id"]))
    versions = []
    for tweet in ordered:
        text = _text(tweet, f"{where}: tweet {tweet['id']}")
        reposted = [ref for ref in items(tweet, "referenced_tweets", f"{where}: tweet {tweet['id']}",
                                         required=False) if ref.get("type") == "retweeted"]
        # a repost's own `text` is "RT @user: " and the original cut at 140 characters with "…": the
        # original, expanded beside it (in `includes.tweets`, or in the reference itself in twarc's
        # flattened lines), says what was reposted in full, as a Bluesky repost does
        original = originals.get(reposted[0].get("id"), reposted[0]) if reposted else None
        expanded = original is not None and isinstance(original.get("text"), str)
        if expanded:
            text = _text(original, f"{where}: the reposted tweet {reposted[0].get('id')}")
        raw = {"tweet": tweet, "__twarc": provenance} if provenance else tweet
        # not expanded (deleted, withheld, or not asked for): X's cut text, which a repost, never edited,
        # must not replace the original's complete text with
        poll, polls_expanded = _poll(tweet, media, where)
        versions.append(VersionDraft(text=text, extra={"id": tweet["id"], **poll}, raw=dumps(raw),
                                     claimed_at=utc(opt(tweet, "created_at", str, where)),
                                     partial=(bool(reposted) and not expanded) or not polls_expanded))
    latest = ordered[-1]
    tweet_where = f"{where}: tweet {latest['id']}"
    author_id = opt(latest, "author_id", str, tweet_where)
    user = users.get(author_id) or {}
    handle = user.get("username") if isinstance(user.get("username"), str) else None
    name = user.get("name") if isinstance(user.get("name"), str) else None
    post = PostDraft(platform=PLATFORM, native_id=identity, versions=versions,
                     url=f"https://x.com/{handle or 'i/web'}/status/{identity}", author_id=author_id,
                     author_handle=handle, author_name=name, language=opt(latest, "lang", str, tweet_where),
                     extractor="x", extractor_version=EXTRACTOR_VERSION)
    if any(version.partial for version in versions):
        # its reading is another extractor's: the complete text read later is `reextracted`, not an edit
        post.extractor_version = f"{EXTRACTOR_VERSION}{UNEXPANDED}"
    first = ordered[0]
    created = opt(first, "created_at", str, tweet_where)
    post.published_at, post.published_raw = utc(created), created
    if created and first["id"] != identity:
        # only later versions were in the response: an edit's time, which the publication preceded
        post.published_where = (f"created_at of tweet {first['id']}, an edit: the chain's first tweet "
                                f"{identity} was not in the response, so published before this")
    elif created:
        post.published_where = "created_at of the first tweet of the edit chain"
    for ref in items(latest, "referenced_tweets", tweet_where, required=False):
        ref_id = ref.get("id")
        if not isinstance(ref_id, str):
            raise ParseError(f"{tweet_where}: referenced_tweets: id must be a string")
        target = identities.get(ref_id, ref_id)
        if ref.get("type") == "replied_to":
            post.reply_to = target
        elif ref.get("type") == "quoted":
            post.quote_of = target
        elif ref.get("type") == "retweeted":
            post.repost_of = target
    post.kind = post_kind(post)
    attachments = opt(latest, "attachments", dict, tweet_where) or {}
    for key in opt(attachments, "media_keys", list, tweet_where) or []:
        item = media.get(key)
        if isinstance(item, dict):
            post.media.append({"type": item.get("type"), "url": item.get("url") or item.get("preview_image_url"),
                               "alt": item.get("alt_text")})
        else:
            post.media.append({"media_key": key})
    return post


def _poll(tweet: dict[str, Any], expanded: dict[Any, Any], where: str) -> tuple[dict[str, Any], bool]:
    """A poll's options, in order, as content (`extra.poll`, as Mastodon's and Telegram's: the tweet's own
    text often only asks the question), and whether the response expanded every poll of the tweet. Vote
    counts move on their own and are not content; a poll not expanded is named by its id, and its reading
    is partial (models.VersionDraft): it never makes a version of a tweet the archive holds."""
    attachments = opt(tweet, "attachments", dict, where) or {}
    polls: list[Any] = []
    for poll_id in opt(attachments, "poll_ids", list, where) or []:
        poll = expanded.get(("poll", poll_id))
        options = poll.get("options") if isinstance(poll, dict) else None
        if isinstance(options, list) and all(isinstance(o, dict) for o in options):
            polls.append([str(o.get("label")) for o in sorted(options, key=lambda o: o.get("position") or 0)])
        else:
            polls.append({"poll_id": poll_id})
    complete = not any(isinstance(poll, dict) for poll in polls)
    return ({"poll": polls[0] if len(polls) == 1 else polls} if polls else {}), complete


def _budget(source: Source) -> int:
    return int(source.options.get("monthly_read_budget", 10_000))


def _month() -> str:
    return utcnow()[:7]


def _used(source: Source, view: ArchiveMemory) -> int:
    value = view.state(source.id, f"reads_{_month()}")
    return int(value) if value and numeric(value) else 0


def _reset_time(exchange: Exchange) -> str:
    value = exchange.header("x-rate-limit-reset")
    if value and numeric(value):
        return format_time(dt.datetime.fromtimestamp(int(value), dt.UTC))
    return format_time(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15))  # X's window when unstated
