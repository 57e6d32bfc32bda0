"""Reading config/sources.toml: service settings and the list of sources, validated against the
declared options (archiver.platforms.options). Every mistake of a file is reported at once, each as
one line `FILE:LINE: where: what`."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.database import ArchiveError
from archiver.fetch.settings import FetchSettings
from archiver.models import Source
from archiver.platforms.options import Option, toml

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TEXT_FIELDS = ("name", "organisation", "role", "country", "schedule", "verified")
_SOURCE_FIELDS = {"id", "kind", "locator", *_TEXT_FIELDS, "options", "enabled", "publish"}
# The contact of the shipped example (and of an [archiver] table that names none): it reaches nobody.
PLACEHOLDER_CONTACT = "https://example.invalid/set-contact-in-sources.toml"
_FORMER_PLACEHOLDERS = {PLACEHOLDER_CONTACT, "https://github.com/archiver/archiver"}
CONTACT_ENV = "ARCHIVER_CONTACT"  # overrides [archiver] contact (`archiver run --contact`)


class ConfigError(ArchiveError):
    """The configuration cannot be used. `problems` holds every mistake found, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Settings(FetchSettings):
    """The `[archiver]` table: how the service fetches (FetchSettings, handed to the fetch layer as
    they are) and how it schedules and serves."""

    contact: str = PLACEHOLDER_CONTACT  # goes into the User-Agent; `archiver run` refuses the placeholder
    max_backoff: float = 6 * 3600.0  # longest wait of a source that keeps failing
    verify_schedule: str = "every 1d"  # fixity check of the whole archive by the service; "off" for none
    extra: dict[str, Any] = field(default_factory=dict)


_D = Settings()
SETTINGS: tuple[Option, ...] = (
    Option("contact", "text", _D.contact, "a URL or e-mail address put into the User-Agent, so site operators "
           "can reach whoever runs the archive; `archiver run` refuses the placeholder",
           required=True, example='"mailto:archive@example.org"', default_doc="a placeholder"),
    Option("workers", "int", _D.workers, "sources fetched at once", low=1, high=256),
    Option("connect_timeout", "number", _D.connect_timeout, "seconds to connect", low=0.1, high=600),
    Option("read_timeout", "number", _D.read_timeout, "seconds to wait for data", low=0.1, high=3600),
    Option("deadline", "number", _D.deadline, "seconds for one whole request, body included, "
           "counted from when it is sent (not while it waits for its host's turn)", low=0.1, high=86_400),
    Option("max_body", "int", _D.max_body, "bytes; larger bodies are refused", low=1024, high=4 * 1024 ** 3),
    Option("max_redirects", "int", _D.max_redirects, "redirects followed", low=0, high=50),
    Option("retries", "int", _D.retries, "retries of a request that failed in transit", low=0, high=20),
    Option("retry_after_cap", "number", _D.retry_after_cap, "seconds; a longer `Retry-After` defers the host "
           "instead of waiting", low=0, high=86_400),
    Option("host_delay", "number", _D.host_delay, "minimum seconds between two requests to one host",
           low=0, high=3600),
    Option("respect_robots", "bool", _D.respect_robots, "obey robots.txt"),
    Option("allow_private", "choice", _D.allow_private, "allow loopback/private addresses for every source "
           '(tests, intranets): true on every hop, "first_hop" only for the configured URL (a redirect from it '
           "to a private address is refused); per source, the option `allow_private`",
           choices=(True, False, "first_hop")),
    Option("secrets_file", "text", _D.secrets_file, "file of `NAME=value` tokens for sources that need them "
           "(the environment wins)", example='"/etc/archiver/secrets"'),
    Option("ca_file", "text", _D.ca_file, "PEM file of the certificate authorities to trust for https "
           "instead of the bundled public ones (an intranet's own authority)", example='"/etc/archiver/ca.pem"'),
    Option("max_backoff", "number", _D.max_backoff, "longest wait, in seconds, of a source that keeps failing",
           low=1, high=30 * 86_400),
    Option("verify_schedule", "text", _D.verify_schedule, "how often the service re-checks every digest and "
           'the chain, a schedule as for sources (`"off"`: never)'),
)


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
        raise ConfigError([f"{self.path}: no source with id {source_id!r}"])


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([f"{path}: no such configuration file"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot be read: {exc}"]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f"{path}:{at[1]}" if at else f"{path}"
        raise ConfigError([f"{where}: not valid TOML: {exc}"]) from exc
    report = _Report(path, _Lines(text))
    for key in data.keys() - {"archiver", "source", "checkpoint"}:
        report.add((key,), f"unknown table or field `{key}` (known: [archiver], [[source]], [checkpoint])")
    settings = _settings(report, data.get("archiver", {}))
    if contact := os.environ.get(CONTACT_ENV, "").strip():  # the operator's contact given at start wins
        settings.contact = contact
    raw_sources = data.get("source", [])
    sources: list[Source] = []
    if not isinstance(raw_sources, list):
        report.add(("source",), "`source` must be an array of tables ([[source]])")
        raw_sources = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_sources, start=1):
        source_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(source_id, str):  # checked also for sources with other mistakes
            if source_id in seen:
                report.add(("source", index, "id"), f"source #{index} ({source_id}): field `id`: duplicate id")
            seen.add(source_id)
        source = _source(report, index, raw)
        if source is not None:
            sources.append(source)
    checkpoint = _checkpoint(report, data.get("checkpoint", {}))
    if report.problems:
        raise ConfigError(report.problems)
    return Config(path=path, settings=settings, sources=sources, checkpoint=checkpoint)


_TSA_URL = Option("tsa", "url", None, "an RFC 3161 timestamp authority")


def _checkpoint(report: _Report, raw: Any) -> CheckpointSettings:
    """The `[checkpoint]` table, every mistake reported with the others."""
    settings = CheckpointSettings()
    if not isinstance(raw, dict):
        report.add(("checkpoint",), "[checkpoint] must be a table")
        return settings
    for key, value in raw.items():
        place, field_name = ("checkpoint", key), f"[checkpoint]: field `{key}`"
        if key in ("schedule", "key", "folder"):
            if not isinstance(value, str):
                report.add(place, f"{field_name}: must be a string")
            elif key == "schedule" and value != "off" and (problem := _schedule_problem(value, also=' (or "off")')):
                report.add(place, f"{field_name}: {problem}")
            else:
                setattr(settings, key, value)
        elif key == "tsa":
            if not isinstance(value, list) or any(_TSA_URL.problem(url) is not None for url in value):
                report.add(place, f"{field_name}: must be a list of http(s) URLs")
            else:
                settings.tsa = value
        else:
            report.add(place, f"[checkpoint]: unknown field `{key}` (known: schedule, tsa, key, folder)")
    return settings


def placeholder_contact(config: Config) -> str | None:
    """The one-line instruction when `contact` still names nobody, else None."""
    if config.settings.contact.strip() not in _FORMER_PLACEHOLDERS:
        return None
    line = _Lines(config.path.read_text(encoding="utf-8")).line("archiver", "contact")
    return (f"{config.path}:{line}: [archiver]: field `contact` is the placeholder "
            f"{toml(config.settings.contact)}: set it to a URL or e-mail address where site operators "
            f"can reach you (it is sent in the User-Agent of every request)")


class _Report:
    """The problems found so far, each placed at the line it concerns."""

    def __init__(self, path: Path, lines: _Lines) -> None:
        self.path, self.lines = path, lines
        self.found: list[tuple[int, str]] = []

    def add(self, place: tuple[Any, ...], message: str) -> None:
        self.found.append((self.lines.line(*place), message))

    @property
    def problems(self) -> list[str]:
        """In the order of the file's lines (a stable sort: one line's problems as found)."""
        return [f"{self.path}:{line}: {message}" for line, message in sorted(self.found, key=lambda f: f[0])]


def _settings(report: _Report, raw: Any) -> Settings:
    settings = Settings()
    if not isinstance(raw, dict):
        report.add(("archiver",), "[archiver] must be a table")
        return settings
    known = {option.name: option for option in SETTINGS}
    for key, value in raw.items():
        option = known.get(key)
        if option is None:
            report.add(("archiver", key), f"[archiver]: unknown field `{key}` (known: {', '.join(known)})")
            continue
        problem = option.problem(value)
        if problem is None and key == "verify_schedule" and value != "off":
            problem = _schedule_problem(value, also=' (or "off")')
        if problem is None and key == "ca_file":
            problem = _ca_problem(value)
        if problem is not None:
            report.add(("archiver", key), f"[archiver]: field `{key}`: {problem}")
            continue
        if option.type == "number":
            value = float(value)
        setattr(settings, key, value)
    return settings


def _ca_problem(path: str) -> str | None:
    """Why `path` cannot serve as the trusted authorities (read as the fetch layer's TLS will), or None."""
    import ssl

    try:
        ssl.create_default_context(cafile=path)
    except OSError as exc:  # ssl.SSLError included: not PEM, or no certificate in it
        return f"cannot be read as PEM certificates: {exc.strerror or exc}"
    return None


def _schedule_problem(text: str, also: str = "") -> str | None:
    from archiver.schedule import ScheduleError, parse_schedule

    try:
        parse_schedule(text)
    except ScheduleError as exc:
        return f"{exc}{also}"
    return None


def _source(report: _Report, index: int, raw: Any) -> Source | None:
    from archiver.platforms import KINDS, platform
    from archiver.platforms.options import problems as option_problems

    if not isinstance(raw, dict):
        report.add(("source", index), f"source #{index}: must be a table")
        return None
    where = f"source #{index}" + (f" ({raw['id']})" if isinstance(raw.get("id"), str) else "")
    before = len(report.found)

    def add(place: tuple[str, ...], message: str) -> None:
        report.add(("source", index, *place), f"{where}: {message}")

    for key in raw.keys() - _SOURCE_FIELDS:
        add((key,), f"unknown field `{key}` (known: {', '.join(sorted(_SOURCE_FIELDS))})")
    for key in ("id", "kind", "locator"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            add((key,), f"field `{key}`: required, a non-empty string")
    kind, source_id, locator = raw.get("kind"), raw.get("id"), raw.get("locator")
    if isinstance(source_id, str) and source_id.strip() and not _SLUG.match(source_id):
        add(("id",), "field `id`: use lower-case letters, digits, - and _ (max 64)")
    for key in _TEXT_FIELDS:
        if key in raw and not isinstance(raw[key], str):
            add((key,), f"field `{key}`: must be a string")
    for key in ("enabled", "publish"):
        if key in raw and not isinstance(raw[key], bool):
            add((key,), f"field `{key}`: must be true or false")
    schedule = raw.get("schedule", "every 1h")
    if isinstance(schedule, str) and (problem := _schedule_problem(schedule)):
        add(("schedule",), f"field `schedule`: {problem}")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        add(("options",), "field `options`: must be a table")
        options = {}
    if isinstance(kind, str) and kind.strip():
        if kind not in KINDS:
            add(("kind",), f"field `kind`: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        else:
            for name, problem in option_problems(kind, options):
                add(("options", *((name,) if name else ())), f"field `options`: {problem}")
            check = getattr(platform(kind), "locator_problem", None)
            if isinstance(locator, str) and locator.strip() and check and (problem := check(locator.strip())):
                add(("locator",), f"field `locator`: {problem}")
    if len(report.found) > before:
        return None
    return Source(id=raw["id"], kind=raw["kind"], locator=raw["locator"].strip(), name=raw.get("name"),
                  organisation=raw.get("organisation"), role=raw.get("role"), country=raw.get("country"),
                  schedule=schedule, options=options, enabled=raw.get("enabled", True),
                  publish=raw.get("publish", True), verified=raw.get("verified"))


def with_options(source: Source, **options: Any) -> Source:
    """A copy of `source` with some options replaced (e.g. a smaller request budget for a probe)."""
    return dataclasses.replace(source, options={**source.options, **options})


class _Lines:
    """Where keys are written in a TOML text, to name the line of a mistake. tomllib keeps no
    positions, so the text is scanned: table headers, `key =` lines and the keys of one-line inline
    tables (`options = { a = 1 }`). A key that cannot be placed gets the line of its table."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]\[]+?)\s*\]\]?\s*(?:#.*)?$")
    _KEY = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\")(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"))*)\s*=")
    _INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str) -> None:
        self.places: dict[tuple[Any, ...], int] = {}
        section: tuple[Any, ...] = ()
        sources = 0
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string is not None:  # inside a multi-line string: nothing here is a key
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            header = self._HEADER.match(line)
            if header:
                name = tuple(part.strip().strip('"') for part in header[2].split("."))
                if header[1] == "[[" and name == ("source",):
                    sources += 1
                    section = ("source", sources)
                elif name[0] == "source" and sources:
                    section = ("source", sources, *name[1:])
                else:
                    section = name
                self.places.setdefault(section, number)
                continue
            key = self._KEY.match(line)
            if key:
                parts = tuple(part.strip().strip('"') for part in key[1].split("."))
                self.places.setdefault((*section, *parts), number)
                rest = line[key.end():]
                if rest.lstrip().startswith("{"):
                    for inner in self._INLINE_KEY.finditer(rest):
                        self.places.setdefault((*section, *parts, inner[1].strip('"')), number)
            for quote in ('"""', "'''"):
                if line.count(quote) % 2 == 1:
                    in_string = quote
                    break

    def line(self, *place: Any) -> int:
        """The line of the key at `place` (e.g. "source", 2, "options", "limit"), else of the
        nearest enclosing key or table, else 1."""
        while place:
            if place in self.places:
                return self.places[place]
            place = place[:-1]
        return 1
