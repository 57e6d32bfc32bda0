"""The options a source may set, declared once: the options every kind takes (COMMON) and each kind's
own (`OPTIONS` at the top of its platform module), each with its type, default, bounds and a line of
documentation. Config validation, the tables of docs/sources.md and `value()` all read these
declarations, so a name, a default or a bound is never written twice.

Strict on purpose: an unknown name is a typo, and a value of the wrong type is refused rather than
coerced (the string "false" is not false)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from archiver.models import Source
from archiver.platforms.dates import DATE_ORDERS

MAX_TEXT = 1000  # selectors, patterns and names longer than this are not configuration
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True)
class Option:
    """One option. `type` is one of TYPES; `low`/`high` bound numbers (inclusive); `choices` are the
    only values allowed for type "choice"; `example` is a TOML value shown in the docs."""

    name: str
    type: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    required: bool = False
    example: str | None = None
    default_doc: str | None = None  # when the default is not a fixed value ("the locator's server")

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this option, or None."""
        return TYPES[self.type][1](self, value)

    def type_doc(self) -> str:
        if self.type == "choice":
            *first, last = (toml(c) for c in self.choices)
            return f"{', '.join(first)} or {last}"
        words = TYPES[self.type][0]
        if self.low is not None and self.high is not None:
            words += f", {_number(self.low)}–{_number(self.high)}"
        return words


def toml(value: Any) -> str:
    """A value as it is written in sources.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return _number(value) if isinstance(value, int | float) else str(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {toml(value)}"
    if isinstance(value, str):
        return f"the string {toml(value[:60])}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return {list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _expected(option: Option, value: Any) -> str:
    return f"expected {option.type_doc()}, got {_describe(value)}"


# -- one checker per type: (words for the docs, check) -----------------------------------------

def _bool(option: Option, value: Any) -> str | None:
    return None if isinstance(value, bool) else _expected(option, value)


def _numeric(option: Option, value: Any, kinds: tuple[type, ...]) -> str | None:
    if isinstance(value, bool) or not isinstance(value, kinds):
        return _expected(option, value)
    low = option.low if option.low is not None else float("-inf")
    high = option.high if option.high is not None else float("inf")
    if not low <= value <= high:  # also refuses nan
        return f"{toml(value)} is out of bounds: expected {option.type_doc()}"
    return None


def _text(option: Option, value: Any) -> str | None:
    if not isinstance(value, str):
        return _expected(option, value)
    if len(value) > MAX_TEXT:
        return f"longer than {MAX_TEXT} characters"
    if option.required and not value.strip():
        return "required, must not be empty"
    return None


def _url(option: Option, value: Any, *, path: bool = True) -> str | None:
    if (found := _text(option, value)) is not None:
        return found
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or any(c.isspace() for c in value):
        return f"expected an http(s) URL, got {toml(value)}"
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return f"{toml(value)}: no query or fragment allowed (the archiver appends its own)"
    if not path and parts.path.strip("/"):
        return f"{toml(value)}: only scheme, host and port allowed (the archiver appends the path)"
    return None


def _origin(option: Option, value: Any) -> str | None:
    return _url(option, value, path=False)


def _regex(option: Option, value: Any) -> str | None:
    if (found := _text(option, value)) is not None:
        return found
    try:
        re.compile(value)
    except re.error as exc:
        return f"not a regular expression: {exc}"
    from archiver.platforms.regex_risk import backtracking_risk

    risk = backtracking_risk(value)
    return f"{toml(value)} refused: {risk}" if risk else None


def _selector(option: Option, value: Any) -> str | None:
    if (found := _text(option, value)) is not None:
        return found
    if value:
        from selectolax.lexbor import LexborHTMLParser

        try:
            LexborHTMLParser("<p></p>").css(value)
        except Exception as exc:  # selectolax raises plain exceptions for bad selectors
            return f"not a CSS selector: {exc}"
    return None


def _env_name(option: Option, value: Any) -> str | None:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        return f"expected an environment variable name (letters, digits, _), got {_describe(value)}"
    return None


def _languages(option: Option, value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return _expected(option, value)
    if len(value) > 20:
        return f"at most 20 languages, got {len(value)}"
    for item in value:
        if not isinstance(item, str) or not _LANGUAGE.match(item):
            return f"{_describe(item)} is not a language code (e.g. \"en\", \"fr\", \"zh-Hant\")"
    return None


def _choice(option: Option, value: Any) -> str | None:
    # `1 == True` in Python: a choice matches only a value of its own type
    if any(type(value) is type(choice) and value == choice for choice in option.choices):
        return None
    return _expected(option, value)


TYPES: dict[str, tuple[str, Callable[[Option, Any], str | None]]] = {
    "bool": ("true or false", _bool),
    "int": ("integer", lambda o, v: _numeric(o, v, (int,))),
    "number": ("number", lambda o, v: _numeric(o, v, (int, float))),
    "text": ("string", _text),
    "url": ("http(s) URL", _url),
    "origin": ("http(s) URL without a path", _origin),
    "regex": ("regular expression", _regex),
    "selector": ("CSS selector", _selector),
    "env": ("environment variable name", _env_name),
    "languages": ("array of language codes", _languages),
    "choice": ("one of", _choice),
}


# -- what every kind takes, and shared declarations kinds include in their OPTIONS ------------

COMMON: tuple[Option, ...] = (
    Option("max_requests", "int", 200, "requests one run may make; pages not reached are read by the next run",
           low=1, high=10_000, example="50"),
    Option("run_deadline", "number", 600, "seconds one run may last", low=1, high=86_400, example="300"),
    Option("allow_private", "choice", False,
           'reach loopback/private addresses for this source: true (every hop), "first_hop" (only the '
           "configured address; a redirect to another private address is refused), false", example='"first_hop"',
           choices=(True, False, "first_hop")),
)


def recheck(doc: str = "re-read every listed page on each run (conditional GET), to catch silent edits") -> Option:
    return Option("recheck", "bool", False, doc, example="true")


def max_pages(default: int, doc: str) -> Option:
    return Option("max_pages", "int", default, doc, low=1, high=100, example="10")


def languages() -> Option:
    return Option("languages", "languages", None, "languages the source writes dates in (dateparser codes), "
                  "tried in this order", example='["fr", "en"]', default_doc="any")


def date_order(default: str | None = None, default_doc: str | None = None) -> Option:
    return Option("date_order", "choice", default, "how to read an all-numeric date whose day and month could "
                  "be swapped, such as 02/12/2020", choices=tuple(DATE_ORDERS), example='"DMY"',
                  default_doc=default_doc or ("none: such a date is read only when `languages` settles the order"
                                              if default is None else None))


DATES: tuple[Option, ...] = (languages(), date_order())


# -- reading the declarations ------------------------------------------------------------------

def declared(kind: str) -> tuple[Option, ...]:
    """The options of `kind` itself (without the common ones)."""
    from archiver.platforms import platform

    return tuple(getattr(platform(kind), "OPTIONS", ()))


def schema(kind: str) -> dict[str, Option]:
    """Every option a source of `kind` may set, common ones first."""
    return {option.name: option for option in (*COMMON, *declared(kind))}


def problems(kind: str, options: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(option name or None, what is wrong) for every problem of `options`, in the order written."""
    known = schema(kind)
    found: list[tuple[str | None, str]] = []
    for name, value in options.items():
        option = known.get(name)
        if option is None:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            found.append((name, f"unknown option `{name}` for kind {kind} ({hint}known: {', '.join(known)})"))
        elif (problem := option.problem(value)) is not None:
            found.append((name, f"option `{name}`: {problem}"))
    for option in known.values():
        if option.required and option.name not in options:
            found.append((None, f"option `{option.name}`: required, {option.doc}"))
    return found


def value(source: Source, name: str) -> Any:
    """The source's value for option `name`, or its declared default."""
    if name in source.options:
        return source.options[name]
    return schema(source.kind)[name].default


def markdown_table(options: tuple[Option, ...]) -> str:
    """Options as the Markdown table docs/sources.md shows for them."""
    rows = ["| option | type | default | example | meaning |", "|---|---|---|---|---|"]
    for option in options:
        default = option.default_doc or ("required" if option.required else
                                          "none" if option.default is None else f"`{toml(option.default)}`")
        cells = (f"`{option.name}`", option.type_doc(), default,
                 f"`{option.name} = {option.example or toml(option.default)}`", option.doc)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def http_locator(locator: str) -> str | None:
    """The locator check of the kinds whose locator is the URL of their first request."""
    parts = urlsplit(locator)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return f"not a valid URL: {locator!r}"
    if parts.scheme not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in locator):
        return f"needs an http(s) URL, got {locator!r}"
    return None
