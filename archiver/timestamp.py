"""Trusted time for checkpoints: RFC 3161 timestamps from timestamp authorities (TSAs), through the
maintained `rfc3161-client` (requests and responses are parsed there, never by hand-written ASN.1).

The message timestamped is the checkpoint's signed note, byte for byte, hashed with SHA-256."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from cryptography import x509
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, VerificationError, VerifierBuilder
from rfc3161_client import decode_timestamp_response as _decode

from archiver import __version__
from archiver.models import format_time

CONTENT_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
_MAX_REPLY = 1024 * 1024


class TimestampError(Exception):
    """A TSA that could not be reached or whose answer is no valid token; the message is one line."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def request(url: str, message: bytes, *, timeout: tuple[float, float] = (10.0, 30.0)) -> tuple[bytes, str]:
    """Ask the TSA at `url` to timestamp `message`: the DER response and its time (UTC, the archive's
    format). The response is checked against the request (status granted, imprint, nonce) before it
    is returned; its signature chain is checked by `check` against CAs the verifier chooses."""
    query = TimestampRequestBuilder().data(message).hash_algorithm(HashAlgorithm.SHA256).build()
    try:
        with requests.post(url, data=query.as_bytes(), timeout=timeout, stream=True,
                           headers={"Content-Type": CONTENT_TYPE, "User-Agent": f"archiver/{__version__}"}) as reply:
            body = reply.raw.read(_MAX_REPLY + 1, decode_content=True)
            status = reply.status_code
    except requests.Timeout as exc:
        raise TimestampError(f"TSA {url}: no answer within {timeout[1]:g} s") from exc
    except requests.ConnectionError as exc:
        errno = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))  # urllib3 nests the OS error in its message
        raise TimestampError(f"TSA {url}: cannot connect ({errno[0] if errno else _one_line(exc)})") from exc
    except requests.RequestException as exc:
        raise TimestampError(f"TSA {url}: {_one_line(exc)}") from exc
    if status != 200:
        raise TimestampError(f"TSA {url}: HTTP {status}")
    if len(body) > _MAX_REPLY:
        raise TimestampError(f"TSA {url}: answer larger than {_MAX_REPLY} bytes")
    try:
        response = _decode(body)
    except ValueError as exc:
        raise TimestampError(f"TSA {url}: not a timestamp response ({_one_line(exc)})") from exc
    if response.status != 0:
        raise TimestampError(f"TSA {url}: request not granted (status {response.status})")
    info = response.tst_info
    if info.message_imprint.message != query.message_imprint.message or info.nonce != query.nonce:
        raise TimestampError(f"TSA {url}: the token is not for this request (imprint or nonce differs)")
    return body, format_time(info.gen_time)


def load_roots(paths: list[Path]) -> list[x509.Certificate]:
    """The CA certificates (PEM, several per file allowed) that TSA tokens must chain to."""
    roots: list[x509.Certificate] = []
    for path in paths:
        try:
            roots += x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise TimestampError(f"{path}: not readable PEM certificates ({_one_line(exc)})") from exc
    return roots


def check(response: bytes, message: bytes, roots: list[x509.Certificate]) -> str:
    """Check a stored response over `message`: granted, its message imprint, its signature and a
    certificate chain to one of `roots` (valid at the token's time). Returns the token's time;
    raises TimestampError naming what failed."""
    try:
        decoded = _decode(response)
    except ValueError as exc:
        raise TimestampError(f"not a timestamp response ({_one_line(exc)})") from exc
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify_message(decoded, message)
    except (VerificationError, ValueError) as exc:
        raise TimestampError(_one_line(exc)) from exc
    return format_time(decoded.tst_info.gen_time)
