"""The face however Datasette is started: plain `datasette serve -i` on a snapshot with another file name
and no --metadata gives the same pages, canned queries, feed, CSS, settings and bounds as `archiver serve`,
over HTTP and in headless Chromium (screenshots kept in test-artifacts/)."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
import requests
from click.testing import CliRunner
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from warcio.archiveiterator import ArchiveIterator

from archiver.cli import main
from archiver.database import connect, migrations
from archiver.publish.server import datasette_command
from tests.cdp import Chromium
from tests.conftest import FIXTURES
from tests.test_browser import ARTIFACTS, CHROMIUM, chromium, visible_text
from tests.test_publish import DELETED, EDITED, HOSTILE, Built, Server, build_archive, free_port, page, start_datasette

NAME = "snapshot-2024-06-01"


TWEET = "1576994746135764992"  # tests/fixtures/twarc2/edited.jsonl: a tweet edited once


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    built = build_archive(tmp_path_factory.mktemp("plugin") / f"{NAME}.db")
    imported = CliRunner().invoke(main, ["import", "twarc", "--db", str(built.path),
                                         str(FIXTURES / "twarc2" / "edited.jsonl")])
    assert imported.exit_code == 0, imported.output
    return built


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[Server]:
    port = free_port()
    # an operator's explicit setting is kept; the project's settings fill in the rest
    command = [sys.executable, "-m", "datasette", "serve", "-i", str(built.path), "--port", str(port),
               "--setting", "default_page_size", "5"]
    running = start_datasette(command, f"http://127.0.0.1:{port}")
    yield running
    running.stop()


def get(server: Server, path: str, **params: str) -> requests.Response:
    response = requests.get(server.url + path, params=params, timeout=10)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return response


def test_post_page_search_and_css(server: Server, built: Built) -> None:
    post = get(server, f"/-/post/{built.edited}").text
    assert "Changes from version 1" in post and "<ins>Tuesday and agreed a framework.</ins>" in post
    css = HTMLParser(post).css('link[rel="stylesheet"]')
    hrefs = [node.attributes["href"] for node in css]
    assert "/-/static-plugins/archiver/archiver.css" in hrefs
    stylesheet = get(server, "/-/static-plugins/archiver/archiver.css")
    assert ".archived-text" in stylesheet.text and stylesheet.headers["content-type"].startswith("text/css")
    found = get(server, "/-/search", q="framework").text
    assert f'href="{page(EDITED)}?q=framework' in found and "<mark>framework</mark>" in found
    payload = get(server, f"/-/payload/{built.payload_sha256}")
    assert payload.headers["Content-Disposition"].startswith("attachment;")


def test_metadata_follows_the_database_whatever_its_name(server: Server, built: Built) -> None:
    home = get(server, "/").text
    links = [node.attributes["href"] for node in HTMLParser(home).css(".metadata-description a")]
    assert f"/{NAME}/recently_edited" in links and "/-/feed.atom" in links and "/-/search" in links
    for link in links:
        get(server, link)
    tables = {t["name"]: t["hidden"] for t in get(server, f"/{NAME}.json").json()["tables"]}
    assert tables["versions_fts"] is True and tables["chain"] is True and tables["posts"] is False
    posts = get(server, f"/{NAME}/posts.json", _shape="objects").json()
    assert {row["native_id"] for row in posts["rows"]} == {EDITED, DELETED, HOSTILE, TWEET}
    described = get(server, f"/{NAME}/posts").text
    assert "One row per statement or post" in described


def test_canned_queries_and_feed(server: Server, built: Built) -> None:
    def rows(name: str, **params: str) -> list[dict[str, object]]:
        return get(server, f"/{NAME}/{name}.json", _shape="objects", **params).json()["rows"]

    assert built.edited in [row["post_id"] for row in rows("recently_edited")]
    assert [row["post_id"] for row in rows("deleted")] == [built.deleted]
    assert rows("source_health")[0]["source"] == "ministry"
    assert [row["post_id"] for row in rows("what_did_they_say", words="harbour talks", who="Ministry")] == [
        built.deleted]
    # canned queries open on their results: the SQL is one click away, not in the way
    html = get(server, f"/{NAME}/recently_edited").text
    assert "_show_sql=1" in html and "<textarea" not in html
    feed = feedparser.parse(get(server, "/-/feed.atom").content)
    assert not feed.bozo and any(entry.title.startswith("Edited: ") for entry in feed.entries)


def test_settings_and_bounds_are_applied(server: Server, built: Built) -> None:
    settings = get(server, "/-/settings.json").json()
    assert settings["sql_time_limit_ms"] == 2000 and settings["max_csv_mb"] == 50
    assert settings["suggest_facets"] is False and settings["allow_download"] is False
    assert settings["default_page_size"] == 5  # given on the command line, kept
    # ... and in effect (Datasette copies some settings when it starts): a table page has 5 rows
    conn = sqlite3.connect(f"file:{built.path}?mode=ro", uri=True)
    chained = conn.execute("SELECT count(*) FROM chain").fetchone()[0]
    conn.close()
    assert chained > 5 and len(get(server, f"/{NAME}/chain.json").json()["rows"]) == 5
    # the project's time limit (2 s, not Datasette's 1 s) is the one queries get: an endless query is
    # interrupted no sooner than that (a busy machine only makes this later, never sooner)
    started = time.monotonic()
    endless = requests.get(f"{server.url}/{NAME}.json", params={"sql": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL "
                           "SELECT x + 1 FROM n) SELECT count(*) FROM n"}, timeout=60)
    assert endless.status_code == 400 and "interrupted" in endless.text.lower()
    assert time.monotonic() - started >= 1.9
    refused = requests.get(f"{server.url}/{NAME}.json", params={"sql": "SELECT hex(zeroblob(400000000))"},
                           timeout=10)
    assert refused.status_code == 400 and "zeroblob" in refused.text
    assert requests.get(f"{server.url}/{NAME}.db", timeout=10).status_code in (403, 404)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("width", [1280, 390])
def test_post_page_in_chromium_at_desktop_and_phone_width(server: Server, built: Built, tmp_path: Path,
                                                          width: int) -> None:
    url = f"{server.url}/-/post/{built.edited}"
    dom = chromium(tmp_path, url, "--dump-dom", f"--window-size={width},1600")
    text = visible_text(dom)
    assert "Meeting" in text and "Version 2" in text and "Tuesday and agreed a framework." in text
    ARTIFACTS.mkdir(exist_ok=True)
    with Chromium(tmp_path / "profile-cdp") as browser:
        browser.viewport(width, mobile=width < 500)
        browser.open(url)
        # nothing on the page (digests, URLs, the citation) makes it wider than the screen
        assert browser.evaluate("document.documentElement.scrollWidth") <= width
        data = browser.screenshot(ARTIFACTS / f"plugin-post-page-{width}.png")
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and int.from_bytes(data[16:20], "big") == width
    assert len(data) > 10_000


def test_the_live_face_hides_unpublished_rows(tmp_path: Path, built: Built) -> None:
    copy = tmp_path / "archive.db"
    copy.write_bytes(built.path.read_bytes())
    conn = sqlite3.connect(copy)
    with conn:
        conn.execute("UPDATE posts SET publish = 0 WHERE id = ?", (built.hostile,))
    hidden_versions = {row[0] for row in conn.execute("SELECT id FROM versions WHERE post_id = ?", (built.hostile,))}
    hidden_captures = {row[0] for row in conn.execute("SELECT capture_id FROM versions WHERE post_id = ?",
                                                      (built.hostile,))}
    hidden_sightings = {row[0] for row in conn.execute(
        f"SELECT id FROM sightings WHERE capture_id IN ({', '.join(map(str, hidden_captures))})")}
    conn.close()
    port = free_port()
    running = start_datasette(datasette_command(copy, port=port), f"http://127.0.0.1:{port}")
    try:
        def ids(table: str, key: str = "id") -> set[int]:
            response = get(running, f"/archive/{table}.json", _shape="objects", _size="max")
            return {row[key] for row in response.json()["rows"]}

        posts, versions, captures, sightings = ids("posts"), ids("versions"), ids("captures"), ids("sightings")
        events = {row["post_id"] for row in get(running, "/archive/events.json", _shape="objects").json()["rows"]}
        row_page = requests.get(f"{running.url}/archive/posts/{built.hostile}.json", timeout=10)
        shown_row = requests.get(f"{running.url}/archive/posts/{built.edited}.json", timeout=10)
        search = get(running, "/-/search", q="alert").text
        post_page = requests.get(f"{running.url}/-/post/{built.hostile}", timeout=10)
        payload = requests.get(f"{running.url}/-/payload/{built.payload_sha256}", timeout=10)
    finally:
        running.stop()
    assert built.hostile not in posts and {built.edited, built.deleted} <= posts
    assert not hidden_versions & versions and versions
    assert built.hostile not in events and built.edited in events
    assert not hidden_captures & captures
    assert hidden_sightings and not hidden_sightings & sightings  # the pages that showed it, too
    assert row_page.status_code == 404 and shown_row.status_code == 200
    assert "No statements match." in search
    assert post_page.status_code == 404
    # the listing that showed the unpublished post holds its content: its payload is withheld like it
    assert payload.status_code == 404


def test_a_post_page_to_cite(server: Server, built: Built) -> None:
    moved = requests.get(f"{server.url}/-/post/{built.edited}", params={"q": "Monday"}, allow_redirects=False,
                         timeout=10)
    assert moved.status_code == 302 and moved.headers["location"] == f"{page(EDITED)}?q=Monday"
    html = get(server, page(EDITED)).text
    tree = HTMLParser(html)
    conn = sqlite3.connect(built.path)
    sha = conn.execute("SELECT content_sha256 FROM versions WHERE post_id = ? AND number = 2",
                       (built.edited,)).fetchone()[0]
    conn.close()
    citation = tree.css_first("pre.citation").text()
    assert citation == (
        "Ministry of Examples. “Meeting”. webpage, published 2024-05-01 (as the source states).\n"
        "Archived: first seen 2024-05-01 12:00:00 UTC; version 2 of 2 seen 2024-05-02 08:00:00 UTC.\n"
        "Original URL: https://example.org/a\n"
        f"Archived copy: {server.url}{page(EDITED)}#version-2\n"
        f"Content SHA-256: {sha}\n"
        "Checkpoint: not yet in a checkpoint (no signed checkpoint covers this version yet).")
    assert tree.css_first("button.copy-citation").attributes["data-copy"] == "citation"
    assert [a.attributes["href"] for a in tree.css("a.permalink")] == [f"{page(EDITED)}#version-{n}" for n in (1, 2)]
    # times: to the second in UTC, the claim no finer than it was made ("1 May 2024"), the exact value on hover
    claimed = tree.css_first('time[datetime="2024-05-01T10:00:00.000000Z"]')
    assert claimed.text() == "2024-05-01" and claimed.attributes["title"] == "2024-05-01T10:00:00.000000Z"
    assert ".000000" not in " ".join(tree.body.text(separator=" ").split())
    # the diff comes before the version's text, deletions and insertions apart
    version = tree.css_first("#version-2").html
    assert version.index("Changes from version 1") < version.index("Text of version 2")
    marked = HTMLParser(get(server, page(EDITED), q="Monday").text)
    assert [m.text() for m in marked.css("#version-1 mark")] == ["Monday"] and not marked.css("#version-2 mark")
    data = get(server, page(EDITED) + ".json").json()
    assert data["citation"] == citation and [v["number"] for v in data["versions"]] == [1, 2]
    assert data["post"]["native_id"] == EDITED and data["url"] == f"{server.url}{page(EDITED)}"


def test_an_import_is_shown_as_the_file_it_was(server: Server, built: Built) -> None:
    html = get(server, page(TWEET, "x")).text
    data = get(server, page(TWEET, "x") + ".json").text
    tree = HTMLParser(html)
    assert "Imported file" in html and "edited.jsonl (twarc" in tree.css_first(".capture").text()
    captures = get(server, f"/{NAME}/captures").text
    runs = get(server, f"/{NAME}/runs").text
    assert "imported file edited.jsonl" in captures
    assert "no response" not in html  # an import is not an HTTP exchange
    for shown in (html, data, captures, runs):
        for leak in ("file://", str(built.path.parent)):
            assert leak not in shown, shown[max(0, shown.find(leak) - 300):shown.find(leak) + 100]


def test_an_archive_older_than_version_search_says_how_to_upgrade(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    before = next(version for version, name, _ in migrations() if "versions_fts" in name) - 1
    connect(old, create=True, upgrade_to=before).close()
    port = free_port()
    running = start_datasette([sys.executable, "-m", "datasette", "serve", "-i", str(old), "--port", str(port)],
                              f"http://127.0.0.1:{port}")
    try:
        found = get(running, "/-/search", q="anything").text
    finally:
        running.stop()
    assert "predates the search of every version (no versions_fts index)" in found and "archiver init --db" in found


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_home_page_search_and_citation_in_chromium(server: Server, built: Built, tmp_path: Path) -> None:
    home = HTMLParser(chromium(tmp_path, server.url + "/", "--dump-dom", "--window-size=390,1600"))
    form = home.css_first("form.home-search")
    assert form.attributes["action"] == "/-/search" and form.css_first("input[type=search]").attributes["name"] == "q"
    edited = [a.attributes["href"] for a in home.css(".latest-edited a")]
    assert f"{page(EDITED)}#version-2" in edited
    deleted = [a.text() for a in home.css(".latest-deleted a")]
    assert deleted == ["Harbour"]
    # what submitting the form loads: the search page, the result linking to the post's lasting address
    results = HTMLParser(chromium(tmp_path, f"{server.url}/-/search?q=Monday", "--dump-dom"))
    assert [a.attributes["href"] for a in results.css("a.result-link")] == [f"{page(EDITED)}?q=Monday#version-1"]
    assert "edited out" in results.css_first(".matched-in").text()
    # the copy button puts the citation on the clipboard, as the page shows it (the checkpoint line last)
    with Chromium(tmp_path / "clipboard") as browser:
        browser.grant_clipboard(server.url)
        browser.open(server.url + page(EDITED))
        cited = browser.click_and_read_clipboard("button.copy-citation")
    assert cited == HTMLParser(get(server, page(EDITED)).text).css_first("pre.citation").text()
    assert cited.startswith("Ministry of Examples. “Meeting”. webpage, published 2024-05-01")
    assert f"Archived copy: {server.url}{page(EDITED)}#version-2" in cited
    assert cited.endswith("\nCheckpoint: not yet in a checkpoint (no signed checkpoint covers this version yet).")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "plugin-home-page-390.png"
    shot.unlink(missing_ok=True)
    chromium(tmp_path, server.url + "/", f"--screenshot={shot}", "--window-size=390,1600")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_evidence_bundle_holds_a_valid_wacz(server: Server, built: Built, tmp_path: Path) -> None:
    html = get(server, page(EDITED)).text
    href = HTMLParser(html).css_first("a.bundle-download").attributes["href"]
    response = get(server, href)
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="webpage-https-example.org-a')
    bundle = zipfile.ZipFile(io.BytesIO(response.content))
    assert set(bundle.namelist()) == {"post.wacz", "versions.json", "HOW-TO-VERIFY.txt", "SHA256SUMS"}
    for line in bundle.read("SHA256SUMS").decode().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256(bundle.read(name)).hexdigest() == digest, name
    versions = json.loads(bundle.read("versions.json"))
    assert [v["text"] for v in versions["versions"]] == [
        "The minister met the delegation on Monday.",
        "The minister met the delegation on Tuesday and agreed a framework."]
    wacz = tmp_path / "post.wacz"
    wacz.write_bytes(bundle.read("post.wacz"))
    checked = subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(wacz)], capture_output=True,
                             text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # the WARC inside: a request and a response (or revisit) for each capture of the post, as warcio reads them
    package = zipfile.ZipFile(wacz)
    warcs = [name for name in package.namelist() if name.startswith("archive/")]
    assert warcs == ["archive/post.warc.gz"]
    records = [(record.rec_type, record.rec_headers.get_header("WARC-Target-URI"))
               for record in ArchiveIterator(io.BytesIO(package.read(warcs[0])))]
    assert records[0][0] == "warcinfo"
    assert ("response", "https://example.org/news") in records and ("request", "https://example.org/news") in records
    assert sum(kind == "request" for kind, _ in records) == sum(kind in ("response", "revisit") for kind, _ in records)
