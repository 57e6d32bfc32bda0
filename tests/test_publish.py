"""Publication through Datasette over real HTTP: the post page (versions, diff, deletion, provenance),
search, the Atom feed, the raw payload download, and the lock-down (no write of any kind succeeds)."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import feedparser
import pytest
import requests
import yaml
from click.testing import CliRunner
from datasette.utils import tilde_encode

from archiver.archive import Archive
from archiver.cli import main
from archiver.models import Exchange, Gone, Observation, PostDraft, VersionDraft
from archiver.publish.server import datasette_command, default_config_dir

PUBLISHED = "2024-05-01T10:00:00.000000Z"
FIRST, SECOND, GONE = "2024-05-01T12:00:00.000000Z", "2024-05-02T08:00:00.000000Z", "2024-05-03T12:30:00.000000Z"
ARCHIVED_HTML = b"<html><body><script>alert('payload')</script><h1>Press release</h1></body></html>"
SCRIPT_TEXT = "<script>alert('post')</script> and <img src=x onerror=alert(1)>"
ROBOTS = b"User-agent: *\nDisallow: /internal/\n"


def page(native_id: str, platform: str = "webpage") -> str:
    """A post's lasting address: its platform and native id, as Datasette encodes names."""
    return f"/-/post/{tilde_encode(platform)}/{tilde_encode(native_id)}"


EDITED, DELETED, HOSTILE = "https://example.org/a", "https://example.org/b", "https://example.org/x"


@dataclass
class Built:
    path: Path
    edited: int  # post id with two versions
    deleted: int  # post id confirmed deleted
    hostile: int  # post id whose text and title are markup
    payload_sha256: str


def _exchange(url: str, at: str, status: int = 200, body: bytes | None = ARCHIVED_HTML) -> Exchange:
    return Exchange(requested_url=url, method="GET", started_at=at, ended_at=at, final_url=url, status=status,
                    http_version="HTTP/1.1", server_ip="127.0.0.1", body=body,
                    transferred_sha256="ab" * 32, transferred_size=len(body or b""),
                    content_type="text/html", response_headers=[("Content-Type", "text/html")])


def _post(native_id: str, text: str, title: str | None = None) -> PostDraft:
    return PostDraft(platform="webpage", native_id=native_id, url=native_id, author_handle="ministry",
                     author_name="Ministry of Examples", published_at=PUBLISHED, published_raw="1 May 2024",
                     versions=[VersionDraft(text=text, title=title)], extractor="test")


def build_archive(path: Path) -> Built:
    """An archive with an edited post (two versions), a deleted post and a post made of markup."""
    with Archive(path, create=True) as archive:
        archive.sync_sources([{"id": "ministry", "kind": "webpage", "locator": "https://example.org/news",
                               "name": "Ministry news", "organisation": "Ministry of Examples"}])
        run = archive.start_run("fetch", "ministry", started_at=FIRST)
        listing = "https://example.org/news"
        first = _exchange(listing, FIRST)
        # the robots.txt the fetch layer read before the listing, recorded with it
        robots = _exchange("https://example.org/robots.txt", FIRST, body=ROBOTS)
        robots.kind = "robots"
        first.robots, first.related = "allowed", [robots]
        first.details["robots_txt"] = [{"url": robots.requested_url, "status": 200,
                                        "sha256": hashlib.sha256(ROBOTS).hexdigest(), "fetched_at": FIRST}]
        archive.record(first, Observation(posts=[
            _post("https://example.org/a", "The minister met the delegation on Monday.", "Meeting"),
            _post("https://example.org/b", "Statement on the harbour talks.", "Harbour"),
            _post("https://example.org/x", SCRIPT_TEXT, "<b>bold</b> title"),
        ]), run_id=run, source_id="ministry")
        archive.record(_exchange(listing, SECOND, body=ARCHIVED_HTML + b"<!-- 2 -->"), Observation(posts=[
            _post("https://example.org/a", "The minister met the delegation on Tuesday and agreed a framework.",
                  "Meeting"),
        ]), run_id=run, source_id="ministry")
        archive.record(_exchange("https://example.org/b", GONE, status=404, body=b"gone"), Observation(gone=[
            Gone(platform="webpage", native_id="https://example.org/b", confirmed=True, reason="HTTP 404"),
        ]), run_id=run, source_id="ministry")
        archive.finish_run(run, "ok")
        ids = {row[0]: row[1] for row in archive.conn.execute("SELECT native_id, id FROM posts")}
        sha = archive.conn.execute("SELECT payload_sha256 FROM captures WHERE kind = 'http' "
                                   "ORDER BY id LIMIT 1").fetchone()[0]
    return Built(path, ids["https://example.org/a"], ids["https://example.org/b"], ids["https://example.org/x"], sha)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


def start_datasette(command: list[str], url: str, cwd: Path | None = None,
                    env: dict[str, str] | None = None) -> Server:
    # output goes to a file, not a pipe: an unread pipe fills up and stalls the server
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by Server.stop
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode()[-2000:]
            log.close()
            raise RuntimeError(f"datasette exited with {process.returncode}: {output}")
        try:
            if requests.get(url + "/-/versions.json", timeout=5).ok:
                return Server(url, process, log)
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    log.close()
    raise RuntimeError("datasette did not start within 30 s")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_archive(tmp_path_factory.mktemp("publish") / "archive.db")


def serve_archive(path: Path) -> Iterator[Server]:
    """Datasette as `archiver serve` runs it, on a free loopback port, for a module's `server` fixture."""
    port = free_port()
    running = start_datasette(datasette_command(path, port=port), f"http://127.0.0.1:{port}")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[Server]:
    yield from serve_archive(built.path)


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("sources", "runs", "captures", "payloads", "posts", "versions", "events", "chain")}
    finally:
        conn.close()


# -- what a reader sees ---------------------------------------------------------------------------

def test_command_serves_the_live_file_with_the_projects_configuration(built: Built) -> None:
    command = datasette_command(built.path, port=9999)
    assert "--immutable" not in command and "-i" not in command
    assert str(built.path.resolve()) in command
    assert any(part.endswith("metadata.yml") for part in command)
    # templates, static files and settings come from the plugin, as they do for a plain `datasette serve`
    assert not {"--setting", "--template-dir", "--static"} & set(command)


def test_post_page_shows_versions_diff_deletion_and_provenance(server: Server, built: Built) -> None:
    page = requests.get(f"{server.url}/-/post/{built.edited}", timeout=10)
    assert page.status_code == 200
    html = page.text
    assert "The minister met the delegation on Monday." in html  # version 1
    assert "The minister met the delegation on Tuesday and agreed a framework." in html  # version 2
    assert "<del>Monday.</del><ins>Tuesday and agreed a framework.</ins>" in html
    assert "Changes from version 1" in html
    assert "edited" in html and SECOND in html
    assert f"/-/payload/{built.payload_sha256}" in html
    assert "127.0.0.1" in html  # server IP of the capture
    # the robots decision names the robots.txt it was made from, whose archived copy downloads
    robots_sha = hashlib.sha256(ROBOTS).hexdigest()
    assert "<dt>robots.txt</dt><dd>allowed" in html and "https://example.org/robots.txt" in html
    assert f'class="robots-download" href="/-/payload/{robots_sha}"' in html
    assert requests.get(f"{server.url}/-/payload/{robots_sha}", timeout=10).content == ROBOTS

    gone = requests.get(f"{server.url}/-/post/{built.deleted}", timeout=10).text
    assert "status-deleted" in gone and GONE in gone
    # what the archive saw (last seen live 1 May 12:00, gone 3 May 12:30), apart from the source's claim
    assert "it was deleted within those 2 days 30 minutes" in gone
    assert "to the confirmed deletion: 2 days 2 hours. The publication time is the source's claim" in gone
    assert "HTTP 404" in gone  # the deletion's reason, and its capture:
    assert '<dt>Status</dt><dd>404 (HTTP/1.1)</dd>' in gone
    assert "https://example.org/b" in gone

    assert requests.get(f"{server.url}/-/post/999999", timeout=10).status_code == 404


def test_payload_is_downloaded_never_rendered(server: Server, built: Built) -> None:
    response = requests.get(f"{server.url}/-/payload/{built.payload_sha256}", timeout=10)
    assert response.status_code == 200
    assert response.content == ARCHIVED_HTML
    assert response.headers["Content-Type"] == "application/octet-stream"
    # named from the URL it was fetched from, its content type and the start of its digest
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="example.org-news-{built.payload_sha256[:12]}.html"')
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(f"{server.url}/-/payload/{'0' * 64}", timeout=10).status_code == 404


def test_search_by_words_account_platform_and_dates(server: Server, built: Built) -> None:
    def search(**params: str) -> str:
        response = requests.get(f"{server.url}/-/search", params=params, timeout=10)
        assert response.status_code == 200
        return response.text

    found = search(q="framework")  # a word only the second version has
    assert f'href="{page(EDITED)}?q=framework#version-2"' in found
    assert "<mark>framework</mark>" in found
    assert "1 statement." in found and "edited out" not in found
    # a word only the first version had is found, and the result says it is no longer there
    gone = search(q="Monday")
    assert f'href="{page(EDITED)}?q=Monday#version-1"' in gone and "<mark>Monday</mark>" in gone
    assert f'matched in version 1, <strong>edited out</strong> on <time datetime="{SECOND}"' in gone
    assert f'href="{page(DELETED)}"' in search(account="Ministry of Examples", platform="webpage")
    assert "No statements match." in search(q="framework", platform="mastodon")
    assert "No statements match." in search(q="framework", until="2024-04-30")
    assert f'href="{page(EDITED)}?' in search(q="framework", since="2024-05-01", until="2024-05-01")
    assert "since must be a date" in search(since="yesterday")
    assert f'href="{page(DELETED)}?' in search(q='"harbour')  # an unbalanced quote is not an error


def test_advanced_search_phrase_prefix_or(server: Server) -> None:
    def links(q: str, **params: str) -> set[str]:
        response = requests.get(f"{server.url}/-/search", params={"q": q, **params}, timeout=10)
        assert response.status_code == 200
        return set(re.findall(r'class="result-link" href="([^"?]+)', response.text))

    assert links("harb*", advanced="1") == {page(DELETED)}
    assert links("harb*") == set()  # without advanced, harb* is a word
    assert "tick Advanced to use them as operators" in requests.get(
        f"{server.url}/-/search", params={"q": "harbour OR framework"}, timeout=10).text
    assert links("harbour OR framework", advanced="1") == {page(DELETED), page(EDITED)}
    assert links('"met the delegation on Monday"', advanced="1") == {page(EDITED)}
    assert links('"delegation met"', advanced="1") == set()
    assert links("minister NOT delegation", advanced="1") == set()
    assert links("minister NOT framework", advanced="1") == {page(EDITED)}  # each version is matched: version 1
    malformed = requests.get(f"{server.url}/-/search", params={"q": 'harbour AND (', "advanced": "1"}, timeout=10)
    assert malformed.status_code == 200 and "Not a search this index understands" in malformed.text


def test_a_word_in_very_many_statements_searches_only_the_newest_matches(tmp_path: Path, built: Built) -> None:
    """The cap that keeps a common word fast on a million posts, set to 1 so three posts exceed it."""
    config = tmp_path / "datasette"
    shutil.copytree(default_config_dir(), config)
    metadata = config / "metadata.yml"
    overrides = yaml.safe_load(metadata.read_text())
    overrides["plugins"]["archiver"]["search_cap"] = 1
    metadata.write_text(yaml.safe_dump(overrides))
    conn = sqlite3.connect(built.path)
    # the posts of the matching versions, oldest version first
    matches = [page(r[0]) for r in conn.execute(
        "SELECT p.native_id FROM versions_fts JOIN versions v ON v.id = versions_fts.rowid "
        "JOIN posts p ON p.id = v.post_id WHERE versions_fts MATCH 'the' ORDER BY v.id")]
    conn.close()
    assert len(set(matches)) >= 2
    port = free_port()
    running = start_datasette(datasette_command(built.path, port=port, config_dir=config), f"http://127.0.0.1:{port}")
    try:
        found = requests.get(f"{running.url}/-/search", params={"q": "the"}, timeout=10).text
        narrow = requests.get(f"{running.url}/-/search", params={"q": "framework"}, timeout=10).text
    finally:
        running.stop()
    assert "1 statement." in found and "only the 1 most recently archived of them were considered" in found
    assert f'href="{matches[-1]}?' in found
    assert all(f'href="{older}?' not in found for older in set(matches) - {matches[-1]})
    assert "most recently archived" not in narrow and f'href="{page(EDITED)}?' in narrow


def test_canned_queries_edited_deleted_and_source_health(server: Server, built: Built) -> None:
    def rows(name: str) -> list[dict[str, object]]:
        response = requests.get(f"{server.url}/archive/{name}.json?_shape=objects", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["rows"]

    edited = rows("recently_edited")
    assert [(row["post_id"], row["version"], row["edited_at"]) for row in edited] == [(built.edited, 2, SECOND)]
    deleted = rows("deleted")
    assert [(row["post_id"], row["reason"]) for row in deleted] == [(built.deleted, "HTTP 404")]
    assert deleted[0]["stayed_up_days"] == pytest.approx(2.10, abs=0.01)
    health = rows("source_health")
    assert health[0]["source"] == "ministry" and health[0]["last_ok"] == FIRST and health[0]["failed_runs"] == 0
    said = requests.get(f"{server.url}/archive/what_did_they_say.json",
                        params={"_shape": "objects", "words": "harbour talks", "who": "Ministry"}, timeout=10)
    assert [row["post_id"] for row in said.json()["rows"]] == [built.deleted]
    # the HTML view of a canned query links each post to its page
    assert f'href="/-/post/{built.edited}"' in requests.get(f"{server.url}/archive/recently_edited",
                                                            timeout=10).text


def atom_feed(server: Server, path: str) -> feedparser.FeedParserDict:
    response = requests.get(server.url + path, timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    return feed


def test_atom_feed_lists_new_edited_and_deleted(server: Server) -> None:
    feed = atom_feed(server, "/-/feed.atom")
    titles = [entry.title for entry in feed.entries]
    assert "Edited: Ministry of Examples - Meeting" in titles
    assert "Deleted: Ministry of Examples - Harbour" in titles
    assert sum(title.startswith("New: ") for title in titles) >= 3
    edit = next(entry for entry in feed.entries if entry.title.startswith("Edited"))
    # links are absolute, to the post's lasting address and the version the edit made
    assert edit.updated.endswith(("Z", "+00:00")) and edit.link == f"{server.url}{page(EDITED)}#version-2"
    assert feed.feed.links[0].href == f"{server.url}/-/feed.atom"
    # the entry holds the diff: what was deleted and what was inserted, apart
    assert "<del>Monday.</del><ins>Tuesday and agreed a framework.</ins>" in edit.content[0].value
    assert edit.id.startswith("tag:archiver,2024:webpage:")


def test_atom_feeds_per_source_author_and_post(server: Server) -> None:
    source = atom_feed(server, "/-/feed/source/ministry.atom")
    assert "Deleted: Ministry of Examples - Harbour" in [entry.title for entry in source.entries]
    assert atom_feed(server, "/-/feed/source/nobody.atom").entries == []
    author = atom_feed(server, f"/-/feed/author/webpage/{tilde_encode('ministry')}.atom")
    assert {entry.title for entry in author.entries} >= {"Edited: Ministry of Examples - Meeting"}
    post = atom_feed(server, page(EDITED).replace("/-/post/", "/-/feed/post/") + ".atom")
    assert [entry.title for entry in post.entries] == ["Edited: Ministry of Examples - Meeting",
                                                       "New: Ministry of Examples - Meeting"]
    assert post.feed.title.startswith("Changes to “Meeting”")
    html = requests.get(server.url + page(EDITED), timeout=10).text
    assert 'type="application/atom+xml"' in html and page(EDITED).replace("/-/post/", "/-/feed/post/") in html
    assert 'href="/-/feed/source/ministry.atom"' in html and 'href="/-/feed/author/webpage/ministry.atom"' in html


def test_archived_markup_is_shown_inert(server: Server, built: Built) -> None:
    for path in (f"/-/post/{built.hostile}", "/-/search?q=alert", f"/archive/posts/{built.hostile}",
                 "/-/feed.atom"):
        html = requests.get(server.url + path, timeout=10).text
        assert "<script>alert(" not in html, path
        assert "<img src=x" not in html and "<b>bold</b>" not in html, path
    page = requests.get(f"{server.url}/-/post/{built.hostile}", timeout=10).text
    assert "&lt;script&gt;alert(&#39;post&#39;)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt; title" in page


def test_raw_tables_are_hidden_and_limits_are_set(server: Server) -> None:
    tables = {t["name"]: t["hidden"] for t in requests.get(f"{server.url}/archive.json", timeout=10).json()["tables"]}
    for name in ("chain", "source_state", "posts_fts", "posts_fts_data", "posts_fts_idx", "versions_fts"):
        assert tables[name] is True, name
    # payloads are not browsed at all: each downloads from the page of a post it belongs to
    assert "payloads" not in tables
    assert requests.get(f"{server.url}/archive/payloads", timeout=10).status_code == 403
    assert tables["posts"] is False and tables["captures"] is False
    settings = requests.get(f"{server.url}/-/settings.json", timeout=10).json()
    assert settings["allow_download"] is False and settings["suggest_facets"] is False
    assert settings["sql_time_limit_ms"] == 2000 and settings["max_returned_rows"] == 1000
    many = requests.get(f"{server.url}/archive.json", timeout=10, params={
        "sql": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 5000) SELECT x FROM n"}).json()
    assert many["truncated"] is True and len(many["rows"]) == 1000
    endless = requests.get(f"{server.url}/archive.json", timeout=30, params={
        "sql": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"})
    assert endless.status_code == 400 and "interrupted" in endless.text.lower()


# -- nothing can change the archive ------------------------------------------------------------------

WRITES = [
    "INSERT INTO sources (id, kind, locator) VALUES ('evil', 'feed', 'x')",
    "UPDATE posts SET text = 'rewritten'",
    "DELETE FROM posts",
    "DROP TABLE posts",
    "CREATE TABLE evil (x)",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "PRAGMA query_only = 0",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA writable_schema = 1",
    "VACUUM",
    "WITH x AS (SELECT 1) DELETE FROM posts",
    "WITH x AS (SELECT 1) UPDATE posts SET text = 'rewritten'",
    "SELECT 1; DELETE FROM posts",
    "SELECT * FROM pragma_journal_mode('delete')",
]


@pytest.mark.parametrize("sql", WRITES)
def test_write_sql_is_refused(server: Server, built: Built, sql: str) -> None:
    before = counts(built.path)
    for response in (requests.get(f"{server.url}/archive.json", params={"sql": sql}, timeout=10),
                     requests.get(f"{server.url}/archive", params={"sql": sql}, timeout=10),
                     requests.post(f"{server.url}/archive", data={"sql": sql}, timeout=10)):
        assert response.status_code >= 400, (sql, response.status_code)
    assert counts(built.path) == before
    assert not Path("/tmp/evil.db").exists()
    texts = sqlite3.connect(built.path).execute("SELECT count(*) FROM posts WHERE text = 'rewritten'").fetchone()
    assert texts == (0,)


def test_other_write_routes_are_refused(server: Server, built: Built) -> None:
    before = counts(built.path)
    assert requests.get(f"{server.url}/archive.db", timeout=10).status_code in (403, 404)
    for path in ("/archive/recently_edited", "/archive/posts/-/insert", "/archive/-/create",
                 f"/archive/posts/{built.edited}/-/delete", f"/archive/posts/{built.edited}/-/update"):
        response = requests.post(server.url + path, json={"row": {"text": "rewritten"}}, timeout=10)
        assert response.status_code >= 400, path
    assert counts(built.path) == before


def test_a_configured_write_query_is_refused(tmp_path: Path, built: Built) -> None:
    """Even a canned write query that someone adds to the metadata cannot run."""
    config = tmp_path / "datasette"
    config.mkdir()
    config.joinpath("metadata.json").write_text(
        '{"databases": {"archive": {"queries": {"add_source": {"sql": '
        '"INSERT INTO sources (id, kind, locator) VALUES (:id, \'feed\', \'x\')", "write": true}}}}}')
    copy = tmp_path / "archive.db"
    copy.write_bytes(built.path.read_bytes())
    before = counts(copy)
    port = free_port()
    running = start_datasette(datasette_command(copy, port=port, config_dir=config), f"http://127.0.0.1:{port}")
    try:
        session = requests.Session()
        form = session.get(f"{running.url}/archive/add_source", timeout=10)
        assert form.status_code == 403
        response = session.post(f"{running.url}/archive/add_source", data={"id": "evil"}, timeout=10)
        assert response.status_code == 403
    finally:
        running.stop()
    assert counts(copy) == before


def test_feed_of_an_empty_archive_is_valid(tmp_path: Path) -> None:
    empty = tmp_path / "archive.db"
    Archive(empty, create=True).close()
    port = free_port()
    running = start_datasette(datasette_command(empty, port=port), f"http://127.0.0.1:{port}")
    try:
        response = requests.get(f"{running.url}/-/feed.atom", timeout=10)
        search = requests.get(f"{running.url}/-/search", params={"q": "anything"}, timeout=10)
    finally:
        running.stop()
    assert response.status_code == 200
    feed = feedparser.parse(response.content)
    assert not feed.bozo and feed.entries == [] and feed.feed.title.startswith("Archive of public statements")
    assert search.status_code == 200 and "No statements match." in search.text


def test_new_writes_show_up_without_restarting(server: Server, built: Built) -> None:
    """The live WAL file is served: what the service writes next is visible at once."""
    with Archive(built.path) as archive:
        archive.record(_exchange("https://example.org/news", "2024-05-04T09:00:00.000000Z"), Observation(posts=[
            _post("https://example.org/c", "A later statement about lighthouses.", "Lighthouses")]),
            source_id="ministry")
    found = requests.get(f"{server.url}/-/search", params={"q": "lighthouses"}, timeout=10).text
    assert "Lighthouses" in found


def test_archiver_serve_runs_the_same_server(tmp_path: Path, built: Built) -> None:
    port = free_port()
    running = start_datasette([sys.executable, "-m", "archiver", "serve", "--db", str(built.path),
                               "--port", str(port)], f"http://127.0.0.1:{port}")
    try:
        page = requests.get(f"{running.url}/-/post/{built.edited}", timeout=10)
        settings = requests.get(f"{running.url}/-/settings.json", timeout=10).json()
    finally:
        running.stop()
    assert page.status_code == 200 and "Changes from version 1" in page.text
    assert settings["allow_download"] is False


def test_serve_errors_are_one_line(tmp_path: Path, built: Built) -> None:
    missing = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 2 and missing.stderr.startswith("archiver: error: no archive at ")
    no_config = CliRunner().invoke(main, ["serve", "--db", str(built.path), "--config-dir", str(tmp_path / "nope")])
    assert no_config.exit_code == 2 and "does not exist" in no_config.stderr
