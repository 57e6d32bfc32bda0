"""Identity a source cannot hijack: a second source serving an item under the same identity as another
source's post (a feed guid is chosen by whoever publishes the feed) gets a separate post and a recorded
identity conflict, never an edit of the first post; the operator sees it in `archiver status`, and a
published copy without the second (unpublished) source still holds the first post whole."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from archiver.archive import Archive, origin
from archiver.cli import main
from archiver.models import Exchange, Gone, Observation, PostDraft, RecordResult, VersionDraft, utcnow
from tests.certs import server_context
from tests.official_fixtures import Site, fetch, rows, rss, write_config

GUID = "tag:ministry-a.example,2026:statement-7"  # a guid with a scheme is taken as it is, not per feed


@pytest.fixture
def other_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def test_a_second_source_serving_the_same_guid_cannot_edit_the_first_post(
        httpserver: HTTPServer, other_server: HTTPServer, tmp_path: Path) -> None:
    ministry, impostor = Site(httpserver), Site(other_server)  # two origins: two ports on 127.0.0.1
    ministry.put("/rss.xml", rss([(GUID, ministry.url("/s/7"), "On the talks", "Tue, 02 Jun 2026 14:30:00 GMT",
                                   "The ministry welcomes the talks.")]), "application/rss+xml")
    impostor.put("/feed.xml", rss([(GUID, ministry.url("/s/7"), "On the talks", "Tue, 02 Jun 2026 14:30:00 GMT",
                                    "The ministry rejects the talks.")]), "application/rss+xml")
    config = write_config(tmp_path / "sources.toml", [
        {"id": "ministry-a", "kind": "feed", "locator": ministry.url("/rss.xml"), "organisation": "Ministry A"},
        {"id": "aggregator", "kind": "feed", "locator": impostor.url("/feed.xml"), "organisation": "Aggregator",
         "publish": False}])
    db = tmp_path / "archive.db"
    assert fetch(config, db, "ministry-a").exit_code == 0
    before = rows(db, "SELECT id, native_id, source_id, author_name, text, version_count, current_version "
                      "FROM posts")
    assert len(before) == 1 and before[0][1] == GUID

    second = fetch(config, db, "aggregator")
    assert second.exit_code == 0, second.output
    assert "edited 0" in second.output and "new 1" in second.output
    assert "1 identity conflict(s), see `archiver status`" in second.output

    # the first post is untouched: same row, one version, no event from the second source
    assert rows(db, "SELECT id, native_id, source_id, author_name, text, version_count, current_version "
                    "FROM posts WHERE id = ?", before[0][0]) == before
    assert rows(db, "SELECT type FROM events WHERE post_id = ?", before[0][0]) == [("first_seen",)]
    separate = rows(db, "SELECT id, native_id, source_id, text, owner FROM posts WHERE id != ?", before[0][0])
    assert len(separate) == 1
    other_id, native_id, source_id, text, owner = separate[0]
    assert source_id == "aggregator" and text == "The ministry rejects the talks."
    assert native_id == f"{GUID} [{owner}]" and owner == f"origin:{origin(impostor.url('/'))}"
    conflicts = rows(db, "SELECT platform, native_id, post_id, owner, other_post_id, source_id FROM identity_conflicts")
    assert conflicts == [("feed", GUID, before[0][0], f"origin:{origin(ministry.url('/'))}", other_id,
                          "aggregator")]

    # a re-poll of the second source adds to its own post, and records no second conflict
    impostor.put("/feed.xml", rss([(GUID, ministry.url("/s/7"), "On the talks", "Tue, 02 Jun 2026 14:30:00 GMT",
                                    "The ministry rejects the talks outright.")]), "application/rss+xml")
    assert "edited 1" in fetch(config, db, "aggregator").output
    assert rows(db, "SELECT version_count FROM posts WHERE id = ?", other_id) == [(2,)]
    assert rows(db, "SELECT version_count, text FROM posts WHERE id = ?", before[0][0]) == [
        (1, "The ministry welcomes the talks.")]
    assert rows(db, "SELECT count(*) FROM identity_conflicts") == [(1,)]

    status = CliRunner().invoke(main, ["status", "--wide", "--db", str(db)])  # --wide: the line unwrapped
    assert f"identity conflicts: 1 (latest: aggregator showed feed '{GUID}', held by ministry-a; " \
           f"archived apart as post {other_id})" in status.output, status.output
    verified = CliRunner().invoke(main, ["verify", "--db", str(db)])
    assert verified.exit_code == 0, verified.output

    # the published copy (the aggregator is publish = false) holds the ministry's post whole
    snap = tmp_path / "public.db"
    assert CliRunner().invoke(main, ["snapshot", "--db", str(db), str(snap), "--published-only"]).exit_code == 0
    copy = sqlite3.connect(snap)
    assert copy.execute("SELECT id, native_id, source_id, author_name, text, version_count, current_version "
                        "FROM posts").fetchall() == before
    assert copy.execute("SELECT count(*) FROM versions WHERE post_id = ?", (before[0][0],)).fetchone() == (1,)
    copy.close()
    checked = CliRunner().invoke(main, ["verify", "--db", str(snap)])
    assert checked.exit_code == 0, checked.output


@pytest.fixture
def default_ports(tmp_path: Path) -> Iterator[tuple[HTTPServer, HTTPServer, Path]]:
    """A plain and a TLS server on 127.0.0.1's ports 80 and 443, the ports of a site that moves to https,
    and the certificate authority of the TLS server."""
    context, ca = server_context(tmp_path / "tls")
    servers: list[HTTPServer] = []
    try:
        for port, ssl_context in ((80, None), (443, context)):
            servers.append(HTTPServer(host="127.0.0.1", port=port, ssl_context=ssl_context))
            servers[-1].start()
    except OSError as exc:
        for server in servers:
            if server.is_running():
                server.stop()
        pytest.skip(f"ports 80 and 443 of 127.0.0.1 cannot be served here ({exc})")
    yield servers[0], servers[1], ca
    for server in servers:
        server.clear()
        server.stop()


def moving_feed(site: str, texts: tuple[str, str]) -> bytes:
    """A ministry's RSS whose links name its site as `site` (`scheme://host`): one item whose guid is its
    permalink, as CMSs rewrite it when a site moves, one with no guid (known by its link)."""
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Ministry</title>'
            f"<link>{site}/</link><description>Statements</description>"
            f"<item><title>On the talks</title><link>{site}/news/talks</link>"
            f'<guid isPermaLink="true">{site}/news/talks</guid>'
            f"<pubDate>Tue, 02 Jun 2026 14:30:00 GMT</pubDate><description>{texts[0]}</description></item>"
            f"<item><title>On the ceasefire</title><link>{site}/news/ceasefire</link>"
            f"<pubDate>Mon, 01 Jun 2026 09:00:00 GMT</pubDate><description>{texts[1]}</description></item>"
            "</channel></rss>").encode()


def test_a_feed_whose_site_moves_to_https_keeps_its_posts(default_ports: tuple[HTTPServer, HTTPServer, Path],
                                                          tmp_path: Path) -> None:
    """Over real http and TLS on loopback into SQLite: the feed at http://127.0.0.1/ is archived, then its
    site moves to https (a 301, and every link rewritten). Each item keeps its post and history, an edit
    is an edit of it, and nobody else's identity is taken: no duplicate, no identity conflict."""
    plain, secure, ca = default_ports
    old, new = Site(plain), Site(secure)
    old.put("/rss.xml", moving_feed("http://127.0.0.1", ("The ministry welcomes the talks.", "A ceasefire now.")),
            "application/rss+xml")
    config = write_config(tmp_path / "sources.toml", [
        {"id": "ministry", "kind": "feed", "locator": "http://127.0.0.1/rss.xml", "organisation": "Ministry"}],
        settings={"ca_file": str(ca)})
    db = tmp_path / "archive.db"
    assert "new 2" in fetch(config, db, "ministry").output
    held = rows(db, "SELECT id, native_id, owner FROM posts ORDER BY id")
    assert [native for _, native, _ in held] == ["http://127.0.0.1/news/talks", "http://127.0.0.1/news/ceasefire"]

    old.move("/rss.xml", new.url("/rss.xml"))
    new.put("/rss.xml", moving_feed("https://127.0.0.1", ("The ministry welcomes the talks warmly.",
                                                          "A ceasefire now.")), "application/rss+xml")
    moved = fetch(config, db, "ministry")
    assert moved.exit_code == 0 and "new 0, edited 1, deleted 0" in moved.output, moved.output
    assert "identity conflict" not in moved.output
    assert rows(db, "SELECT id, native_id, owner FROM posts ORDER BY id") == held
    assert rows(db, "SELECT url, version_count, text FROM posts ORDER BY id") == [
        ("https://127.0.0.1/news/talks", 2, "The ministry welcomes the talks warmly."),
        ("http://127.0.0.1/news/ceasefire", 1, "A ceasefire now.")]  # a url changes with a version
    assert rows(db, "SELECT count(*) FROM identity_conflicts") == [(0,)]
    (final, subject, certificate), = rows(db, "SELECT final_url, json_extract(details, '$.tls.subject'), "
                                              "json_extract(details, '$.tls.certificate_sha256') FROM captures "
                                              "ORDER BY id DESC LIMIT 1")
    assert (final, subject) == (new.url("/rss.xml"), "127.0.0.1")  # the certificate shown, kept and chained
    assert CliRunner().invoke(main, ["verify", "--db", str(db)]).exit_code == 0
    # the post page says which certificate the edit was read under, and where to look it up
    import requests

    from tests.test_publish import page, serve_archive

    running = next(serve := serve_archive(db))
    try:
        html = requests.get(f"{running.url}{page('http://127.0.0.1/news/talks', 'feed')}", timeout=10).text
    finally:
        next(serve, None)
    assert f'href="https://crt.sh/?q={certificate}"' in html and "issued by Loopback TLS Root" in html


def test_a_feed_whose_site_drops_its_www_keeps_its_posts(default_ports: tuple[HTTPServer, HTTPServer, Path],
                                                         tmp_path: Path) -> None:
    """Over real http on 127.0.0.1:80 into SQLite, the site's two names resolved to it by the fetcher's
    resolver: the feed of www.ministry.test moves to ministry.test (a 301, every link rewritten). Each
    item keeps its post, an edit is an edit of it, and no identity conflict is recorded."""
    from archiver.config import load_config
    from archiver.fetch.fetcher import Fetcher
    from archiver.jobs import Runner
    from tests.conftest import init_archive

    site = Site(default_ports[0])
    site.put("/rss.xml", moving_feed("http://www.ministry.test", ("The ministry welcomes the talks.",
                                                                  "A ceasefire now.")), "application/rss+xml")
    config = load_config(write_config(tmp_path / "sources.toml", [
        {"id": "ministry", "kind": "feed", "locator": "http://www.ministry.test/rss.xml"}]))
    db = tmp_path / "archive.db"
    init_archive(db)

    def poll() -> str:
        with Runner(db, config.settings) as runner:
            runner.fetcher.close()  # the same fetcher, with the site's names resolved to loopback
            runner.fetcher = Fetcher(config.settings, resolver=lambda _host, _port: ["127.0.0.1"])
            runner.sync(config.sources)
            report = runner.run(config.source("ministry"))
        return f"{report.outcome} new {report.new}, edited {report.edited}, conflicts {report.conflicts}"

    assert poll() == "ok new 2, edited 0, conflicts 0"
    held = rows(db, "SELECT id, native_id, owner FROM posts ORDER BY id")
    assert held == [(1, "http://www.ministry.test/news/talks", "origin:http://www.ministry.test"),
                    (2, "http://www.ministry.test/news/ceasefire", "origin:http://www.ministry.test")]
    site.move("/rss.xml", "http://ministry.test/feed.xml")
    site.put("/feed.xml", moving_feed("http://ministry.test", ("The ministry welcomes the talks warmly.",
                                                               "A ceasefire now.")), "application/rss+xml")
    assert poll() == "ok new 0, edited 1, conflicts 0"
    assert rows(db, "SELECT id, native_id, owner FROM posts ORDER BY id") == held
    assert rows(db, "SELECT url, version_count FROM posts ORDER BY id") == [
        ("http://ministry.test/news/talks", 2), ("http://www.ministry.test/news/ceasefire", 1)]
    assert rows(db, "SELECT count(*) FROM identity_conflicts") == [(0,)]
    assert CliRunner().invoke(main, ["verify", "--db", str(db)]).exit_code == 0


@pytest.mark.parametrize(("url", "spellings"), [
    ("https://www.m.example/s?id=1#a", ["https://m.example/s?id=1#a", "http://m.example/s?id=1#a",
                                        "http://www.m.example/s?id=1#a", "https://m.example/s/?id=1#a",
                                        "https://www.m.example/s/?id=1#a", "http://m.example/s/?id=1#a",
                                        "http://www.m.example/s/?id=1#a"]),
    ("http://M.example:80/", ["https://m.example/", "https://www.m.example/", "http://m.example/",
                              "http://www.m.example/"]),  # the default port and capitals folded; `/` alone
    ("http://m.example:8080/s/", ["https://m.example:8080/s/", "https://m.example:8080/s",
                                  "http://m.example:8080/s"]),  # another port: the other scheme only
    ("https://[2001:db8::1]/", ["http://[2001:db8::1]/"]),
    ("https://www.gov/", ["http://www.gov/"]),  # no site in `www.`'s place
    ("tag:m.example,2026:7", []),
])
def test_an_address_is_looked_for_as_its_site_s_other_origins_write_it(url: str, spellings: list[str]) -> None:
    from archiver.sites import other_spellings

    assert other_spellings(url) == spellings


def record(db: Path, url: str, source_id: str | None, *, posts: list[PostDraft] | None = None,
           gone: list[Gone] | None = None) -> RecordResult:
    with Archive(db, create=True) as archive:
        return archive.record(Exchange(requested_url=url, method="GET", started_at=utcnow(), status=200, body=b"{}"),
                              Observation(posts=posts or [], gone=gone or []), source_id=source_id)


def social(platform: str, native_id: str, author_id: str, text: str) -> PostDraft:
    return PostDraft(platform=platform, native_id=native_id, author_id=author_id, author_name=author_id,
                     versions=[VersionDraft(text=text)])


@pytest.mark.parametrize(("platform", "first", "second", "same"), [
    # the account the platform authenticates decides, wherever the post was read
    ("bluesky", ("https://bsky.example/a", "did:plc:alice"), ("https://other.example/b", "did:plc:alice"), True),
    ("bluesky", ("https://bsky.example/a", "did:plc:alice"), ("https://bsky.example/b", "did:plc:mallory"), False),
    # a Mastodon account id is only unique on its own server
    ("mastodon", ("https://one.example/api", "1090"), ("https://one.example/api2", "1090"), True),
    ("mastodon", ("https://one.example/api", "1090"), ("https://two.example/api", "1090"), False),
    # web kinds: the origin the document came from, not the source
    ("web", ("https://ministry.example/feed", "src"), ("https://ministry.example/other", "src"), True),
    ("web", ("https://ministry.example/feed", "src"), ("https://mirror.example/feed", "src"), False),
    # a site moving to https (or back), or between www.host and host, on the default ports is the same
    # site (archiver.sites); another port is another server, another host another site
    ("web", ("http://ministry.example/feed", "src"), ("https://ministry.example:443/feed", "src"), True),
    ("web", ("https://ministry.example/feed", "src"), ("http://ministry.example/feed", "src"), True),
    ("web", ("http://ministry.example/feed", "src"), ("https://ministry.example:8443/feed", "src"), False),
    ("web", ("http://ministry.example:8080/feed", "src"), ("https://ministry.example/feed", "src"), False),
    ("web", ("http://ministry.example/feed", "src"), ("https://www.ministry.example/feed", "src"), True),
    ("web", ("https://www.ministry.example/feed", "src"), ("https://MINISTRY.example/feed", "src"), True),
    ("web", ("https://www.ministry.example/feed", "src"), ("https://www.ministry.example:8443/feed", "src"), False),
    ("web", ("https://ministry.example/feed", "src"), ("https://news.ministry.example/feed", "src"), False),
    ("web", ("https://www.example/feed", "src"), ("https://example/feed", "src"), False),  # no site in `www.`'s place
])
def test_who_may_add_to_a_post(tmp_path: Path, platform: str, first: tuple[str, str], second: tuple[str, str],
                               same: bool) -> None:
    db = tmp_path / "archive.db"
    record(db, first[0], "first", posts=[social(platform, "id-1", first[1], "Original.")])
    result = record(db, second[0], "second", posts=[social(platform, "id-1", second[1], "Rewritten.")])
    assert (result.edited, result.conflicts) == ((1, 0) if same else (0, 1))
    texts = rows(db, "SELECT native_id, text FROM posts ORDER BY id")
    assert texts[0] == ("id-1", "Rewritten." if same else "Original.")
    assert len(texts) == (1 if same else 2)


def test_another_source_cannot_delete_a_post(tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    record(db, "https://ministry.example/feed", "ministry",
           posts=[social("feed", "tag:m,2026:1", "ministry", "Statement.")])
    result = record(db, "https://mirror.example/feed", "mirror", gone=[Gone("feed", "tag:m,2026:1", True, "404")])
    assert result.deleted == 0
    assert rows(db, "SELECT status FROM posts") == [("live",)]
    assert rows(db, "SELECT type FROM events") == [("first_seen",)]
    assert record(db, "https://ministry.example/feed", "ministry",
                  gone=[Gone("feed", "tag:m,2026:1", True, "404")]).deleted == 1  # its own source can
