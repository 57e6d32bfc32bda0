"""Reading config/sources.toml: service settings and the list of sources, validated, with errors
that name the file, the source and the field."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.database import ArchiveError
from archiver.fetch.settings import FetchSettings
from archiver.models import Source

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Kinds whose locator is the URL of the first request (feeds, pages, sitemaps).
_URL_KINDS = {"feed", "webpage", "sitemap", "un_communications", "youtube"}
# Settings that must be positive numbers, and those that may also be zero.
_POSITIVE = {"workers", "connect_timeout", "read_timeout", "deadline", "max_body", "max_backoff"}
_NOT_NEGATIVE = {"max_redirects", "retries", "retry_after_cap", "host_delay"}
_SOURCE_FIELDS = {"id", "kind", "locator", "name", "organisation", "role", "country", "schedule",
                  "options", "enabled", "publish", "verified"}


class ConfigError(ArchiveError):
    """The configuration cannot be used; the message names file, source and field."""


@dataclass
class Settings(FetchSettings):
    """The `[archiver]` table: how the service fetches (FetchSettings, handed to the fetch layer as
    they are) and how it schedules and serves."""

    max_backoff: float = 6 * 3600.0  # longest wait of a source that keeps failing
    verify_schedule: str = "every 1d"  # fixity check of the whole archive by the service; "off" for none
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckpointSettings:
    """The `[checkpoint]` table: the service's signed checkpoints of the transparency log."""

    schedule: str = "every 1d"  # "off" for none
    tsa: list[str] = field(default_factory=list)  # RFC 3161 timestamp authorities, each asked every time
    key: str | None = None  # signing key file (default: checkpoint-key beside the archive)
    folder: str | None = None  # where checkpoint files go (default: checkpoints/ beside the archive)


@dataclass
class Config:
    path: Path
    settings: Settings
    sources: list[Source]
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise ConfigError(f"{self.path}: no source with id {source_id!r}")


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such configuration file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    settings = _settings(path, data.get("archiver", {}))
    raw_sources = data.get("source", [])
    if not isinstance(raw_sources, list):
        raise ConfigError(f"{path}: `source` must be an array of tables ([[source]])")
    sources: list[Source] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_sources, start=1):
        source = _source(path, index, raw)
        if source.id in seen:
            raise ConfigError(f"{path}: source #{index} ({source.id}): field `id`: duplicate id")
        seen.add(source.id)
        sources.append(source)
    return Config(path=path, settings=settings, sources=sources,
                  checkpoint=_checkpoint(path, data.get("checkpoint", {})))


def _checkpoint(path: Path, raw: Any) -> CheckpointSettings:
    where = f"{path}: [checkpoint]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(raw) - {"schedule", "tsa", "key", "folder"})
    if unknown:
        raise ConfigError(f"{where}: unknown field `{unknown[0]}`")
    for name in ("schedule", "key", "folder"):
        if name in raw and not isinstance(raw[name], str):
            raise ConfigError(f"{where}: field `{name}`: must be a string")
    tsa = raw.get("tsa", [])
    if not isinstance(tsa, list) or not all(isinstance(url, str) and _is_http_url(url) for url in tsa):
        raise ConfigError(f"{where}: field `tsa`: must be a list of http(s) URLs")
    settings = CheckpointSettings(tsa=tsa, key=raw.get("key"), folder=raw.get("folder"))
    if "schedule" in raw:
        if raw["schedule"] != "off":
            _check_schedule(f"{where}: field `schedule`", raw["schedule"], also=' (or "off")')
        settings.schedule = raw["schedule"]
    return settings


def _settings(path: Path, raw: Any) -> Settings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [archiver] must be a table")
    settings = Settings()
    for key, value in raw.items():
        if not hasattr(settings, key) or key == "extra":
            raise ConfigError(f"{path}: [archiver]: unknown field `{key}`")
        default = getattr(settings, key)
        expected = type(default) if default is not None else str
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: [archiver]: field `{key}`: expected {expected.__name__}, "
                              f"got {type(value).__name__}")
        if key == "verify_schedule" and value != "off":
            _check_schedule(f"{path}: [archiver]: field `{key}`", value, also=' (or "off")')
        if (key in _POSITIVE and value <= 0) or (key in _NOT_NEGATIVE and value < 0):
            bound = "above zero" if key in _POSITIVE else "zero or more"
            raise ConfigError(f"{path}: [archiver]: field `{key}`: must be {bound}, got {value}")
        setattr(settings, key, value)
    return settings


def _check_schedule(where: str, text: str, also: str = "") -> None:
    from archiver.schedule import ScheduleError, parse_schedule

    try:
        parse_schedule(text)
    except ScheduleError as exc:
        raise ConfigError(f"{where}: {exc}{also}") from exc


def _source(path: Path, index: int, raw: Any) -> Source:
    where = f"{path}: source #{index}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    if isinstance(raw.get("id"), str):
        where = f"{path}: source #{index} ({raw['id']})"
    unknown = sorted(set(raw) - _SOURCE_FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field `{unknown[0]}`")
    for name in ("id", "kind", "locator"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise ConfigError(f"{where}: field `{name}`: required, a non-empty string")
    if raw["kind"] in _URL_KINDS and not _is_http_url(raw["locator"].strip()):
        raise ConfigError(f"{where}: field `locator`: a {raw['kind']} source needs an http(s) URL, "
                          f"got {raw['locator']!r}")
    if not _SLUG.match(raw["id"]):
        raise ConfigError(f"{where}: field `id`: use lower-case letters, digits, - and _ (max 64)")
    from archiver.platforms import KINDS, platform

    if raw["kind"] not in KINDS:
        raise ConfigError(f"{where}: field `kind`: unknown kind {raw['kind']!r} (known: {', '.join(KINDS)})")
    for name in ("name", "organisation", "role", "country", "schedule", "verified"):
        if name in raw and not isinstance(raw[name], str):
            raise ConfigError(f"{where}: field `{name}`: must be a string")
    for name in ("enabled", "publish"):
        if name in raw and not isinstance(raw[name], bool):
            raise ConfigError(f"{where}: field `{name}`: must be true or false")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{where}: field `options`: must be a table")
    schedule = raw.get("schedule", "every 1h")
    _check_schedule(f"{where}: field `schedule`", schedule)
    validate = getattr(platform(raw["kind"]), "validate_options", None)
    if validate is not None:
        problems = validate(options)
        if problems:
            raise ConfigError(f"{where}: field `options`: {problems[0]}")
    return Source(id=raw["id"], kind=raw["kind"], locator=raw["locator"].strip(), name=raw.get("name"),
                  organisation=raw.get("organisation"), role=raw.get("role"), country=raw.get("country"),
                  schedule=schedule, options=options, enabled=raw.get("enabled", True),
                  publish=raw.get("publish", True), verified=raw.get("verified"))


def _is_http_url(text: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in text)
