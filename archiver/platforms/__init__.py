"""Platform modules: pure functions from captured bytes to posts and the next requests.

Every module named after a source `kind` provides:

    plan(source: Source, view: ArchiveMemory) -> list[Request]
        the first requests of a run (listing pages, feeds, API timelines);
    parse(source: Source, request: Request, exchange: Exchange, view: ArchiveMemory) -> Parsed
        what one exchange shows, and the requests it leads to (next pages, statement pages,
        deletion checks). Raise ParseError for input that cannot be read (nothing it shows is
        then recorded); list in `Parsed.problems` what could not be read when the rest still can
        (the run is then `partial`); never touch the network or write anything;
    EXTRACTOR_VERSION: str
        bumped whenever the parser would read the same bytes differently, and naming (`read_with`)
        the libraries whose reading the text depends on, with their installed versions;

    OPTIONS: tuple[archiver.platforms.options.Option, ...]
        the kind's own options (the common ones are declared in archiver.platforms.options); read
        one with `options.value(source, name)`, which falls back to the declared default;

and optionally `locator_problem(locator: str) -> str | None` (what is wrong with a locator, checked
when the configuration is loaded).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from archiver.models import Exchange, Observation, Request

KINDS = ("feed", "webpage", "sitemap", "un_communications", "youtube",
         "bluesky", "mastodon", "x", "telegram")


class ParseError(Exception):
    """The bytes could not be read as what the platform promised; the message says what and where."""


@dataclass
class Parsed:
    observation: Observation = field(default_factory=Observation)
    follow: list[Request] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # parts of the document that could not be read


def read_with(own: str, *libraries: str, text_rule: bool = False) -> str:
    """An extractor version with the installed versions of the libraries its text comes from
    (`4+trafilatura-2.0.0+lxml-5.3.0`): an upgrade of one may read the same bytes differently, and
    what it changes must be a re-reading (`reextracted`), never an edit the source did not make. With
    `text_rule`, the version of the shared HTML-to-text rule too (`+text-2`), for the same reason."""
    from archiver.platforms.text import RULE

    return "+".join([own, *(f"{name}-{_installed(name)}" for name in libraries), *(["text-" + RULE] * text_rule)])


def _installed(name: str) -> str:
    """A library's installed version: from its distribution's metadata, else its module's `__version__`
    (a copy installed without metadata), else "unknown" rather than failing the import."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return str(getattr(importlib.import_module(name), "__version__", "unknown"))


def platform(kind: str) -> ModuleType:
    if kind not in KINDS:
        raise KeyError(f"unknown source kind {kind!r} (known: {', '.join(KINDS)})")
    return importlib.import_module(f"archiver.platforms.{kind}")


def expect_ok(exchange: Exchange) -> None:
    """Raise ParseError unless the exchange carries a 2xx body to parse."""
    if exchange.error or exchange.status is None or not 200 <= exchange.status < 300 or exchange.body is None:
        raise ParseError(exchange.failure())
