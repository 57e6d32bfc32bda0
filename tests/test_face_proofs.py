"""The post page names the signed checkpoint a version is included in and hands out its inclusion proof:
an archive made with the command line (init, import, checkpoint, import again), served by `archiver
serve`'s command over real HTTP; the downloaded proof checked by the standalone verifier against the
checkpoint; a version recorded after the checkpoint said to be not yet in one; and the citation the copy
button puts on the clipboard in headless Chromium, checkpoint line included."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from archiver.cli import main
from tests.cdp import Chromium
from tests.conftest import FIXTURES
from tests.test_browser import ARTIFACTS, CHROMIUM
from tests.test_publish import Server, free_port, page, serve_archive, start_datasette

VERIFIER = Path(__file__).resolve().parent.parent / "tools" / "verify_evidence.py"
EDITED = "1576994746135764992"  # twarc2/edited.jsonl: a tweet edited once, imported before the checkpoint
LATER = "1558553189766631429"  # twarc2/media_tweet.jsonl: imported after it


@dataclass
class Logged:
    db: Path
    vkey: str  # the verifier key `archiver init` printed
    checkpoint: Path  # the file `archiver checkpoint` wrote


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Logged:
    folder = tmp_path_factory.mktemp("proofs")
    db = folder / "archive.db"
    made = cli("init", "--db", str(db), "--origin", "newsroom.example/archive")
    vkey = made.split("public key ", 1)[1].split()[0]
    cli("import", "twarc", "--db", str(db), str(FIXTURES / "twarc2" / "edited.jsonl"))
    cli("checkpoint", "--db", str(db))
    cli("import", "twarc", "--db", str(db), str(FIXTURES / "twarc2" / "media_tweet.jsonl"))
    (checkpoint,) = (folder / "checkpoints").glob("checkpoint-*.txt")
    return Logged(db, vkey, checkpoint)


@pytest.fixture(scope="module")
def server(logged: Logged) -> Iterator[Server]:
    yield from serve_archive(logged.db)


def get(server: Server, path: str) -> requests.Response:
    response = requests.get(server.url + path, timeout=30)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return response


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(VERIFIER), *args], capture_output=True, text=True, timeout=60)


def test_the_citation_names_the_checkpoint_and_the_proof_verifies(server: Server, logged: Logged,
                                                                  tmp_path: Path) -> None:
    note = logged.checkpoint.read_text()
    origin, size, root_b64 = note.split("\n")[:3]
    root = base64.b64decode(root_b64).hex()
    tree = HTMLParser(get(server, page(EDITED, "x")).text)
    citation = tree.css_first("pre.citation").text()
    proof_url = f"{server.url}/-/proof/x/{EDITED}/2.json"
    last = citation.splitlines()[-1]
    assert last.startswith(f"Checkpoint: {origin}, tree size {size}, root hash {root}, signed ")
    assert last.endswith(f"; inclusion proof: {proof_url}")
    shown = tree.css_first("p.checkpoint")
    assert "not-yet" not in shown.attributes["class"] and root in shown.text()
    assert shown.css_first("a.proof-download").attributes["href"] == f"/-/proof/x/{EDITED}/2.json"
    # every version of the post has its own proof, both inside the checkpoint
    assert [a.attributes["href"] for a in tree.css(".version-meta a.proof-download")] == [
        f"/-/proof/x/{EDITED}/{n}.json" for n in (1, 2)]

    download = get(server, f"/-/proof/x/{EDITED}/2.json")
    assert download.headers["content-disposition"] == f'attachment; filename="x-{EDITED}-version-2.proof.json"'
    proof = download.json()
    assert proof["checkpoint"] == note and proof["tree_size"] == int(size)
    assert proof["row"]["number"] == 2 and proof["public_key"] == logged.vkey
    signed = get(server, shown.css_first("a.checkpoint-download").attributes["href"])
    assert signed.content == logged.checkpoint.read_bytes()  # byte for byte the file that was written
    assert signed.headers["content-disposition"] == f'attachment; filename="checkpoint-{size}.txt"'

    saved = tmp_path / "proof.json"
    saved.write_bytes(download.content)
    checked = verify("inclusion", str(saved), "--key", logged.vkey)
    assert checked.returncode == 0 and checked.stdout.startswith("OK"), checked.stdout + checked.stderr
    (tmp_path / "checkpoint.txt").write_bytes(signed.content)
    assert verify("checkpoint", str(tmp_path / "checkpoint.txt"), "--key", logged.vkey).returncode == 0
    # the check can fail: a proof of another text does not verify
    proof["row"]["text"] = "something else"
    saved.write_text(json.dumps(proof))
    assert verify("inclusion", str(saved), "--key", logged.vkey).returncode == 1

    # the post as JSON says the same
    data = get(server, page(EDITED, "x") + ".json").json()
    assert data["citation"] == citation
    assert data["versions"][1]["checkpoint"]["tree_size"] == int(size)
    assert data["versions"][1]["checkpoint"]["root_hash"] == root and data["versions"][1]["proof"] == proof_url


def test_a_version_recorded_after_the_checkpoint_is_not_yet_in_one(server: Server) -> None:
    tree = HTMLParser(get(server, page(LATER, "x")).text)
    citation = tree.css_first("pre.citation").text()
    assert citation.splitlines()[-1] == ("Checkpoint: not yet in a checkpoint "
                                         "(no signed checkpoint covers this version yet).")
    assert "not-yet" in tree.css_first("p.checkpoint").attributes["class"]
    assert not tree.css("a.proof-download")
    assert "not yet in a checkpoint" in tree.css_first(".version-meta").text()
    missing = requests.get(f"{server.url}/-/proof/x/{LATER}/1.json", timeout=30)
    assert missing.status_code == 404
    assert get(server, page(LATER, "x") + ".json").json()["versions"][0]["checkpoint"] is None
    assert requests.get(f"{server.url}/-/checkpoint/999999.txt", timeout=30).status_code == 404


def test_the_evidence_bundle_carries_the_same_proofs(server: Server, logged: Logged, tmp_path: Path) -> None:
    bundle = zipfile.ZipFile(io.BytesIO(get(server, f"/-/bundle/x/{EDITED}.zip").content))
    size = logged.checkpoint.name.removeprefix("checkpoint-").removesuffix(".txt")
    assert {"proofs/version-1.proof.json", "proofs/version-2.proof.json", f"checkpoint-{size}.txt"} <= set(
        bundle.namelist())
    assert bundle.read(f"checkpoint-{size}.txt") == logged.checkpoint.read_bytes()
    assert json.loads(bundle.read("proofs/version-2.proof.json")) == get(server, f"/-/proof/x/{EDITED}/2.json").json()
    listed = bundle.read("SHA256SUMS").decode()
    assert "  proofs/version-1.proof.json\n" in listed
    for number in (1, 2):
        saved = tmp_path / f"v{number}.json"
        saved.write_bytes(bundle.read(f"proofs/version-{number}.proof.json"))
        assert verify("inclusion", str(saved), "--key", logged.vkey).returncode == 0
    later = zipfile.ZipFile(io.BytesIO(get(server, f"/-/bundle/x/{LATER}.zip").content))
    assert not [name for name in later.namelist() if name.startswith(("proofs/", "checkpoint-"))]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_copy_button_puts_the_citation_on_the_clipboard(server: Server, tmp_path: Path) -> None:
    expected = HTMLParser(get(server, page(EDITED, "x")).text).css_first("pre.citation").text()
    assert "\nCheckpoint: newsroom.example/archive, tree size " in expected
    with Chromium(tmp_path / "profile") as browser:
        browser.grant_clipboard(server.url)
        browser.open(server.url + page(EDITED, "x"))
        # something else on the clipboard first, so that only the button can have put the citation there
        browser.evaluate("navigator.clipboard.writeText('not the citation')", gesture=True)
        assert browser.evaluate("navigator.clipboard.readText()") == "not the citation"
        assert browser.click_and_read_clipboard("button.copy-citation") == expected
        ARTIFACTS.mkdir(exist_ok=True)
        browser.viewport(390, mobile=True)
        browser.open(server.url + page(EDITED, "x"))
        # the checkpoint's root hash breaks rather than widen the page past a phone's screen
        assert browser.evaluate("document.documentElement.scrollWidth") <= 390
        assert browser.evaluate("document.querySelector('p.checkpoint').getBoundingClientRect().right") <= 390
        shot = browser.screenshot(ARTIFACTS / "post-page-checkpoint-390.png")
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and int.from_bytes(shot[16:20], "big") == 390


def serve_changed(logged: Logged, tmp_path: Path, *changes: str) -> Server:
    """A copy of the archive with `changes` made to it, served as `datasette serve -i` serves it."""
    copy = tmp_path / "changed.db"
    copy.write_bytes(logged.db.read_bytes())
    conn = sqlite3.connect(copy)
    with conn:
        for change in changes:
            conn.execute(change)
    conn.close()
    port = free_port()
    return start_datasette([sys.executable, "-m", "datasette", "serve", "-i", str(copy), "--port", str(port)],
                           f"http://127.0.0.1:{port}")


def test_an_archive_older_than_checkpoints_says_not_yet(logged: Logged, tmp_path: Path) -> None:
    # as an archive made before schema 8 is: no transparency-log tables
    running = serve_changed(logged, tmp_path, *(f"DROP TABLE {table}" for table in (
        "checkpoint_timestamps", "checkpoints", "checkpoint_keys", "tree_nodes")), "PRAGMA user_version = 7")
    try:
        citation = HTMLParser(get(running, page(EDITED, "x")).text).css_first("pre.citation").text()
        proof = requests.get(f"{running.url}/-/proof/x/{EDITED}/2.json", timeout=30)
        signed = requests.get(f"{running.url}/-/checkpoint/8.txt", timeout=30)
        bundle = zipfile.ZipFile(io.BytesIO(get(running, f"/-/bundle/x/{EDITED}.zip").content))
    finally:
        running.stop()
    assert citation.endswith("\nCheckpoint: not yet in a checkpoint (no signed checkpoint covers this version yet).")
    assert proof.status_code == 404 and signed.status_code == 404
    assert not [name for name in bundle.namelist() if name.startswith("proofs/")]


def test_an_unpublished_post_has_no_proof_to_download(logged: Logged, tmp_path: Path) -> None:
    running = serve_changed(logged, tmp_path, f"UPDATE posts SET publish = 0 WHERE native_id = '{EDITED}'")
    try:
        hidden = requests.get(f"{running.url}/-/proof/x/{EDITED}/2.json", timeout=30)
        shown = requests.get(f"{running.url}/-/proof/x/{LATER}/1.json", timeout=30)
        missing = requests.get(f"{running.url}/-/proof/x/{LATER}/7.json", timeout=30)
    finally:
        running.stop()
    assert hidden.status_code == 404 and "no published x post" in hidden.text
    assert shown.status_code == 404 and "not yet in a checkpoint" in shown.text  # published, but after it
    assert missing.status_code == 404 and "has no version 7" in missing.text
