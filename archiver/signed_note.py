"""C2SP signed notes with Ed25519 keys (c2sp.org/signed-note), and the key encodings Go's
golang.org/x/mod/sumdb/note uses, so checkpoints can be checked with the transparency-log tools:

    verifier key   <name>+<key id, 8 hex>+base64(0x01 || 32-byte public key)
    signer key     PRIVATE+KEY+<name>+<key id>+base64(0x01 || 32-byte seed)
    key id         SHA-256(name || 0x0A || 0x01 || public key)[:4]
    signature line — <name> base64(key id || Ed25519 signature of the note text)"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"
_DASH = "\u2014 "


class NoteError(ValueError):
    """A note, key or signature that does not check; the message is one line."""


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"key name {name!r}: must be non-empty, without spaces or '+'")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"not base64: {text[:40]!r}") from exc


@dataclass(frozen=True)
class PublicKey:
    name: str
    public: bytes  # 32 bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519 + self.public).decode()}"

    @classmethod
    def parse(cls, vkey: str) -> PublicKey:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise NoteError("not a verifier key (<name>+<key id>+<base64 key>)")
        name, hex_id, encoded = parts
        _check_name(name)
        raw = _b64decode(encoded)
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError(f"verifier key {name}: not an Ed25519 key")
        key = cls(name, raw[1:])
        if key.key_id.hex() != hex_id.lower():
            raise NoteError(f"verifier key {name}: key id {hex_id} does not match the key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    name: str
    seed: bytes  # 32 bytes

    @property
    def public(self) -> PublicKey:
        raw = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PublicKey(self.name, raw)

    @property
    def text(self) -> str:
        return (f"PRIVATE+KEY+{self.name}+{self.public.key_id.hex()}+"
                f"{base64.b64encode(ED25519 + self.seed).decode()}")

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        _check_name(name)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, seed)

    @classmethod
    def parse(cls, text: str) -> SigningKey:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("not a signer key (PRIVATE+KEY+<name>+<key id>+<base64 key>)")
        _, _, name, hex_id, encoded = parts
        _check_name(name)
        raw = _b64decode(encoded)
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError(f"signer key {name}: not an Ed25519 key")
        key = cls(name, raw[1:])
        if key.public.key_id.hex() != hex_id.lower():
            raise NoteError(f"signer key {name}: key id {hex_id} does not match the key")
        return key

    def sign(self, text: str) -> str:
        """The signed note of `text` (which must end in a newline): text, a blank line, one signature."""
        if not text.endswith("\n") or "\n\n" in text:
            raise NoteError("note text must end in a newline and hold no blank line")
        signature = Ed25519PrivateKey.from_private_bytes(self.seed).sign(text.encode())
        encoded = base64.b64encode(self.public.key_id + signature).decode()
        return f"{text}\n{_DASH}{self.name} {encoded}\n"


def open_note(note: str, keys: list[PublicKey]) -> tuple[str, list[PublicKey]]:
    """The text of a signed note and the known keys whose signatures on it verify. Signatures by
    unknown keys are ignored; a signature by a known key that does not verify, or none that does,
    rejects the note (signed-note's rules)."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("malformed note: control characters")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("malformed note: no blank line before the signatures")
    text, signatures = note[:split + 1], note[split + 2:]
    verified: list[PublicKey] = []
    for line in signatures.splitlines():
        if not line.startswith(_DASH) or line.count(" ") != 2:
            raise NoteError(f"malformed note: not a signature line: {line[:60]!r}")
        name, encoded = line[len(_DASH):].split(" ")
        raw = _b64decode(encoded)
        if len(raw) < 5:
            raise NoteError(f"malformed note: signature by {name} too short")
        for key in keys:
            if key.name == name and key.key_id == raw[:4]:
                if not key.verify(text.encode(), raw[4:]):
                    raise NoteError(f"signature by {name}+{raw[:4].hex()} does not verify")
                verified.append(key)
    if not verified:
        known = ", ".join(f"{k.name}+{k.key_id.hex()}" for k in keys) or "none given"
        raise NoteError(f"no signature by a known key (known: {known})")
    return text, verified
