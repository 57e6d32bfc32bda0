"""`archiver serve --public`: a published copy served as the public should read it — immutable, its counts
inspected once, several Datasette processes on one port — and a live archive refused, over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from archiver.cli import main
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
