"""How a response body is kept: its SHA-256 (the payload's identity) and the bytes stored, compressed
when that pays. Computed by whichever thread holds the body — a fetch thread, before the exchange
reaches the writer: hashlib and zlib release the interpreter lock, so this work runs beside the
writer's instead of inside its transaction."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from archiver.canonical import sha256_hex

# Bodies smaller than this are stored as they are: compressing them saves nothing worth the CPU.
_COMPRESS_FROM = 256


@dataclass(frozen=True)
class StoredPayload:
    sha256: str  # of the decoded body
    size: int
    compression: str  # 'zlib' or 'none'
    data: bytes


def encode_payload(body: bytes) -> StoredPayload:
    compression, data = "none", body
    if len(body) >= _COMPRESS_FROM:
        packed = zlib.compress(body, 1)  # level 1: most of the saving at a fraction of the CPU
        if len(packed) < len(body):
            compression, data = "zlib", packed
    return StoredPayload(sha256_hex(body), len(body), compression, data)


def decode_payload(compression: str, data: bytes) -> bytes:
    if compression == "zlib":
        return zlib.decompress(data)
    if compression == "none":
        return bytes(data)
    raise ValueError(f"unknown payload compression {compression!r}")
