"""Telegram channel previews: pages built from the real message fixtures, served on loopback and
polled twice (one message edited, one deleted: missing first, then confirmed by its embed page)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from archiver.archive import Archive
from archiver.canonical import content_digest
from archiver.models import Request, Source
from archiver.platforms import ParseError, telegram
from archiver.view import ArchiveView
from tests.conftest import FIXTURES
from tests.loopback import LoopbackServer, Reply
from tests.social_loop import PathRoutes, events, exchange, poll, rows

TEMPLATE = (FIXTURES / "telegram" / "message_text.html").read_text()
FORWARDED = (FIXTURES / "telegram" / "message_media_forwarded_from.html").read_text()
LINK_PREVIEW = (FIXTURES / "telegram" / "message_link_preview.html").read_text()
SIGNED = (FIXTURES / "telegram" / "message_with_from_author.html").read_text()
POLL = (FIXTURES / "telegram" / "message_poll.html").read_text()
DOCUMENT = (FIXTURES / "telegram" / "message_media_file.html").read_text()
SIGNED_EDITED = SIGNED.replace("rkadiy Ivanov</span>,&nbsp;<a", "rkadiy Ivanov</span>,&nbsp;edited &nbsp;<a")
CHANNEL = "topwar_official"


def message(number: int, text: str, edited: bool = False) -> str:
    """The real message block with its id, text and (optionally) the "edited" marker changed."""
    html = TEMPLATE.replace(f"{CHANNEL}/70991", f"{CHANNEL}/{number}")
    html = re.sub(r'(<div class="tgme_widget_message_text js-message_text" dir="auto">).*?(</div>)',
                  lambda m: m[1] + text + m[2], html, flags=re.S)
    if edited:
        html = html.replace('<span\n                        class="tgme_widget_message_meta">',
                            '<span\n                        class="tgme_widget_message_meta">edited ')
        assert "meta\">edited" in html
    return html


def page(messages: list[str], before: int | None) -> bytes:
    more = (f'<a class="tme_messages_more js-messages_more" data-before="{before}" '
            f'href="/s/{CHANNEL}?before={before}"></a>') if before else ""
    return (f'<!DOCTYPE html><html><body><div class="tgme_channel_info"><div class="tgme_channel_info_header_title">'
            f'Военное обозрение</div></div><section class="tgme_channel_history js-message_history">{more}'
            f'{"".join(messages)}</section></body></html>').encode()


def source(base: str, **options: Any) -> Source:
    return Source(id="tg", kind="telegram", locator=f"https://t.me/s/{CHANNEL}", options={"base_url": base,
                                                                                       **options})


def test_two_polls_record_an_edit_and_a_deletion_missing_then_confirmed(db_path: Path) -> None:
    newest = {70991: message(70991, "First"), 70992: message(70992, "Second"), 70993: message(70993, "Third"),
              70995: message(70995, "Fifth")}  # 70994 never appears: a service message
    older = [message(70988, "Older"), message(70990, "Old")]

    def channel(query: dict[str, Any], _: Any) -> Reply:
        if query.get("before") == "70991":
            return Reply(200, page(older, None), {"Content-Type": "text/html; charset=utf-8"})
        return Reply(200, page(list(newest.values()), 70991), {"Content-Type": "text/html; charset=utf-8"})

    not_found = b'<html><body><div class="tgme_widget_message_error">Post not found</div></body></html>'
    with LoopbackServer() as server:
        server.routes = PathRoutes({f"/s/{CHANNEL}": channel,
                                    f"/{CHANNEL}/70993": Reply(200, not_found, {"Content-Type": "text/html"})})
        first = poll(db_path, source(server.base))
        assert (first.outcome, first.new, first.requests) == ("ok", 6, 2)
        newest[70992] = message(70992, "Second, corrected", edited=True)
        del newest[70993]
        second = poll(db_path, source(server.base))
        assert len(server.hits(f"/{CHANNEL}/70993?embed=1")) == 1
    assert (second.outcome, second.edited, second.missing, second.deleted) == ("ok", 1, 1, 1), second.problems
    posts = {row[0]: row[1:] for row in rows(
        db_path, "SELECT native_id, kind, status, author_handle, author_name, version_count, text, published_at "
                 "FROM posts")}
    assert len(posts) == 6
    assert posts[f"{CHANNEL}/70992"] == ("post", "live", CHANNEL, "Военное обозрение", 2, "Second, corrected",
                                         "2023-02-28T08:48:01.000000Z")
    assert posts[f"{CHANNEL}/70993"][1] == "deleted"
    assert events(db_path, f"{CHANNEL}/70993") == ["first_seen", "missing", "deleted"]
    assert events(db_path, f"{CHANNEL}/70992") == ["first_seen", "edited"]
    assert rows(db_path, "SELECT v.extra FROM versions v JOIN posts p ON p.id = v.post_id "
                         "WHERE p.native_id = ? ORDER BY v.number", f"{CHANNEL}/70992") == [(None,),
                                                                                          ('{"edited":true}',)]
    raw, = rows(db_path, "SELECT v.raw FROM versions v JOIN posts p ON p.id = v.post_id WHERE p.native_id = ?",
                f"{CHANNEL}/70995")[0]
    assert raw.startswith('<div class="tgme_widget_message') and f'data-post="{CHANNEL}/70995"' in raw


def test_a_channel_without_public_preview_is_a_recorded_failure(db_path: Path) -> None:
    with LoopbackServer() as server:
        server.routes = PathRoutes({f"/s/{CHANNEL}": Reply(302, b"", {"Location": f"/{CHANNEL}"}),
                                    f"/{CHANNEL}": Reply(200, b"<html><body><a>Log in</a></body></html>")})
        report = poll(db_path, source(server.base))
    assert report.outcome == "failed"
    assert "the channel has no public preview" in (report.error or "")
    assert rows(db_path, "SELECT outcome FROM runs") == [("failed",)]



def test_forwards_photos_and_link_previews(view: ArchiveView) -> None:
    src = Source(id="tg", kind="telegram", locator="oper_goblin")
    request = telegram.plan(src, view)[0]
    assert request.url == "https://t.me/s/oper_goblin"
    body = page([FORWARDED, LINK_PREVIEW], None)
    forwarded, linked = telegram.parse(src, request, exchange(request.url, body), view).observation.posts
    assert (forwarded.native_id, forwarded.kind, forwarded.repost_of) == ("oper_goblin/22358", "repost",
                                                                          "dimsmirnov175/44604")
    assert forwarded.media[0]["type"] == "image" and forwarded.media[0]["url"].startswith("https://cdn4.")
    assert forwarded.published_where == "a.tgme_widget_message_date > time[datetime]"
    assert linked.media == [{"type": "link", "url": "https://vnnews.ru/georgiy-zotov-okkupaciya-volosatym-kr/",
                             "title": "Георгий Зотов: ОККУПАЦИЯ ВОЛОСАТЫМ КРАБОМ"}]


def test_login_walls_and_other_pages_are_clear_errors(view: ArchiveView) -> None:
    src = source("https://t.me")
    request = telegram.plan(src, view)[0]
    with pytest.raises(ParseError, match=r"redirected to https://t\.me/topwar_official"):
        telegram.parse(src, request, exchange(request.url, "<html></html>", final_url=f"https://t.me/{CHANNEL}"),
                       view)
    with pytest.raises(ParseError, match="no channel preview on the page"):
        telegram.parse(src, request, exchange(request.url, "<html><body>Please log in</body></html>"), view)
    confirm = Request("https://t.me/topwar_official/5?embed=1", purpose="confirm",
                      meta=(("native_id", "topwar_official/5"),))
    gone, = telegram.parse(src, confirm, exchange(confirm.url, b"", 404), view).observation.gone
    assert gone.confirmed


def test_locators_and_options() -> None:
    for locator in ("topwar_official", "@topwar_official", "https://t.me/topwar_official"):
        assert telegram.channel(Source(id="t", kind="telegram", locator=locator)) == "topwar_official"
    with pytest.raises(ParseError, match="not a channel name"):
        telegram.channel(Source(id="t", kind="telegram", locator="https://t.me/"))


def test_a_base_url_with_a_path_works_and_names_the_posts_it_read(db_path: Path) -> None:
    """docs/platforms.md allows `base_url` with a path (a mirror or a proxy): the preview lives under
    it, deletion checks go to it, and stored post URLs are built from it."""
    newest = {70991: message(70991, "First"), 70992: message(70992, "Second"), 70993: message(70993, "Third")}

    def channel(query: dict[str, Any], _: Any) -> Reply:
        return Reply(200, page(list(newest.values()), None), {"Content-Type": "text/html; charset=utf-8"})

    not_found = b'<html><body><div class="tgme_widget_message_error">Post not found</div></body></html>'
    with LoopbackServer() as server:
        server.routes = PathRoutes({f"/tg/s/{CHANNEL}": channel,
                                    f"/tg/{CHANNEL}/70992": Reply(200, not_found, {"Content-Type": "text/html"})})
        first = poll(db_path, source(f"{server.base}/tg/"))
        del newest[70992]
        second = poll(db_path, source(f"{server.base}/tg/"))
        assert len(server.hits(f"/tg/{CHANNEL}/70992?embed=1")) == 1
    assert (first.outcome, first.new) == ("ok", 3), first.problems
    assert (second.outcome, second.deleted) == ("ok", 1), second.problems
    assert dict(rows(db_path, "SELECT native_id, url FROM posts")) == {
        f"{CHANNEL}/{n}": f"{server.base}/tg/{CHANNEL}/{n}" for n in (70991, 70992, 70993)}


def test_post_urls_are_canonical_for_telegram_itself() -> None:
    for base in ("https://t.me", "https://t.me/", "http://telegram.me"):
        src = Source(id="t", kind="telegram", locator=CHANNEL, options={"base_url": base})
        assert telegram.post_url(src, f"{CHANNEL}/5") == f"https://t.me/{CHANNEL}/5"
    assert telegram.post_url(Source(id="t", kind="telegram", locator=CHANNEL), f"{CHANNEL}/5") == (
        f"https://t.me/{CHANNEL}/5")


def test_link_targets_of_the_text_are_content_and_plain_messages_keep_their_digest(view: ArchiveView) -> None:
    src = Source(id="tg", kind="telegram", locator="oper_goblin")
    request = telegram.plan(src, view)[0]
    linked, = telegram.parse(src, request, exchange(request.url, page([LINK_PREVIEW], None)), view).observation.posts
    assert linked.versions[0].extra == {"links": ["https://vnnews.ru/georgiy-zotov-okkupaciya-volosatym-kr/"]}
    plain_src = source("https://t.me")
    plain_request = telegram.plan(plain_src, view)[0]
    plain, = telegram.parse(plain_src, plain_request, exchange(plain_request.url, page([TEMPLATE], None)),
                            view).observation.posts
    assert plain.versions[0].extra == {}  # no links: the same content digest as before links counted
    assert content_digest(None, plain.versions[0].text, plain.versions[0].extra) == content_digest(
        None, plain.versions[0].text, None)


def read_messages(blocks: list[str], view: ArchiveView, locator: str = "channel") -> list[Any]:
    src = Source(id="tg", kind="telegram", locator=locator)
    request = telegram.plan(src, view)[0]
    return telegram.parse(src, request, exchange(request.url, page(blocks, None)), view).observation.posts


def test_a_signed_channel_s_edited_marker_is_read_past_the_signature(view: ArchiveView) -> None:
    """The preview writes a signed channel's meta line as `<signature>, edited <date>` (the real markup
    of a signed message, with the marker where Telegram puts it): the marker is seen, the signature is
    kept as content, and a signature that says "edited" is no marker."""
    assert SIGNED_EDITED != SIGNED
    signed, = read_messages([SIGNED], view)
    assert signed.versions[0].extra == {"signed_by": "🅰️rkadiy Ivanov"}
    assert (signed.versions[0].text, signed.author_name) == ("test", "Channel title")
    edited, = read_messages([SIGNED_EDITED], view)
    assert edited.versions[0].extra == {"edited": True, "signed_by": "🅰️rkadiy Ivanov"}
    named, = read_messages([SIGNED.replace("rkadiy Ivanov</span>", "Edited Desk</span>")], view)
    assert named.versions[0].extra == {"signed_by": "🅰️Edited Desk"}
    plain, = read_messages([message(70991, "First", edited=True)], view, CHANNEL)
    assert plain.versions[0].extra == {"edited": True}


def test_a_poll_s_question_and_options_and_a_document_are_archived(view: ArchiveView) -> None:
    poll_post, = read_messages([POLL], view, "it_begin")
    assert poll_post.versions[0].text == "Как лучше?"
    assert poll_post.versions[0].extra == {"poll": ["Несколько постов в день", "Один пост в несколько дней",
                                                   "Свой вариант в комментарии"]}
    document, = read_messages([DOCUMENT], view, "oper_goblin")
    assert document.media == [{"type": "document", "title": "Оппозиционные медиапроекты.pdf", "size": "2.1 MB",
                               "url": "https://t.me/oper_goblin/16936"}]
    assert " ".join(document.versions[0].text.split()).startswith(  # (the fixture's markup is wrapped)
        "Центр изучения новых коммуникаций подготовил исследование")


def test_media_the_preview_does_not_show_is_named(view: ArchiveView) -> None:
    hidden = re.sub(r'<div class="tgme_widget_message_text js-message_text" dir="auto">.*?</div>',
                    '<div class="message_media_not_supported_wrap"><div class="message_media_not_supported">'
                    '<div class="message_media_not_supported_label">Please open Telegram to view this post</div>'
                    '<a href="https://t.me/topwar_official/70991" class="message_media_view_in_telegram">VIEW IN '
                    'TELEGRAM</a></div></div>', TEMPLATE, flags=re.S)
    post, = read_messages([hidden], view, CHANNEL)
    assert (post.versions[0].text, post.media) == ("", [{"type": "not_shown",
                                                         "label": "Please open Telegram to view this post"}])
    place = TEMPLATE.replace('<div class="tgme_widget_message_text js-message_text" dir="auto">',
                             '<a class="tgme_widget_message_location_wrap" href="https://maps.google.com/maps?q=50.45,'
                             '30.52"><div class="tgme_widget_message_location"></div></a>'
                             '<div class="tgme_widget_message_text js-message_text" dir="auto">', 1)
    post, = read_messages([place], view, CHANNEL)
    assert post.media == [{"type": "location", "url": "https://maps.google.com/maps?q=50.45,30.52"}]


def test_over_http_a_signed_edit_is_an_edit_and_a_poll_is_archived_with_its_options(db_path: Path) -> None:
    """Two polls of a signed channel over loopback into SQLite: the second shows the same text with
    the "edited" marker after the signature (an edit the preview shows only by its marker), which is
    an `edited` event; the poll beside it is archived with its question as text, a reply with its
    own words, not its parent's, and a forwarded PDF named in the message's media."""
    reply = replying(SIGNED.replace("channel/4", "channel/6").replace(">test<", ">the reply's own words<"),
                     "channel/4")
    document = DOCUMENT.replace("oper_goblin/16936", "channel/7")
    shown = {"first": [SIGNED, POLL.replace("it_begin/488", "channel/5"), reply, document]}

    def channel(query: dict[str, Any], _: Any) -> Reply:
        return Reply(200, page(shown["first"], None), {"Content-Type": "text/html; charset=utf-8"})

    src = Source(id="tg", kind="telegram", locator="channel")
    with LoopbackServer() as server:
        server.routes = PathRoutes({"/s/channel": channel})
        src.options["base_url"] = server.base
        first = poll(db_path, src)
        shown["first"] = [SIGNED_EDITED, *shown["first"][1:]]
        second = poll(db_path, src)
    assert (first.outcome, first.new) == ("ok", 4), first.problems
    assert (second.outcome, second.edited, second.new) == ("ok", 1, 0), second.problems
    assert rows(db_path, "SELECT text, reply_to FROM posts WHERE native_id = 'channel/6'") == [
        ("the reply's own words", "channel/4")]
    assert events(db_path, "channel/4") == ["first_seen", "edited"]
    assert rows(db_path, "SELECT v.text, v.extra FROM versions v JOIN posts p ON p.id = v.post_id "
                         "WHERE p.native_id = 'channel/5'") == [
        ("Как лучше?", '{"poll":["Несколько постов в день","Один пост в несколько дней",'
                       '"Свой вариант в комментарии"]}')]
    media, = rows(db_path, "SELECT media FROM posts WHERE native_id = 'channel/7'")[0]
    assert json.loads(media) == [{"type": "document", "title": "Оппозиционные медиапроекты.pdf", "size": "2.1 MB",
                                  "url": "https://t.me/channel/7"}]


def test_messages_read_anew_by_this_extractor_are_re_readings_never_edits(archive: Archive,
                                                                        view: ArchiveView) -> None:
    """A signed, edited message archived by extractor 4 (which saw neither the signature nor the
    marker after it) and read again unchanged: a version with a `reextracted` event, not an edit."""
    src = Source(id="tg", kind="telegram", locator="channel")
    request = telegram.plan(src, view)[0]
    body = page([SIGNED_EDITED], None)

    def read() -> Any:
        return telegram.parse(src, request, exchange(request.url, body), view).observation

    before = read()
    before.posts[0].extractor_version = "4"
    before.posts[0].versions[0].extra = {}  # as extractor 4 read it
    archive.record(exchange(request.url, body), before, source_id=src.id)
    result = archive.record(exchange(request.url, body), read(), source_id=src.id)
    assert (result.edited, result.reextracted) == (0, 1)


def replying(block: str, parent: str) -> str:
    """`block` made a reply to `parent`, quoted as the preview quotes it: before the block's own text, in
    the same class (`tgme_widget_message_text js-message_reply_text` inside `a.tgme_widget_message_reply`)."""
    quote = (f'<a class="tgme_widget_message_reply" href="https://t.me/{parent}"><div '
             'class="tgme_widget_message_author accent_color"><span class="tgme_widget_message_author_name">'
             'Военное обозрение</span></div><div class="tgme_widget_message_text js-message_reply_text" dir="auto">'
             'The parent, <a href="https://parent.example/">quoted</a></div></a>')
    mark = '<div class="tgme_widget_message_text js-message_text'
    assert mark in block
    return block.replace(mark, quote + mark, 1)


def test_a_reply_s_text_is_its_own_not_the_parent_it_quotes(view: ArchiveView) -> None:
    block = message(70991, 'The reply itself, <a href="https://reply.example/">linked</a>')
    post, = read_messages([replying(block, f"{CHANNEL}/70990")], view, CHANNEL)
    assert (post.versions[0].text, post.reply_to) == ("The reply itself, linked", f"{CHANNEL}/70990")
    assert post.versions[0].extra == {"links": ["https://reply.example/"]}
