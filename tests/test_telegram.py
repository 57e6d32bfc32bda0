"""Telegram channel previews: pages built from the real message fixtures, served on loopback and
polled twice (one message edited, one deleted: missing first, then confirmed by its embed page)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

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
