"""Signed checkpoints of the transparency log: the archive's Merkle tree head (archiver/tlog.py) at a
size, as a C2SP tlog-checkpoint signed with the archive's Ed25519 key, recorded as a chained row and
written to a file that can be published or deposited; optionally timestamped by RFC 3161 authorities.

`check_checkpoints` is the other half: a checkpoint kept anywhere (old ones included) proves, by a
consistency proof, that today's archive extends the archive it was signed over."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from archiver.archive import Archive
from archiver.database import ArchiveError, open_to_check
from archiver.jobs import Write
from archiver.models import utcnow
from archiver.signed_note import NoteError, PublicKey, SigningKey, open_note
from archiver.timestamp import TimestampError
from archiver.timestamp import check as check_timestamp
from archiver.timestamp import request as request_timestamp
from archiver.tlog import (
    EMPTY_ROOT,
    Tree,
    chain_leaves,
    chain_size,
    chain_subtrees,
    chain_tree,
    fill_nodes,
    verify_consistency,
)

KEY_FILE = "checkpoint-key"  # beside the archive file, by default
CHECKPOINT_FOLDER = "checkpoints"
_FILL_BLOCKS = 256  # cache blocks filled per write transaction: 65,536 leaves, a fraction of a second


def default_key_path(db_path: Path) -> Path:
    return db_path.parent / KEY_FILE


def default_folder(db_path: Path) -> Path:
    return db_path.parent / CHECKPOINT_FOLDER


def create_key(path: Path, origin: str | None = None) -> SigningKey:
    """A new signing key, written to `path` readable by its owner only (never overwriting a file).
    The origin (key name) identifies the log; by default a name that cannot collide with a real host."""
    try:
        key = SigningKey.generate(origin or f"archiver.invalid/{secrets.token_hex(8)}")
    except NoteError as exc:
        raise ArchiveError(f"origin: {exc}") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ArchiveError(f"{path} already exists: a signing key is never overwritten") from exc
    except OSError as exc:
        raise ArchiveError(f"cannot create {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key.text + "\n")
    return key


def load_key(path: Path) -> SigningKey:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError as exc:
        raise ArchiveError(f"no signing key at {path}: make one with `archiver init --key {path}`") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"cannot read the signing key {path}: {exc}") from exc
    try:
        return SigningKey.parse(text)
    except NoteError as exc:
        raise ArchiveError(f"{path}: {exc}") from exc


def archive_keys(conn: sqlite3.Connection) -> list[PublicKey]:
    """The public keys the archive has signed checkpoints with (published with it); none in a backup
    older than the schema that added them."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'checkpoint_keys'").fetchone():
        return []
    return [PublicKey.parse(row[0]) for row in conn.execute("SELECT public_key FROM checkpoint_keys ORDER BY id")]


# -- the note ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        return "".join(f"{line}\n" for line in (self.origin, str(self.size),
                                                base64.b64encode(self.root).decode(), *self.extensions))

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
            raise NoteError("not a checkpoint: expected origin, tree size and root hash lines")
        origin, size, root, *extensions = lines[:-1]
        if not size.isdigit() or (size != "0" and size.startswith("0")):
            raise NoteError(f"not a checkpoint: tree size {size[:30]!r}")
        try:
            digest = base64.b64decode(root, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("not a checkpoint: root hash is not base64") from exc
        if len(digest) != 32:
            raise NoteError("not a checkpoint: root hash is not 32 bytes")
        return cls(origin, int(size), digest, tuple(extensions))


@dataclass
class CheckpointReport:
    checkpoint_id: int
    size: int
    root: bytes
    note: str
    path: Path | None = None
    timestamps: list[Path] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # TSAs that did not give a token, one line each

    def summary(self) -> str:
        where = f" written to {self.path}" if self.path else ""
        stamped = f", {len(self.timestamps)} timestamp(s)" if self.timestamps or self.failures else ""
        failed = f", {len(self.failures)} TSA failure(s)" if self.failures else ""
        return f"checkpoint {self.checkpoint_id}: tree size {self.size}, root {self.root.hex()}{where}{stamped}{failed}"


def _register(archive: Archive, key: PublicKey) -> None:
    known = archive.conn.execute("SELECT 1 FROM checkpoint_keys WHERE public_key = ?", (key.vkey,)).fetchone()
    if known is None:
        archive._append("checkpoint_keys", {"key_name": key.name, "key_id": key.key_id.hex(),
                                            "public_key": key.vkey, "created_at": utcnow()})


def _last_signed(conn: sqlite3.Connection) -> tuple[int, int, bytes]:
    """(id, tree size, root) of the latest checkpoint; (0, 0, empty root) before the first."""
    row = conn.execute("SELECT id, tree_size, root_hash FROM checkpoints ORDER BY id DESC LIMIT 1").fetchone()
    return (row[0], row[1], bytes.fromhex(row[2])) if row else (0, 0, EMPTY_ROOT)


def sign_checkpoint(archive: Archive, key: SigningKey) -> CheckpointReport:
    """Sign the tree of every chain entry so far and record the checkpoint as a chained row (its own
    entry is the first one the next checkpoint covers). The key's public half is registered first.

    Never signs a tree that does not extend the last checkpoint (tlog-checkpoint's rule): the tree is
    read through the node cache, whose nodes inside the last checkpoint's tree are then vouched for
    by a consistency proof against the root signed then, and whose newer nodes `fill_cache` has just
    recomputed from the chain."""
    with archive.transaction():
        _register(archive, key.public)
        conn = archive.conn
        size = chain_size(conn)
        last_id, last_size, last_root = _last_signed(conn)
        if size < last_size:
            raise ArchiveError(f"the chain has {size} entries, fewer than checkpoint {last_id} signed "
                               f"({last_size}): not signed; run `archiver verify --checkpoint`")
        fill_nodes(conn, size)  # the few blocks since fill_cache
        tree = chain_tree(conn, size)
        root = tree.root()
        if not verify_consistency(last_size, size, last_root, root, tree.consistency_proof(last_size)):
            raise ArchiveError(f"the tree of {size} entries does not extend checkpoint {last_id} (tree size "
                               f"{last_size}): not signed; run `archiver verify --checkpoint`")
        created = utcnow()
        note = key.sign(Checkpoint(key.name, size, root, (f"time {created}",)).text())
        checkpoint_id = archive._append("checkpoints", {"tree_size": size, "root_hash": root.hex(),
                                                        "note": note, "created_at": created})
    return CheckpointReport(checkpoint_id, size, root, note)


def fill_cache(write: Write[Any]) -> None:
    """Recompute from the chain every cached node outside the last checkpoint's tree, in short write
    transactions, so that signing (which holds the write lock) has little left to hash even on a large
    archive's first checkpoint, and uses no node it has not either computed or proved."""
    def reset(archive: Archive) -> None:
        _, last_size, _ = _last_signed(archive.conn)
        archive.conn.execute("DELETE FROM tree_nodes WHERE ((idx + 1) << level) > ?", (last_size,))

    write(reset)
    while not write(lambda archive: fill_nodes(archive.conn, chain_size(archive.conn), _FILL_BLOCKS)):
        pass


def write_new(path: Path, data: bytes) -> None:
    """Write a file that does not exist yet, complete or not at all."""
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise ArchiveError(f"{path} already exists: a checkpoint file is never overwritten")
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as exc:
        raise ArchiveError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


def timestamp_paths(path: Path) -> list[Path]:
    """The RFC 3161 responses kept beside a checkpoint file: FILE.1.tsr, FILE.2.tsr, …"""
    found = [p for p in path.parent.glob(f"{path.name}.*.tsr") if p.name[len(path.name) + 1:-4].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(path.name) + 1:-4]))


def take_checkpoint(write: Write[Any], key: SigningKey, folder: Path, tsa_urls: list[str], *,
                    out: Path | None = None) -> CheckpointReport:
    """The whole `archiver checkpoint`: sign and record, write the note to `out` (by default
    FOLDER/checkpoint-<tree size>.txt: each checkpoint adds an entry, so sizes never repeat), then ask each TSA for a
    timestamp (outside any write transaction: a slow TSA never holds up capture), recording each token
    as a chained row and beside the file. A TSA that fails is reported, and the run says so."""
    run_id = write(lambda archive: archive.start_run("checkpoint"))
    try:
        fill_cache(write)
        report = write(lambda archive: sign_checkpoint(archive, key))
        out = out or folder / f"checkpoint-{report.size}.txt"
        write_new(out, report.note.encode())
        report.path = out
        for url in tsa_urls:
            try:
                response, gen_time = request_timestamp(url, report.note.encode())
            except TimestampError as exc:
                report.failures.append(str(exc))
                continue
            write(lambda archive, r=response, u=url, t=gen_time: _record_timestamp(archive, report, u, r, t))
            token_path = out.with_name(f"{out.name}.{len(report.timestamps) + 1}.tsr")
            write_new(token_path, response)
            report.timestamps.append(token_path)
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        write(lambda archive: archive.finish_run(run_id, "failed", error=error))
        raise
    details = {"checkpoint_id": report.checkpoint_id, "tree_size": report.size, "root": report.root.hex(),
               "file": str(out), "timestamps": len(report.timestamps), "problems": report.failures}
    outcome = "partial" if report.failures else "ok"
    write(lambda archive: archive.finish_run(run_id, outcome, error=report.failures[0] if report.failures else None,
                                             details=details))
    return report


def _record_timestamp(archive: Archive, report: CheckpointReport, url: str, response: bytes, gen_time: str) -> None:
    with archive.transaction():
        archive._append("checkpoint_timestamps", {"checkpoint_id": report.checkpoint_id, "tsa_url": url,
                                                  "response": response, "gen_time": gen_time,
                                                  "created_at": utcnow()})


# -- checking checkpoints against an archive ----------------------------------------------------


@dataclass
class CheckpointCheck:
    checked: list[str] = field(default_factory=list)  # one line per checkpoint that holds
    problems: list[str] = field(default_factory=list)  # one line per checkpoint (or token) that does not


def check_checkpoints(db_path: Path, files: list[Path], *, keys: list[PublicKey] | None = None,
                      tsa_roots: list[x509.Certificate] | None = None) -> CheckpointCheck:
    """Prove that the archive extends each checkpoint: its signature verifies (against `keys`, by
    default the archive's own), the archive has at least its tree size, the first `size` entries
    hash to its root, and a consistency proof from it to today's tree verifies. Tokens beside each
    file are checked against `tsa_roots` when given. The node cache is not used: every subtree is
    recomputed from the chain, in one pass however many checkpoints are checked."""
    result = CheckpointCheck()
    conn = open_to_check(db_path)
    try:
        conn.execute("BEGIN")
        known = list(keys) if keys is not None else archive_keys(conn)
        size = chain_size(conn)
        read = chain_leaves(conn)
        try:
            nodes = chain_subtrees(conn, size)
        except ValueError as exc:  # entries missing: every checkpoint beyond the gap fails below
            nodes, size = {}, _contiguous(conn)
            result.problems.append(f"chain: {exc}; checkpoints are checked against the first {size} entries")
        today = Tree(size, read, lambda level, index: nodes.get((level, index)))
        today_root = today.root()
        for path in files:
            held, line = _check_one(path, known, today, today_root, tsa_roots)
            (result.checked if held else result.problems).append(line)
    finally:
        conn.close()
    return result


def _contiguous(conn: sqlite3.Connection) -> int:
    """How many entries from seq 1 on have no gap."""
    expected = 0
    for (seq,) in conn.execute("SELECT seq FROM chain ORDER BY seq"):
        if seq != expected + 1:
            break
        expected = seq
    return expected


def _check_one(path: Path, keys: list[PublicKey], today: Tree, today_root: bytes,
               tsa_roots: list[x509.Certificate] | None) -> tuple[bool, str]:
    """(whether the archive extends the checkpoint in `path`, one line saying so or what breaks)."""
    name = f"checkpoint {path}"
    try:
        note = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return False, f"{name}: cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if not keys:
        return False, f"{name}: no key to check it with: the archive publishes none; give --key"
    try:
        text, _ = open_note(note, keys)
        checkpoint = Checkpoint.parse(text)
    except NoteError as exc:
        return False, f"{name}: {exc}"
    name = f"{name} (tree size {checkpoint.size})"
    if checkpoint.origin not in {k.name for k in keys}:
        return False, f"{name}: origin {checkpoint.origin!r} is not the signing key's name"
    if checkpoint.size > today.size:
        return False, f"{name}: the archive has only {today.size} chain entries: it was truncated"
    old_root = today.prefix(checkpoint.size).root()
    if old_root != checkpoint.root:
        return False, (f"{name}: the archive's first {checkpoint.size} chain entries hash to {old_root.hex()}, "
                       f"not the signed root {checkpoint.root.hex()}: history was rewritten")
    proof = today.consistency_proof(checkpoint.size)
    if not verify_consistency(checkpoint.size, today.size, checkpoint.root, today_root, proof):
        return False, f"{name}: no consistency proof to today's tree of {today.size} entries"
    stamped = ""
    if tsa_roots is not None:
        tokens = timestamp_paths(path)
        for token in tokens:
            try:
                check_timestamp(token.read_bytes(), note.encode(), tsa_roots)
            except (OSError, TimestampError) as exc:
                return False, f"{name}: timestamp {token.name}: {exc}"
        stamped = f"; {len(tokens)} timestamp(s) verified"
    return True, (f"{name}: today's archive ({today.size} entries) extends it "
                  f"(consistency proof of {len(proof)} hashes){stamped}")
