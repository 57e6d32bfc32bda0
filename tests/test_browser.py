"""A real browser (headless Chromium) on the served archive: the post page and the search page show
what a reader needs, archived markup stays text, and a screenshot is kept in test-artifacts/."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from archiver.publish.server import datasette_command
from tests.test_publish import EDITED, SCRIPT_TEXT, Built, Server, build_archive, free_port, page, start_datasette

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(apt-get install chromium); CI installs it")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Built]]:
    built = build_archive(tmp_path_factory.mktemp("browser") / "archive.db")
    port = free_port()
    server = start_datasette(datasette_command(built.path, port=port), f"http://127.0.0.1:{port}")
    yield server, built
    server.stop()


def chromium(tmp_path: Path, url: str, *extra: str) -> str:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=3000",
               *extra, url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def visible_text(dom: str) -> str:
    tree = HTMLParser(dom)
    for node in tree.css("script, style"):
        node.decompose()
    assert tree.body is not None
    return " ".join(tree.body.text(separator=" ").split())


def test_post_page_in_a_browser(served: tuple[Server, Built], tmp_path: Path) -> None:
    server, built = served
    dom = chromium(tmp_path, f"{server.url}/-/post/{built.edited}", "--dump-dom")
    text = visible_text(dom)
    assert "Meeting" in text and "Version 1" in text and "Version 2" in text
    assert "The minister met the delegation on Tuesday and agreed a framework." in text
    tree = HTMLParser(dom)
    assert [node.text() for node in tree.css(".diff del")] == ["Monday."]
    assert [node.text() for node in tree.css(".diff ins")] == ["Tuesday and agreed a framework."]
    assert "Download the raw payload" in text and "Capture 2" in text  # capture 1: its robots.txt
    assert "archived copy" in text  # of that robots.txt, beside the decision

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "post-page.png"
    shot.unlink(missing_ok=True)
    chromium(tmp_path, f"{server.url}/-/post/{built.edited}", f"--screenshot={shot}", "--window-size=1200,1600")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
    assert int.from_bytes(data[16:20], "big") == 1200  # width from the PNG header


def test_search_page_in_a_browser(served: tuple[Server, Built], tmp_path: Path) -> None:
    server, _ = served
    dom = chromium(tmp_path, f"{server.url}/-/search?q=framework&platform=webpage", "--dump-dom")
    tree = HTMLParser(dom)
    results = tree.css("li.search-result")
    assert len(results) == 1
    link = results[0].css_first("a.result-link")
    assert link is not None and link.text() == "Meeting"
    assert link.attributes["href"] == f"{page(EDITED)}?q=framework#version-2"
    assert [mark.text() for mark in results[0].css("mark")] == ["framework"]
    assert "Ministry of Examples" in visible_text(dom)


def test_archived_markup_stays_text_in_a_browser(served: tuple[Server, Built], tmp_path: Path) -> None:
    server, built = served
    dom = chromium(tmp_path, f"{server.url}/-/post/{built.hostile}", "--dump-dom")
    tree = HTMLParser(dom)
    # the archived markup is there to read, as text ...
    assert SCRIPT_TEXT in visible_text(dom)
    assert "<b>bold</b> title" in tree.css_first("h1").text()
    # ... and the browser built no element from it
    assert not [s for s in tree.css("script") if "alert" in (s.text() or "")]
    assert not tree.css("img[onerror]") and not tree.css("h1 b")
