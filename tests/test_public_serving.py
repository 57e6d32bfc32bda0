"""`archiver serve --public`: a published copy served as the public should read it — immutable, its counts
inspected once, several Datasette processes on one port — and a live archive refused, over real HTTP."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from archiver.cli import main
from archiver.facet_counts import FACET_COLUMNS
from archiver.verify import verify
from tests.test_publish import EDITED, Built, Server, build_archive, free_port, page, start_datasette


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, Path]:
    folder = tmp_path_factory.mktemp("public")
    built = build_archive(folder / "archive.db")
    snapshot = folder / "public-2026-12-01.db"
    made = CliRunner().invoke(main, ["snapshot", "--db", str(built.path), str(snapshot), "--published-only"])
    assert made.exit_code == 0, made.output
    return built, snapshot


@pytest.fixture(scope="module")
def server(published: tuple[Built, Path]) -> Iterator[Server]:
    port = free_port()
    running = start_datasette([sys.executable, "-m", "archiver", "serve", "--db", str(published[1]), "--public",
                               "--processes", "2", "--port", str(port)], f"http://127.0.0.1:{port}")
    yield running
    running.stop()


def _workers(pid: int) -> list[int]:
    """The processes uvicorn started to serve (children of the server whose command line is a worker's)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        if fields.get("PPid", "").strip() == str(pid) and b"spawn_main" in cmdline:
            found.append(int(status.parent.name))
    return found


def test_a_snapshot_is_served_by_several_processes_on_one_port(server: Server, published: tuple[Built, Path]) -> None:
    _, snapshot = published
    post = requests.get(server.url + page(EDITED), timeout=10)
    assert post.status_code == 200 and "Changes from version 1" in post.text
    found = requests.get(server.url + "/-/search", params={"q": "framework"}, timeout=10)
    assert found.status_code == 200 and "<mark>framework</mark>" in found.text
    # the plugin's pages are kept by a caching proxy as long as Datasette's own; payloads, named by their
    # digest, for good
    assert post.headers["Cache-Control"] == found.headers["Cache-Control"] == "max-age=5"
    payload = requests.get(server.url + f"/-/payload/{published[0].payload_sha256}", timeout=10)
    assert payload.status_code == 200 and "immutable" in payload.headers["Cache-Control"]
    assert len(_workers(server.process.pid)) == 2
    # the counts are the inspected ones, made once beside the snapshot
    inspected = json.loads(snapshot.with_name(snapshot.name + ".inspect.json").read_text())
    assert inspected[snapshot.stem]["tables"]["posts"]["count"] == 3
    databases = requests.get(server.url + "/-/databases.json", timeout=10).json()
    assert [(d["name"], d["is_mutable"]) for d in databases] == [(snapshot.stem, False)]


def test_a_live_archive_is_never_served_as_public(published: tuple[Built, Path]) -> None:
    built, _ = published
    result = subprocess.run([sys.executable, "-m", "archiver", "serve", "--db", str(built.path), "--public"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2  # the wrong file for this way of serving: a usage error
    assert result.stderr.strip().splitlines() == [
        f"archiver: error: {built.path.resolve()} is a live archive (WAL mode): serve it with `archiver serve`, "
        "or publish a copy made by `archiver snapshot` with --public"], result.stderr


def _facet(url: str, **params: str) -> dict[str, int]:
    found = requests.get(url, params={**params, "_facet": "status"}, timeout=10)
    assert found.status_code == 200, found.text[:500]
    facets = found.json()["facet_results"]  # a facet that timed out is missing here
    return {row["value"]: row["count"] for row in facets["status"]["results"]}


def test_a_published_copy_keeps_exact_facet_counts_and_the_face_reads_them(published: tuple[Built, Path],
                                                                            tmp_path: Path) -> None:
    _, snapshot = published
    conn = sqlite3.connect(snapshot)
    for table, columns in FACET_COLUMNS.items():
        for column in columns:
            kept = conn.execute("SELECT value, count FROM facet_counts WHERE table_name = ? AND column_name = ?",
                                (table, column)).fetchall()
            grouped = conn.execute(f"SELECT {column}, count(*) FROM {table} WHERE {column} IS NOT NULL "
                                   f"GROUP BY {column}").fetchall()
            assert sorted(kept) == sorted(grouped), (table, column)
    conn.close()
    assert _facet(f"{_serve_copy(snapshot, tmp_path, '-i')}/copy/posts.json") == {"live": 2, "deleted": 1}
    # a count only the kept table says (the copy altered for the test): the face's facet of the whole table
    # is read from it, a filtered table and a file served mutable are counted as Datasette counts them
    marked = tmp_path / "marked"
    marked.mkdir()
    altered = marked / "copy.db"
    altered.write_bytes(snapshot.read_bytes())
    with sqlite3.connect(altered) as conn:
        conn.execute("UPDATE facet_counts SET count = 1000 WHERE table_name = 'posts' AND value = 'live'")
    conn.close()
    immutable = _serve_copy(altered, marked, "-i")
    assert _facet(f"{immutable}/copy/posts.json") == {"live": 1000, "deleted": 1}
    assert _facet(f"{immutable}/copy/posts.json", platform="webpage") == {"live": 2, "deleted": 1}
    html = requests.get(f"{immutable}/copy/posts", params={"_facet": "status"}, timeout=10).text
    assert "status=live\">live</a> 1,000</li>" in html  # Datasette's own facet markup and link
    assert _facet(f"{_serve_copy(altered, marked)}/copy/posts.json") == {"live": 2, "deleted": 1}


def test_verify_recounts_the_kept_facet_counts(published: tuple[Built, Path], tmp_path: Path) -> None:
    _, snapshot = published
    assert verify(snapshot).ok, verify(snapshot).problems
    cases = {
        "UPDATE facet_counts SET count = count + 1 WHERE column_name = 'status' AND value = 'live'":
            ["facet_counts posts.status = 'live': 3 kept, not the table's count",
             "facet_counts posts.status = 'live': 2 in the table, not kept"],
        "DELETE FROM facet_counts WHERE column_name = 'type'":
            [f"facet_counts events.type = {kind!r}: {n} in the table, not kept" for kind, n in
             sqlite3.connect(snapshot).execute("SELECT type, count(*) FROM events GROUP BY type ORDER BY type")],
        "UPDATE facet_counts SET value = CAST(value AS BLOB) WHERE column_name = 'status' AND value = 'deleted'":
            ["facet_counts posts.status = b'deleted': 1 kept, not the table's count",
             "facet_counts posts.status = 'deleted': 1 in the table, not kept"],
    }
    for number, (change, expected) in enumerate(cases.items()):
        altered = tmp_path / f"altered-{number}.db"
        altered.write_bytes(snapshot.read_bytes())
        with sqlite3.connect(altered) as conn:
            conn.execute(change)
        conn.close()
        assert sorted(verify(altered).problems) == sorted(expected), change


_running: list[Server] = []


def _serve_copy(path: Path, folder: Path, *flags: str) -> str:
    """`datasette serve [-i] <folder>/copy.db` (the copy as its own database, named copy)."""
    copy = folder / "copy.db"
    if path != copy:
        copy.write_bytes(path.read_bytes())
    port = free_port()
    server = start_datasette([sys.executable, "-m", "datasette", "serve", *flags, str(copy), "--port", str(port)],
                             f"http://127.0.0.1:{port}")
    _running.append(server)
    return server.url


@pytest.fixture(autouse=True)
def _stop_copies() -> Iterator[None]:
    yield
    while _running:
        _running.pop().stop()


def test_only_a_copy_without_unpublished_rows_is_served_without_the_publication_condition(
        server: Server, published: tuple[Built, Path], tmp_path: Path) -> None:
    built, snapshot = published
    page_of_posts = requests.get(f"{server.url}/{snapshot.stem}/posts", timeout=10)
    assert page_of_posts.status_code == 200 and "unpublished_posts" not in page_of_posts.text
    # a whole copy of an archive that holds an unpublished post, served immutable: still hidden, and its
    # facets (which its kept counts, taken over every row, would get wrong) counted over what is shown
    archive = tmp_path / "archive.db"
    archive.write_bytes(built.path.read_bytes())
    with sqlite3.connect(archive) as conn:
        conn.execute("UPDATE posts SET publish = 0 WHERE id = ?", (built.hostile,))
    conn.close()
    whole = tmp_path / "whole"
    whole.mkdir()
    made = CliRunner().invoke(main, ["snapshot", "--db", str(archive), str(whole / "copy.db")])
    assert made.exit_code == 0, made.output
    url = _serve_copy(whole / "copy.db", whole, "-i")
    shown = requests.get(f"{url}/copy/posts.json", params={"_shape": "objects"}, timeout=10).json()["rows"]
    assert {row["id"] for row in shown} == {built.edited, built.deleted}
    assert "unpublished_posts" in requests.get(f"{url}/copy/posts", timeout=10).text
    assert _facet(f"{url}/copy/posts.json") == {"live": 1, "deleted": 1}


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")
def test_the_documented_cache_keeps_pages_for_their_max_age_and_takes_no_writes(server: Server,
                                                                              tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from datasette_load import nginx_in_front, stop  # the same rewrite of deploy/ the benchmark measures

    found = nginx_in_front(tmp_path, int(server.url.rsplit(":", 1)[1]))
    assert found is not None
    nginx, cached = found
    try:
        first = requests.get(cached + "/-/search", params={"q": "framework"}, timeout=10)
        again = requests.get(cached + "/-/search", params={"q": "framework"}, timeout=10)
        assert first.status_code == again.status_code == 200 and "<mark>framework</mark>" in again.text
        assert (first.headers["X-Cache-Status"], again.headers["X-Cache-Status"]) == ("MISS", "HIT")
        assert requests.post(cached + "/-/search", data={"q": "x"}, timeout=10).status_code == 403
    finally:
        stop(nginx)


def test_the_shared_port_turns_nagle_off_on_every_connection() -> None:
    # each worker's asyncio sets TCP_NODELAY only on a socket that says it is TCP: checked on a connection
    # accepted from the socket the workers are given
    import asyncio
    import socket

    import uvicorn

    from archiver.publish.public import listening_socket

    listening = listening_socket(uvicorn.Config("archiver.publish.public:app", host="127.0.0.1", port=free_port()))
    accepted: list[int] = []

    async def accept_one() -> None:
        done = asyncio.Event()

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()
            done.set()

        server = await asyncio.start_server(connected, sock=listening)
        _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
        await done.wait()
        writer.close()
        server.close()

    asyncio.run(asyncio.wait_for(accept_one(), 30))
    assert listening.proto == socket.IPPROTO_TCP and accepted and accepted[0] != 0
