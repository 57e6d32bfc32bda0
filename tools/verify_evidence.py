#!/usr/bin/env python3
"""Check an archiver's evidence without archiver: a checkpoint's signature, an inclusion proof (a row,
its digest, its chain entry and its place in the signed tree) and a consistency proof between two
checkpoints. One file, the Python standard library plus `cryptography` for Ed25519.

    python3 verify_evidence.py checkpoint FILE --key VKEY
    python3 verify_evidence.py inclusion PROOF.json [--key VKEY]
    python3 verify_evidence.py consistency PROOF.json [--key VKEY]
    python3 verify_evidence.py row-digest TABLE ROW.json

VKEY is the archive's published verifier key (<name>+<key id>+<base64 key>) or a file holding it.
Without --key the key inside the proof is used, which proves nothing until it is compared with the
published one. Exit 0 and "OK: …" when everything checks, 1 and "FAILED: …" otherwise.

This is a second implementation, written from the byte formats in docs/evidence-model.md and
RFC 9162 section 2.1 rather than sharing archiver's code, so that an error in one shows up as a
disagreement with the other."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Failed(Exception):
    pass


# -- digests of rows and chain entries -----------------------------------------------------------


def row_digest(table: str, row: dict) -> str:
    """SHA-256 over: table name, 0x00, then per column in name order: name, 0x00, a type letter
    (n null, s text as UTF-8, i integer in decimal, b bytes), the data's length in decimal, 0x00, data."""
    parts = [table.encode(), b"\x00"]
    for name in sorted(row):
        value = row[name]
        if value is None:
            kind, data = b"n", b""
        elif isinstance(value, bool):
            raise Failed(f"column {name}: booleans are stored as integers")
        elif isinstance(value, int):
            kind, data = b"i", str(value).encode()
        elif isinstance(value, str):
            kind, data = b"s", value.encode("utf-8", "surrogatepass")
        elif isinstance(value, dict) and set(value) == {"base64"}:
            kind, data = b"b", base64.b64decode(value["base64"], validate=True)
        else:
            raise Failed(f"column {name}: a value of type {type(value).__name__} cannot be digested")
        parts += [name.encode(), b"\x00", kind, str(len(data)).encode(), b"\x00", data]
    return hashlib.sha256(b"".join(parts)).hexdigest()


def entry_digest(prev: str, table: str, row_id: int, row_sha256: str) -> str:
    return hashlib.sha256(f"{prev}|{table}|{row_id}|{row_sha256}".encode()).hexdigest()


# -- RFC 9162 section 2.1 ------------------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """The root an audit path leads to (2.1.3.2), or None if the path does not fit the tree."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            r = node_hash(r, p)
        fn, sn = fn // 2, sn // 2
    return r if sn == 0 else None


def consistent(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    """2.1.4.2: the tree of new_size with new_root extends the tree of old_size with old_root."""
    if old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = ([old_root] if old_size & (old_size - 1) == 0 else []) + list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn % 2 == 1:
        fn, sn = fn // 2, sn // 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            sr = node_hash(sr, c)
        fn, sn = fn // 2, sn // 2
    return sn == 0 and fr == old_root and sr == new_root


# -- signed notes and checkpoints (c2sp.org/signed-note, c2sp.org/tlog-checkpoint) ------------------


def parse_key(vkey: str) -> tuple[str, bytes, bytes]:
    """(name, 4-byte key id, 32-byte Ed25519 public key) of a verifier key."""
    try:
        name, key_id, encoded = vkey.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise Failed("the key is not <name>+<key id>+<base64 key>") from exc
    if len(raw) != 33 or raw[0] != 1:
        raise Failed("the key is not an Ed25519 verifier key")
    computed = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if computed.hex() != key_id.lower():
        raise Failed(f"the key id {key_id} does not match the key (it is {computed.hex()})")
    return name, computed, raw[1:]


def open_checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    """(origin, tree size, root) of a checkpoint whose signature by `vkey` verifies."""
    name, key_id, public = parse_key(vkey)
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise Failed("not a signed note: no blank line before the signatures")
    text, signatures = note[:split + 1], note[split + 2:]
    verified = False
    for line in signatures.splitlines():
        if not line.startswith("\u2014 ") or line.count(" ") != 2:
            raise Failed(f"not a signature line: {line[:60]!r}")
        signer, encoded = line[2:].split(" ")
        raw = base64.b64decode(encoded, validate=True)
        if signer == name and raw[:4] == key_id:
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())
            except InvalidSignature as exc:
                raise Failed(f"the signature by {name} does not verify") from exc
            verified = True
    if not verified:
        raise Failed(f"the checkpoint has no signature by {name}+{key_id.hex()}")
    lines = text.split("\n")[:-1]
    if len(lines) < 3 or not lines[1].isdigit():
        raise Failed("not a checkpoint: expected origin, tree size and root hash lines")
    if lines[0] != name:
        raise Failed(f"the checkpoint's origin {lines[0]!r} is not the key's name {name!r}")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise Failed("not a checkpoint: the root hash is not 32 bytes")
    return lines[0], int(lines[1]), root


# -- the commands ---------------------------------------------------------------------------------


def _key(given: str | None, bundle: dict) -> tuple[str, str]:
    if given is None:
        if not bundle.get("public_key"):
            raise Failed("no --key given and the proof names none")
        return bundle["public_key"], " (with the key the proof names: compare it with the published key)"
    path = Path(given)
    return (path.read_text(encoding="utf-8") if path.is_file() else given), ""


def check_inclusion(bundle: dict, key: str | None) -> str:
    vkey, caveat = _key(key, bundle)
    entry = bundle["entry"]
    digest = row_digest(entry["table"], bundle["row"])
    if digest != entry["row_sha256"]:
        raise Failed(f"the row digests to {digest}, not {entry['row_sha256']}")
    if bundle["row"].get("id") != entry["row_id"]:
        raise Failed("the row is not the one the chain entry names")
    entry_sha = entry_digest(entry["prev_sha256"], entry["table"], entry["row_id"], digest)
    if entry_sha != entry["entry_sha256"]:
        raise Failed(f"the chain entry digests to {entry_sha}, not {entry['entry_sha256']}")
    if bundle["leaf_index"] != entry["seq"] - 1:
        raise Failed("the leaf index is not the chain entry's position")
    origin, size, root = open_checkpoint(bundle["checkpoint"], vkey)
    if size != bundle["tree_size"]:
        raise Failed(f"the proof is for tree size {bundle['tree_size']}, the checkpoint signs {size}")
    path = [bytes.fromhex(h) for h in bundle["audit_path"]]
    computed = inclusion_root(bundle["leaf_index"], size, leaf_hash(bytes.fromhex(entry_sha)), path)
    if computed != root:
        raise Failed("the audit path does not lead to the checkpoint's root")
    return (f"{entry['table']} row {entry['row_id']} is chain entry {entry['seq']} in the tree of {size} "
            f"signed by {origin}{caveat}")


def check_consistency(bundle: dict, key: str | None) -> str:
    vkey, caveat = _key(key, bundle)
    new_origin, new_size, new_root = open_checkpoint(bundle["new_checkpoint"], vkey)
    if not bundle.get("old_checkpoint"):
        raise Failed("the proof holds no earlier checkpoint")
    _, old_size, old_root = open_checkpoint(bundle["old_checkpoint"], vkey)
    if (old_size, new_size) != (bundle["old_size"], bundle["new_size"]):
        raise Failed("the proof's sizes are not the checkpoints' sizes")
    if not consistent(old_size, new_size, old_root, new_root, [bytes.fromhex(h) for h in bundle["proof"]]):
        raise Failed(f"no consistency between tree size {old_size} and {new_size}")
    return f"the tree of {new_size} signed by {new_origin} extends the tree of {old_size}{caveat}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("checkpoint", "inclusion", "consistency"):
        command = commands.add_parser(name)
        command.add_argument("file", type=Path)
        command.add_argument("--key", required=name == "checkpoint")
    row = commands.add_parser("row-digest")
    row.add_argument("table")
    row.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        text = args.file.read_text(encoding="utf-8")
        if args.command == "checkpoint":
            origin, size, root = open_checkpoint(text, _key(args.key, {})[0])
            message = f"checkpoint of {origin}: tree size {size}, root {root.hex()}"
        elif args.command == "row-digest":
            message = row_digest(args.table, json.loads(text))
        else:
            check = check_inclusion if args.command == "inclusion" else check_consistency
            message = check(json.loads(text), args.key)
    except (Failed, OSError, ValueError, KeyError, TypeError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"OK: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
