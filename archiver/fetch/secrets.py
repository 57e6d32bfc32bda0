"""Named secrets (bearer tokens): resolved from the environment, else from the secrets file, and
redacted from everything the fetch layer records, including what a server reflects back."""

from __future__ import annotations

import json
import os
from pathlib import Path

from archiver.models import Exchange

REDACTED_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}


class SecretsError(Exception):
    """The secrets file exists but cannot be used; the message names it (never a value)."""


class Secrets:
    """`NAME=value` lines in `path` (blank lines and `#` comments allowed); the environment wins."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None

    def _file_values(self) -> dict[str, str]:
        # read on each use so a rotated token is picked up without a restart
        if self.path is None or not self.path.exists():
            return {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretsError(f"secrets file {self.path}: cannot be read: {exc}") from exc
        values: dict[str, str] = {}
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
        return values

    def resolve(self, name: str) -> str | None:
        value = os.environ.get(name)
        if value:
            return value
        return self._file_values().get(name) or None

    def known_values(self) -> dict[str, str]:
        """Every secret value the file names, with its name, for redaction wherever it appears."""
        return {value: name for name, value in self._file_values().items() if value}


def redact_headers(headers: list[tuple[str, str]], secrets: dict[str, str]) -> list[tuple[str, str]]:
    """Credentials replaced by a marker naming which secret it was (so the record says one was sent)."""
    redacted = []
    for name, value in headers:
        for secret, secret_name in secrets.items():
            if secret in value:
                value = value.replace(secret, f"[redacted {secret_name}]")
        if name.lower() in REDACTED_HEADERS and "[redacted" not in value:
            value = "[redacted]"
        redacted.append((name, value))
    return redacted


def scrub(text: str, secrets: dict[str, str]) -> str:
    for secret, secret_name in secrets.items():
        text = text.replace(secret, f"[redacted {secret_name}]")
    return text


def redact_exchange(exchange: Exchange, secrets: dict[str, str]) -> None:
    """Take every known secret value out of what `exchange` will record: URLs, headers both ways,
    redirects, error, details and the body. A secret the server sent back (an echoed Authorization,
    a token in a page) marks the capture: its payload is withheld from publication, because the
    redacted body is no longer the bytes the server sent."""
    exchange.request_headers = redact_headers(exchange.request_headers, secrets)
    if not secrets:
        return
    exchange.requested_url = scrub(exchange.requested_url, secrets)
    if exchange.final_url:
        exchange.final_url = scrub(exchange.final_url, secrets)
    if exchange.error:
        exchange.error = scrub(exchange.error, secrets)
    reflected: set[str] = set()
    response_headers = []
    for name, value in exchange.response_headers:
        clean = scrub(value, secrets)
        if clean != value:
            reflected |= _names(secrets, value)
        response_headers.append((name, clean))
    exchange.response_headers = response_headers
    for name, part in (("redirects", exchange.redirects), ("details", exchange.details)):
        text = json.dumps(part, ensure_ascii=False)
        clean = scrub(text, secrets)
        if clean != text:
            reflected |= _names(secrets, text)
            setattr(exchange, name, json.loads(clean))
    if exchange.body:
        body = exchange.body
        for secret, secret_name in secrets.items():
            raw = secret.encode("utf-8")
            if raw in body:
                body = body.replace(raw, f"[redacted {secret_name}]".encode())
                reflected.add(secret_name)
        if body is not exchange.body:
            exchange.body = body  # the stored payload is recomputed from the redacted body
    if reflected:
        exchange.details["secret_reflected"] = sorted(reflected)
        exchange.details["withhold_payload"] = True


def _names(secrets: dict[str, str], text: str) -> set[str]:
    return {name for value, name in secrets.items() if value in text}
