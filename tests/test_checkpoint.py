"""Signed checkpoints of the transparency log, end to end through the CLI on an archive filled over
loopback: the checkpoint is a C2SP signed note over the RFC 9162 root of the chain, `verify
--checkpoint` proves the archive extends old and new checkpoints, and truncation, rewrite-and-rechain
and re-chain-from-genesis (which keep the chain self-consistent) each fail naming the checkpoint they
break. Proofs are checked by tools/verify_evidence.py in a process that cannot import archiver."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver.canonical import content_digest
from archiver.cli import main
from archiver.database import connect
from archiver.proofs import inclusion_bundle
from archiver.signed_note import PublicKey, SigningKey
from tests.official_fixtures import Site, fetch, rows, rss, statement_page, write_config
from tests.tampering import rechain, remove_entry, unguarded

ROOT = Path(__file__).resolve().parent.parent
VERIFIER = ROOT / "tools" / "verify_evidence.py"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 as written, for an independent root."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


@pytest.fixture
def history(httpserver, tmp_path: Path) -> dict[str, Path]:
    """An archive with two feed polls (an edit and a deletion between them), checkpoint A after the
    first poll and checkpoint B after the second."""
    site = Site(httpserver)
    link = [site.url("/story/1"), site.url("/story/2")]
    items = [("n-1", link[0], "Expert urges release", "Tue, 02 Jun 2026 14:30:00 GMT", "Release them now."),
             ("n-2", link[1], "Council adopts resolution", "Wed, 03 Jun 2026 09:00:00 GMT", "Adopted.")]
    site.put("/rss.xml", rss(items), "application/rss+xml; charset=utf-8")
    site.put("/story/1", statement_page("Expert urges release"))
    site.put("/story/2", statement_page("Council adopts resolution"))
    config = write_config(tmp_path / "sources.toml", [
        {"id": "un-news", "kind": "feed", "locator": site.url("/rss.xml"), "verified": "loopback"}])
    db = tmp_path / "archive.db"
    code, _, err = cli("init", "--db", str(db), "--origin", "newsroom.example/archive")
    assert code == 0, err
    assert fetch(config, db, "un-news").exit_code == 0
    assert cli("checkpoint", "--db", str(db), "--config", str(config), "--out", str(tmp_path / "a.txt"))[0] == 0
    site.put("/rss.xml", rss([(*items[0][:4], "Release them now, unconditionally.")]),
             "application/rss+xml; charset=utf-8")
    site.remove("/story/2")
    assert fetch(config, db, "un-news").exit_code == 0
    assert cli("checkpoint", "--db", str(db), "--config", str(config), "--out", str(tmp_path / "b.txt"))[0] == 0
    return {"db": db, "a": tmp_path / "a.txt", "b": tmp_path / "b.txt", "key": tmp_path / "checkpoint-key",
            "config": config}


def test_a_checkpoint_is_a_signed_note_over_the_root_of_the_chain(history: dict[str, Path]) -> None:
    key_file = history["key"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = SigningKey.parse(key_file.read_text())
    note = history["a"].read_text()
    lines = note.split("\n")
    assert lines[0] == "newsroom.example/archive" == key.name
    size = int(lines[1])
    entries = rows(history["db"], "SELECT entry_sha256 FROM chain ORDER BY seq")
    assert base64.b64decode(lines[2]) == mth([bytes.fromhex(e) for (e,) in entries[:size]])
    assert lines[3].startswith("time 20") and lines[4] == ""
    signer, encoded = lines[5].removeprefix("\u2014 ").split(" ")
    signature = base64.b64decode(encoded)
    assert signer == key.name and signature[:4] == hashlib.sha256(
        key.name.encode() + b"\n\x01" + key.public.public).digest()[:4]
    assert key.public.verify("\n".join(lines[:4]).encode() + b"\n", signature[4:])
    # recorded as chained rows: the public key (published with the archive), each checkpoint, each run
    assert rows(history["db"], "SELECT public_key FROM checkpoint_keys") == [(key.public.vkey,)]
    assert rows(history["db"], "SELECT tree_size, note FROM checkpoints ORDER BY id")[0] == (size, note)
    assert rows(history["db"], "SELECT count(*) FROM chain WHERE table_name = 'checkpoints'") == [(2,)]
    assert rows(history["db"], "SELECT outcome FROM runs WHERE kind = 'checkpoint'") == [("ok",), ("ok",)]
    # the private key never enters the archive
    seed = base64.b64encode(b"\x01" + key.seed)
    assert seed not in history["db"].read_bytes() and key.seed not in history["db"].read_bytes()


def test_verify_proves_the_archive_extends_old_and_new_checkpoints(history: dict[str, Path]) -> None:
    code, out, err = cli("verify", "--db", str(history["db"]), "--checkpoint", str(history["a"]),
                         "--checkpoint", str(history["b"]))
    assert code == 0, err
    assert out.count("extends it (consistency proof of") == 2 and out.rstrip().endswith("ok")
    vkey = rows(history["db"], "SELECT public_key FROM checkpoint_keys")[0][0]
    code, out, _ = cli("verify", "--db", str(history["db"]), "--checkpoint", str(history["a"]), "--key", vkey)
    assert code == 0 and "extends it" in out


@contextmanager
def _tampered(history: dict[str, Path], tmp_path: Path) -> Iterator[sqlite3.Connection]:
    copy = tmp_path / "tampered.db"
    shutil.copy(history["db"], copy)
    with unguarded(copy) as conn:
        yield conn


def _size(path: Path) -> int:
    return int(path.read_text().split("\n")[1])


def _truncate(conn: sqlite3.Connection, history: dict[str, Path]) -> None:
    keep = _size(history["a"]) + 1  # checkpoint A's own row stays; everything after it goes
    for table, row_id in conn.execute("SELECT table_name, row_id FROM chain WHERE seq > ?", (keep,)).fetchall():
        conn.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
    conn.execute("DELETE FROM chain WHERE seq > ?", (keep,))
    assert conn.execute("SELECT count(*) FROM events WHERE type IN ('edited', 'deleted')").fetchone() == (0,)


def _rewrite_and_rechain(conn: sqlite3.Connection, history: dict[str, Path]) -> None:
    text = "Nothing was said."
    conn.execute("UPDATE versions SET text = ?, content_sha256 = ? WHERE id = 1",
                 (text, content_digest("Expert urges release", text, None)))
    seq = conn.execute("SELECT seq FROM chain WHERE table_name = 'versions' AND row_id = 1").fetchone()[0]
    rechain(conn, seq)


def _remove_renumber_and_rechain(conn: sqlite3.Connection, history: dict[str, Path]) -> None:
    """The edit of the second poll disappears: its version row and chain entry are removed, the later
    entries renumbered and the chain recomputed from there."""
    version_id = conn.execute("SELECT row_id FROM chain WHERE table_name = 'versions' AND seq > ? "
                              "ORDER BY seq LIMIT 1", (_size(history["a"]) + 1,)).fetchone()[0]
    assert conn.execute("SELECT number FROM versions WHERE id = ?", (version_id,)).fetchone() == (2,)
    remove_entry(conn, "versions", version_id)


def _rechain_from_genesis(conn: sqlite3.Connection, history: dict[str, Path]) -> None:
    conn.execute("UPDATE captures SET user_agent = 'forged'")
    forged = SigningKey.generate("newsroom.example/archive").public
    conn.execute("UPDATE checkpoint_keys SET key_id = ?, public_key = ?", (forged.key_id.hex(), forged.vkey))
    rechain(conn, 1)


@pytest.mark.parametrize(("tamper", "broken"), [
    (_truncate, {"b": "the archive has only"}),  # the tail cut back to before the edit and the deletion
    (_remove_renumber_and_rechain, {"b": "history was rewritten"}),
    (_rewrite_and_rechain, {"a": "history was rewritten", "b": "history was rewritten"}),
    (_rechain_from_genesis, {"a": "history was rewritten", "b": "history was rewritten"}),
], ids=["truncation", "middle-row-removed-renumbered-rechained", "rewrite-and-rechain", "rechain-from-genesis"])
def test_tampering_that_keeps_the_chain_consistent_breaks_the_checkpoints(
        history: dict[str, Path], tmp_path: Path, tamper, broken: dict[str, str]) -> None:
    with _tampered(history, tmp_path) as conn:
        tamper(conn, history)
    copy = str(tmp_path / "tampered.db")
    chain_problems = [p for p in _verify_problems(copy) if p.startswith("chain entry")]
    assert chain_problems == []  # the chain alone is consistent again: only a checkpoint kept outside tells
    vkey = rows(history["db"], "SELECT public_key FROM checkpoint_keys")[0][0]  # the key published earlier
    code, out, err = cli("verify", "--db", copy, "--checkpoint", str(history["a"]),
                         "--checkpoint", str(history["b"]), "--key", vkey)
    assert code == 1
    broken_lines = [line for line in err.splitlines() if line.startswith("BROKEN: checkpoint")]
    assert len(broken_lines) == len(broken), err
    for name, reason in broken.items():
        assert any(str(history[name]) in line and reason in line for line in broken_lines), (name, err)
    for name in {"a", "b"} - set(broken):
        assert f"checkpoint {history[name]} (tree size {_size(history[name])}): today's archive" in out


def _verify_problems(db: str) -> list[str]:
    from archiver.verify import verify

    return verify(db).problems


def test_a_rechained_archive_with_its_own_new_key_fails_the_old_checkpoints(history, tmp_path: Path) -> None:
    with _tampered(history, tmp_path) as conn:
        _rechain_from_genesis(conn, history)
    code, _, err = cli("verify", "--db", str(tmp_path / "tampered.db"), "--checkpoint", str(history["a"]))
    assert code == 1
    assert f"BROKEN: checkpoint {history['a']}: no signature by a known key" in err


def test_a_checkpoint_signed_by_another_key_or_altered_is_rejected(history, tmp_path: Path) -> None:
    other = SigningKey.generate("newsroom.example/archive").public.vkey
    code, _, err = cli("verify", "--db", str(history["db"]), "--checkpoint", str(history["a"]), "--key", other)
    assert code == 1 and "no signature by a known key" in err
    altered = tmp_path / "altered.txt"
    lines = history["a"].read_text().split("\n")
    lines[1] = str(int(lines[1]) - 1)
    altered.write_text("\n".join(lines))
    code, _, err = cli("verify", "--db", str(history["db"]), "--checkpoint", str(altered))
    assert code == 1 and f"BROKEN: checkpoint {altered}: signature by newsroom.example/archive+" in err
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("not a note")
    code, _, err = cli("verify", "--db", str(history["db"]), "--checkpoint", str(garbage))
    assert code == 1 and "malformed note" in err


def run_verifier(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """tools/verify_evidence.py as a third party runs it: a copy of the one file, an isolated
    interpreter (-I: no environment, no user site, no script folder on the path), a clean
    environment, and `archiver` made unimportable so any use of it would fail."""
    script = cwd / "verify_evidence.py"
    if not script.exists():
        shutil.copy(VERIFIER, script)
    guard = ("import sys, runpy; sys.modules['archiver'] = None; sys.argv = sys.argv[1:]; "
             "runpy.run_path(sys.argv[0], run_name='__main__')")
    return subprocess.run([sys.executable, "-I", "-c", guard, str(script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={"PATH": os.defpath})


def test_the_standalone_verifier_checks_inclusion_and_consistency_proofs(history, tmp_path: Path) -> None:
    db, third_party = str(history["db"]), tmp_path / "third-party"
    third_party.mkdir()
    vkey = rows(history["db"], "SELECT public_key FROM checkpoint_keys")[0][0]
    (third_party / "archive.vkey").write_text(vkey)
    version_id = rows(history["db"], "SELECT max(id) FROM versions")[0][0]
    assert cli("proof", "--db", db, "--version-id", str(version_id), "-o", str(third_party / "v.json"))[0] == 0
    assert cli("proof", "--db", db, "--from-checkpoint", str(history["a"]), "-o", str(third_party / "c.json"))[0] == 0

    done = run_verifier("inclusion", "v.json", "--key", "archive.vkey", cwd=third_party)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"OK: versions row {version_id} is chain entry ")
    done = run_verifier("consistency", "c.json", "--key", "archive.vkey", cwd=third_party)
    assert done.returncode == 0, done.stderr
    assert f"extends the tree of {_size(history['a'])}" in done.stdout
    shutil.copy(history["b"], third_party / "b.txt")
    done = run_verifier("checkpoint", "b.txt", "--key", vkey, cwd=third_party)
    assert done.returncode == 0 and f"tree size {_size(history['b'])}" in done.stdout

    bundle = json.loads((third_party / "v.json").read_text())
    forged = json.loads(json.dumps(bundle))
    forged["row"]["text"] = "Something else."
    (third_party / "forged.json").write_text(json.dumps(forged))
    done = run_verifier("inclusion", "forged.json", "--key", "archive.vkey", cwd=third_party)
    assert done.returncode == 1 and done.stderr.startswith("FAILED: the row digests to ")
    moved = json.loads(json.dumps(bundle))
    moved["audit_path"][0] = hashlib.sha256(b"x").hexdigest()
    (third_party / "moved.json").write_text(json.dumps(moved))
    done = run_verifier("inclusion", "moved.json", "--key", "archive.vkey", cwd=third_party)
    assert done.returncode == 1 and "does not lead to the checkpoint's root" in done.stderr
    done = run_verifier("inclusion", "v.json", "--key", SigningKey.generate("x.example/y").public.vkey,
                        cwd=third_party)
    assert done.returncode == 1 and "has no signature by x.example/y" in done.stderr


def test_the_standalone_row_digest_is_the_archives(history, tmp_path: Path) -> None:
    for table in ("captures", "versions", "events", "checkpoints"):
        version = rows(history["db"], f"SELECT c.row_sha256, t.* FROM {table} t JOIN chain c "
                                      f"ON c.table_name = '{table}' AND c.row_id = t.id ORDER BY t.id LIMIT 1")[0]
        columns = [r[1] for r in rows(history["db"], f"PRAGMA table_info({table})")]
        (tmp_path / f"{table}.json").write_text(json.dumps(dict(zip(columns, version[1:], strict=True))))
        done = run_verifier("row-digest", table, f"{table}.json", cwd=tmp_path)
        assert done.stdout.strip() == f"OK: {version[0]}", (table, done.stderr)


def test_inclusion_bundle_on_a_read_only_connection(history: dict[str, Path], tmp_path: Path) -> None:
    conn = connect(history["db"], readonly=True)
    bundle = inclusion_bundle(conn, 1)
    assert bundle is not None and bundle["entry"]["table"] == "versions" and bundle["row"]["id"] == 1
    assert bundle["checkpoint"] == history["b"].read_text()
    assert PublicKey.parse(bundle["public_key"]).name == "newsroom.example/archive"
    conn.close()
    # a version written after the latest checkpoint has no proof yet
    assert cli("fetch", "--db", str(history["db"]), "--config", str(history["config"]), "un-news")[0] == 0
    conn = connect(history["db"], readonly=True)
    newest = conn.execute("SELECT max(seq) FROM chain").fetchone()[0]
    latest = conn.execute("SELECT max(tree_size) FROM checkpoints").fetchone()[0]
    assert newest > latest
    from archiver.proofs import entry_bundle

    assert entry_bundle(conn, newest) is None
    conn.close()


def test_a_published_snapshot_carries_the_key_and_extends_the_checkpoints(history, tmp_path: Path) -> None:
    copy = tmp_path / "published.db"
    code, _, err = cli("snapshot", "--db", str(history["db"]), str(copy), "--without-payloads")
    assert code == 0, err
    assert rows(copy, "SELECT public_key FROM checkpoint_keys") == rows(history["db"], "SELECT public_key "
                                                                                      "FROM checkpoint_keys")
    code, out, err = cli("verify", "--db", str(copy), "--checkpoint", str(history["a"]), "--checkpoint",
                         str(history["b"]))
    assert code == 0, err
    assert out.count("extends it") == 2
    conn = connect(copy, readonly=True)
    bundle = inclusion_bundle(conn, 1)
    conn.close()
    assert bundle is not None and bundle["checkpoint"] == history["b"].read_text()


@pytest.mark.parametrize("damage", ["cache", "truncation"])
def test_a_checkpoint_that_would_not_extend_the_last_one_is_never_signed(history, tmp_path: Path, damage: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with _tampered(history, tmp_path) as conn:
        if damage == "cache":  # a forged node inside the last checkpoint's tree
            size = _size(history["b"])
            conn.executemany("INSERT OR REPLACE INTO tree_nodes (level, idx, hash) VALUES (?, ?, ?)",
                             [(level, 0, hashlib.sha256(b"forged").digest()) for level in range(0, 8)])
            from archiver import tlog

            monkeypatch.setattr(tlog, "NODE_LEVEL", 1)  # the history is small: cache subtrees of 2 leaves and more
            assert size >= 4
        else:  # the chain cut back to checkpoint A, checkpoint B's row kept
            keep = _size(history["a"]) + 1
            for table, row_id in conn.execute("SELECT table_name, row_id FROM chain WHERE seq > ? AND "
                                              "table_name != 'checkpoints'", (keep,)).fetchall():
                conn.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
            conn.execute("DELETE FROM chain WHERE seq > ?", (keep,))
        signed = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
    copy = str(tmp_path / "tampered.db")
    code, out, err = cli("checkpoint", "--db", copy, "--key", str(history["key"]), "--out", str(tmp_path / "c.txt"))
    assert code == 1, out
    reason = "does not extend checkpoint" if damage == "cache" else "fewer than checkpoint"
    assert err.startswith("archiver: checkpoint failed: ") and reason in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "c.txt").exists()
    assert rows(copy, "SELECT outcome FROM runs WHERE kind = 'checkpoint' ORDER BY id DESC LIMIT 1") == [("failed",)]
    assert rows(copy, "SELECT count(*) FROM checkpoints") == [signed]


def test_verify_recomputes_the_node_cache_that_proofs_are_read_from(history, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver import tlog
    from archiver.verify import verify

    monkeypatch.setattr(tlog, "NODE_LEVEL", 1)  # the history is small: cache subtrees of 2 leaves and more
    with _tampered(history, tmp_path) as conn:
        conn.execute("DELETE FROM tree_nodes")
        tlog.fill_nodes(conn, tlog.chain_size(conn))  # the cache as the archive fills it
        cached = conn.execute("SELECT count(*), max(level) FROM tree_nodes").fetchone()
    copy = tmp_path / "tampered.db"
    assert cached[0] > 8 and cached[1] >= 3
    report = verify(copy, jobs=1)
    assert report.ok, report.problems  # the real cache agrees with the chain
    with unguarded(copy) as conn:  # one node forged: every proof through it now fails for its reader
        conn.execute("UPDATE tree_nodes SET hash = ? WHERE level = 2 AND idx = 1",
                     (hashlib.sha256(b"forged").digest(),))
    problems = verify(copy, jobs=1).problems
    assert problems == ["tree_nodes level 2 index 1: not the hash of chain entries 5..8, so the proofs read "
                        "through it fail"], problems
