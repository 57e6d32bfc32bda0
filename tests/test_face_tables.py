"""Datasette's own table views in headless Chromium: readable column labels over the SQL names (which stay
what `?_sort=` and SQL use), and on a phone one compact card per row with the table's key fields, the page
no wider than the screen. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator

import pytest
import requests

from archiver.publish.labels import KEY_COLUMNS, label
from tests.cdp import Chromium
from tests.test_browser import ARTIFACTS, CHROMIUM
from tests.test_publish import Server, build_archive, free_port, start_datasette

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(apt-get install chromium); CI installs it")
TABLES = ("posts", "versions", "events", "captures", "sources", "runs")
# What each visible column of the page says: its SQL name, label, whether it is shown, and its box.
COLUMNS = """Array.from(document.querySelectorAll('table.rows-and-columns th')).map((th) => ({
    name: th.dataset.column, title: th.title, sort: (th.querySelector('a') || {}).href || null,
    label: (th.querySelector('.column-label') || {}).textContent,
    shown: th.querySelector('.column-label').getBoundingClientRect().width > 0}))"""
CARDS = """Array.from(document.querySelectorAll('table.rows-and-columns tbody tr')).map((tr) => ({
    right: tr.getBoundingClientRect().right,
    cells: Array.from(tr.querySelectorAll('td')).map((td) => {
        const box = td.getBoundingClientRect();
        return {name: td.className.split(' ')[0].slice(4), shown: box.height > 0 && box.width > 0,
                left: box.left, right: box.right,
                label: getComputedStyle(td, '::before').content};
    })}))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("tables")
    built = build_archive(folder / "archive.db")
    # another database served beside it, with a table of the same name: not an archive, left as it is
    other = sqlite3.connect(folder / "other.db")
    with other:
        other.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, author_handle TEXT, body TEXT)")
        other.execute("INSERT INTO posts VALUES (1, 'someone', 'not archived')")
    other.close()
    port = free_port()
    running = start_datasette([sys.executable, "-m", "datasette", "serve", str(built.path), str(folder / "other.db"),
                               "--port", str(port)], f"http://127.0.0.1:{port}")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    with Chromium(tmp_path_factory.mktemp("chromium")) as running:
        yield running


def row_count(server: Server, table: str) -> int:
    response = requests.get(f"{server.url}/archive/{table}.json", params={"_shape": "objects"}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return len(response.json()["rows"])


@pytest.mark.parametrize("table", TABLES)
def test_table_headers_are_readable_labels_over_the_sql_names(server: Server, browser: Chromium, table: str) -> None:
    browser.viewport(1280)
    browser.open(f"{server.url}/archive/{table}")
    columns = browser.evaluate(COLUMNS)
    assert columns and all(column["shown"] for column in columns)
    for column in columns:
        assert column["label"] == label(table, column["name"])
        assert column["title"].split(":")[0] == column["name"]  # the real name on hover
        if column["sort"]:  # sorting still goes by the SQL name
            assert f"_sort={column['name']}" in column["sort"] or f"_sort_desc={column['name']}" in column["sort"]
    shown = {column["name"]: column["label"] for column in columns}
    expected = {"posts": ("author_handle", "Author"), "versions": ("observed_at", "Seen"),
                "events": ("type", "Event"), "captures": ("requested_url", "Requested URL"),
                "sources": ("organisation", "Organisation"), "runs": ("error", "Why it failed")}[table]
    assert shown[expected[0]] == expected[1]
    names = browser.evaluate("Array.from(document.querySelectorAll('th code.column-name')).map((c) => c.textContent)")
    assert names == [column["name"] for column in columns]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = browser.screenshot(ARTIFACTS / f"table-{table}-1280.png")
    assert int.from_bytes(shot[16:20], "big") == 1280


@pytest.mark.parametrize("table", TABLES)
def test_on_a_phone_each_row_is_a_card_of_its_key_fields(server: Server, browser: Chromium, table: str) -> None:
    browser.viewport(390, mobile=True)
    browser.open(f"{server.url}/archive/{table}")
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390
    cards = browser.evaluate(CARDS)
    assert len(cards) == row_count(server, table) > 0
    keys = set(KEY_COLUMNS[table])
    for card in cards:
        assert card["right"] <= 390
        shown = {cell["name"] for cell in card["cells"] if cell["shown"]}
        present = {cell["name"] for cell in card["cells"]}
        assert shown == keys & present and shown  # every key field of every row, and only those
        for cell in card["cells"]:
            if cell["shown"]:
                assert cell["label"] == f'"{label(table, cell["name"])}"'
                assert cell["left"] >= 0 and cell["right"] <= 390
    # the column notes are below the cards, folded, not in front of the data
    if table != "events":  # the tables whose columns the metadata describes
        assert browser.evaluate("getComputedStyle(document.querySelector('dl.column-descriptions')).display") == "none"
        assert browser.evaluate("document.querySelector('details.column-notes').open") is False
        first_card = browser.evaluate("document.querySelector('table.rows-and-columns tbody tr')"
                                      ".getBoundingClientRect().top")
        notes = browser.evaluate("document.querySelector('details.column-notes').getBoundingClientRect().top")
        assert notes > first_card
    shot = browser.screenshot(ARTIFACTS / f"table-{table}-390.png")
    assert int.from_bytes(shot[16:20], "big") == 390


def test_a_row_page_on_a_phone_still_shows_every_field(server: Server, browser: Chromium) -> None:
    browser.viewport(390, mobile=True)
    browser.open(f"{server.url}/archive/posts/1")
    (card,) = browser.evaluate(CARDS)
    assert all(cell["shown"] for cell in card["cells"]) and len(card["cells"]) > len(KEY_COLUMNS["posts"])
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_database_that_is_not_an_archive_keeps_its_column_names(server: Server, browser: Chromium) -> None:
    browser.viewport(1280)
    browser.open(f"{server.url}/other/posts")
    assert [column["label"] for column in browser.evaluate(COLUMNS)] == ["id", "author_handle", "body"]
    browser.viewport(390, mobile=True)
    browser.open(f"{server.url}/other/posts")
    (card,) = browser.evaluate(CARDS)
    assert [cell["name"] for cell in card["cells"] if cell["shown"]] == ["id", "author_handle", "body"]
