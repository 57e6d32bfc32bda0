"""Telegram public channels through their web preview (t.me/s/<channel>): messages paged with
`before=`, edits seen as text changes (and the "edited" marker), and a known message absent from an
id range already shown recorded as missing, then as deleted once its own page confirms it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from archiver.models import Exchange, Gone, Observation, PostDraft, Request, Source, VersionDraft
from archiver.platforms import Parsed, ParseError, expect_ok, read_with
from archiver.platforms.kinds import post_kind
from archiver.platforms.memory import ArchiveMemory
from archiver.platforms.options import Option, max_pages
from archiver.platforms.social import base_url, departed, numeric, utc
from archiver.platforms.text import html_to_text, node_text

# 2: the shared HTML->text rule; 3: link targets in `extra`, URLs from the base;
# 4: the page's charset read as browsers read it (archiver.fetch.charset); 5: a reply's own text (not the
# parent it quotes), the "edited" marker beside a signature, the signature, a poll's question and options,
# documents, audio and media the preview cannot show; 6: a page claimed UTF-8 stays UTF-8 despite a few
# stray bytes
EXTRACTOR_VERSION = read_with("6", "selectolax", text_rule=True)
PLATFORM = "telegram"
DEFAULT_BASE = "https://t.me"
TELEGRAM_HOSTS = ("t.me", "telegram.me")
_CHANNEL = re.compile(r"^[A-Za-z0-9_]{3,64}$")
_POST = re.compile(r"^([A-Za-z0-9_]+)/([0-9]+)$")
_URL_IN_STYLE = re.compile(r"url\(['\"]?([^'\")]+)")
_EDITED = re.compile(r"\bedited\b", re.IGNORECASE)


OPTIONS = (
    Option("base_url", "url", DEFAULT_BASE, "the web preview's address, a path allowed (a mirror or a proxy); "
           "`s/<channel>` and `<channel>/<id>?embed=1` are appended; post URLs are `https://t.me/…` only for "
           "t.me itself, else built from this base", example='"http://127.0.0.1:8080/tg/"'),
    max_pages(3, "preview pages (about 20 messages each) one run reads"),
)


def locator_problem(locator: str) -> str | None:
    try:
        channel(Source(id="check", kind=PLATFORM, locator=locator))
    except ParseError as exc:
        return str(exc)
    return None


def channel(source: Source) -> str:
    """The channel name from a locator `name`, `@name` or `https://t.me/[s/]name`."""
    locator = source.locator.strip()
    if "://" in locator:
        parts = [p for p in urlsplit(locator).path.split("/") if p]
        locator = parts[-1] if parts else ""
    name = locator.lstrip("@")
    if not _CHANNEL.match(name):
        raise ParseError(f"telegram locator {source.locator!r}: not a channel name")
    return name


def plan(source: Source, view: ArchiveMemory) -> list[Request]:
    return [_page(source, None, 1, None)]


def _page(source: Source, before: int | None, page: int, upper: int | None) -> Request:
    base = base_url(source.options, "base_url", DEFAULT_BASE)
    query = f"?{urlencode({'before': before})}" if before else ""
    return Request(f"{base}/s/{channel(source)}{query}", purpose="listing", conditional=False,
                   meta=(("page", page), ("upper", upper)))


def parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed:
    if request.purpose == "confirm":
        return _parse_confirm(source, request, exchange)
    expect_ok(exchange)
    where = exchange.requested_url
    final = urlsplit(exchange.final_url or exchange.requested_url)
    if final.path.rstrip("/").lower() != urlsplit(request.url).path.rstrip("/").lower():
        raise ParseError(f"{where}: redirected to {exchange.final_url}: the channel has no public preview "
                         "(private, restricted or a login wall)")
    tree = LexborHTMLParser(exchange.text())
    nodes = tree.css("div.tgme_widget_message[data-post]")
    if not nodes and tree.css_first(".tgme_channel_info") is None:
        raise ParseError(f"{where}: no channel preview on the page (a login wall or not a public channel)")
    name = channel(source)
    posts = [_message(source, node, f"{where}: message #{index + 1}") for index, node in enumerate(nodes)]
    posts = [post for post in posts if post.native_id.split("/")[0].lower() == name.lower()]
    numbers = [int(post.native_id.split("/")[1]) for post in posts]
    meta = request.meta_dict()
    follow: list[Request] = []
    more = tree.css_first("a.tme_messages_more[data-before]")
    before = more.attributes.get("data-before") if more is not None else None
    if numbers and before and numeric(before) and meta["page"] < int(source.options.get("max_pages", 3)):
        follow.append(_page(source, int(before), meta["page"] + 1, min(numbers)))
    gone: list[Gone] = []
    if numbers:
        # ids between the oldest message shown and the start of the previous page were all shown:
        # a known message in that range that is absent is missing (service messages never had a post)
        upper = meta["upper"] if meta["upper"] is not None else max(numbers) + 1
        known = [(p.native_id, int(p.native_id.split("/")[1])) for p in view.posts_of_source(source.id, ("live",))
                 if p.platform == PLATFORM and _POST.match(p.native_id)
                 and p.native_id.split("/")[0].lower() == name.lower()]
        base = base_url(source.options, "base_url", DEFAULT_BASE)
        for native_id in departed(known, {p.native_id for p in posts}, min(numbers), upper):
            gone.append(Gone(PLATFORM, native_id, False, f"absent from the preview's ids {min(numbers)}–{upper - 1}"))
            chan, number = native_id.split("/")
            follow.append(Request(f"{base}/{chan}/{number}?embed=1", purpose="confirm", conditional=False,
                                  meta=(("native_id", native_id),)))
    return Parsed(Observation(posts=posts, gone=gone), follow)


def _parse_confirm(source: Source, request: Request, exchange: Exchange) -> Parsed:
    native_id = request.meta_dict()["native_id"]
    if exchange.status == 404:
        return Parsed(Observation(gone=[Gone(PLATFORM, native_id, True, "its t.me page answered 404")]))
    expect_ok(exchange)
    tree = LexborHTMLParser(exchange.text())
    node = tree.css_first(f'div.tgme_widget_message[data-post="{native_id}"]')
    if node is not None and tree.css_first(".tgme_widget_message_error") is None:
        return Parsed(Observation(posts=[_message(source, node, exchange.requested_url)]))
    error = tree.css_first(".tgme_widget_message_error")
    if error is None and tree.css_first(".tgme_widget_message") is None and b"not found" not in (exchange.body or b""):
        raise ParseError(f"{exchange.requested_url}: neither the message nor a 'not found' notice on the page")
    said = error.text(strip=True) if error is not None else "no message"
    return Parsed(Observation(gone=[Gone(PLATFORM, native_id, True, f"its t.me embed page says: {said}")]))


def post_url(source: Source, post_id: str) -> str:
    """A message's address: `https://t.me/<channel>/<id>` when the source reads Telegram itself, else
    under the configured `base_url` (a mirror or proxy), so the stored URL is the one that was read."""
    base = base_url(source.options, "base_url", DEFAULT_BASE)
    if (urlsplit(base).hostname or "").lower() in TELEGRAM_HOSTS:
        base = DEFAULT_BASE
    return f"{base}/{post_id}"


def _message(source: Source, node: LexborNode, where: str) -> PostDraft:
    post_id = node.attributes.get("data-post") or ""
    match = _POST.match(post_id)
    if not match:
        raise ParseError(f"{where}: data-post {post_id!r} is not channel/number")
    chan = match[1]
    text_node = _own_text(node)
    text = _text(text_node) if text_node is not None else ""
    time_node = node.css_first("a.tgme_widget_message_date time[datetime]")
    published_raw = time_node.attributes.get("datetime") if time_node is not None else None
    owner = node.css_first(".tgme_widget_message_owner_name")
    extra: dict[str, Any] = {"edited": True} if _edited(node) else {}
    links = [a.attributes.get("href") or "" for a in text_node.css("a[href]")] if text_node is not None else []
    if links:  # where the text's links lead is content: a changed target is an edit
        extra["links"] = links
    signature = node.css_first(".tgme_widget_message_meta .tgme_widget_message_from_author")
    if node_text(signature):  # the admin who posted, in a signed channel
        extra["signed_by"] = node_text(signature)
    poll = node.css_first(".tgme_widget_message_poll")
    if poll is not None:  # a poll has no message text: its question is the text, its options content
        question = poll.css_first(".tgme_widget_message_poll_question")
        text = text or (html_to_text(question.html) if question is not None else "")
        extra["poll"] = [node_text(option) for option in poll.css(".tgme_widget_message_poll_option_text")]
    post = PostDraft(platform=PLATFORM, native_id=post_id, url=post_url(source, post_id),
                     versions=[VersionDraft(text=text, extra=extra, raw=node.html)],
                     author_id=chan, author_handle=chan, author_name=owner.text(strip=True) if owner else None,
                     published_at=utc(published_raw), published_raw=published_raw,
                     published_where="a.tgme_widget_message_date > time[datetime]" if published_raw else None,
                     extractor="telegram", extractor_version=EXTRACTOR_VERSION)
    forwarded = node.css_first("a.tgme_widget_message_forwarded_from_name[href]")
    reply = node.css_first("a.tgme_widget_message_reply[href]")
    post.repost_of = _post_ref(forwarded.attributes.get("href")) if forwarded is not None else None
    post.reply_to = _post_ref(reply.attributes.get("href")) if reply is not None else None
    if forwarded is not None and post.repost_of is None:
        post.repost_of = forwarded.text(strip=True) or None  # forwarded from a user: only a name
    post.kind = post_kind(post)
    for photo in node.css("a.tgme_widget_message_photo_wrap"):
        found = _URL_IN_STYLE.search(photo.attributes.get("style") or "")
        post.media.append({"type": "image", "url": found[1] if found else None})
    for video in node.css("video[src]"):
        post.media.append({"type": "video", "url": video.attributes.get("src")})
    for preview in node.css("a.tgme_widget_message_link_preview[href]"):
        title = preview.css_first(".link_preview_title")
        post.media.append({"type": "link", "url": preview.attributes.get("href"),
                           "title": title.text(strip=True) if title is not None else None})
    for document in node.css(".tgme_widget_message_document"):
        title, size = document.css_first(".tgme_widget_message_document_title"), document.css_first(
            ".tgme_widget_message_document_extra")
        wrap = document.parent
        post.media.append({"type": "document", "title": node_text(title) if title is not None else None,
                           "size": node_text(size) if size is not None else None,
                           "url": wrap.attributes.get("href") if wrap is not None else None})
    for audio in node.css("audio[src]"):
        post.media.append({"type": "audio", "url": audio.attributes.get("src")})
    for place in node.css("a.tgme_widget_message_location_wrap[href]"):  # a shared location: its map link
        post.media.append({"type": "location", "url": place.attributes.get("href")})
    if node.css_first(".tgme_widget_message_sticker_wrap") is not None:
        post.media.append({"type": "sticker", "url": None})
    else:  # media the preview does not show ("Media is too big", "Please open Telegram to view this post"):
        # named, so an empty or short text is not taken for the whole message
        for label in node.css(".message_media_not_supported_label"):
            post.media.append({"type": "not_shown", "label": node_text(label)})
    return post


def _post_ref(href: str | None) -> str | None:
    if not href:
        return None
    parts = [p for p in urlsplit(href).path.split("/") if p]
    ref = "/".join(parts[-2:]) if len(parts) >= 2 else ""
    return ref if _POST.match(ref) else None


def _edited(node: LexborNode) -> bool:
    """The preview writes "edited" as text of the message's meta line, after the signature of a signed
    channel (`<span class=from_author>Name</span>, edited <a class=date>`): only the line's own text is
    read, so neither a signature nor the date can hide or fake it."""
    meta = node.css_first(".tgme_widget_message_meta")
    if meta is None:
        return False
    return bool(_EDITED.search(meta.text(deep=False))) or meta.css_first(".tgme_widget_message_edited") is not None


def _own_text(node: LexborNode) -> LexborNode | None:
    """The message's own text. A reply quotes its parent in the same class (`tgme_widget_message_text
    js-message_reply_text`, inside `.tgme_widget_message_reply`), before the message's text: the first
    match would archive the parent's words as the reply's."""
    for candidate in node.css(".tgme_widget_message_text"):
        if "js-message_reply_text" in (candidate.attributes.get("class") or "").split():
            continue
        parent = candidate.parent
        while parent is not None and parent != node:
            if "tgme_widget_message_reply" in (parent.attributes.get("class") or "").split():
                break
            parent = parent.parent
        else:
            return candidate
    return None


def _text(node: LexborNode) -> str:
    return html_to_text(node.html)
