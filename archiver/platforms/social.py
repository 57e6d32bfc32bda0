"""Helpers the social platform parsers share: strict reading of JSON fields with errors that say
what and where, and time normalisation. HTML to plain text is archiver.platforms.text; the "left
the window" rule, re-exported here, is archiver.platforms.window."""

from __future__ import annotations

import json
from typing import Any

from archiver.models import Exchange
from archiver.platforms import ParseError, expect_ok
from archiver.platforms.dates import read_date
from archiver.platforms.window import departed as departed  # the one removal-window rule, re-exported


def load_json(exchange: Exchange) -> Any:
    """The exchange's body as JSON, or a ParseError naming the URL and what is wrong."""
    expect_ok(exchange)
    try:
        return json.loads(exchange.body or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"{exchange.requested_url}: not valid JSON: {exc}") from exc


def need(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """obj[key], which must exist and be of `kind` (bools are never accepted as numbers)."""
    if not isinstance(obj, dict):
        raise ParseError(f"{where}: expected an object, got {type(obj).__name__}")
    if key not in obj or obj[key] is None:
        raise ParseError(f"{where}: field `{key}` is missing")
    return _typed(obj[key], key, kind, where)


def opt(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """obj[key] when present and not null (then it must be of `kind`), else None."""
    if not isinstance(obj, dict):
        raise ParseError(f"{where}: expected an object, got {type(obj).__name__}")
    value = obj.get(key)
    return None if value is None else _typed(value, key, kind, where)


def _typed(value: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ParseError(f"{where}: field `{key}`: expected {names}, got {type(value).__name__}")
    return value


def items(obj: Any, key: str, where: str, *, required: bool = True) -> list[dict[str, Any]]:
    """A list of objects under `key`; every element must be an object."""
    values = need(obj, key, list, where) if required else (opt(obj, key, list, where) or [])
    for index, value in enumerate(values):
        if not isinstance(value, dict):
            raise ParseError(f"{where}: {key}[{index}]: expected an object, got {type(value).__name__}")
    return values


def numeric(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits."""
    return text.isascii() and text.isdigit()


def utc(text: str | None) -> str | None:
    """A timestamp with a zone (as the platforms' APIs give them), normalised to the archive's UTC
    form; None when it is not an exact time (the raw claim is kept beside it, so nothing is lost)."""
    claimed = read_date(text)
    return claimed.at if claimed.rule is None else None


def dumps(value: Any) -> str:
    """The raw fragment of one post, re-serialised compactly (the whole body is in the payload)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def base_url(options: dict[str, Any], name: str, default: str) -> str:
    return str(options.get(name, default)).rstrip("/")
