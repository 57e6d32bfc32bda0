"""The one options schema: each kind's declared options check types, bounds, URLs, selectors and
patterns; catastrophic patterns are refused by structure; the parsers' fallbacks equal the declared
defaults; docs/sources.md shows exactly the declared tables."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from archiver.config import SETTINGS
from archiver.models import Source
from archiver.platforms import KINDS
from archiver.platforms.options import COMMON, declared, markdown_table, problems, schema, value
from archiver.platforms.regex_risk import backtracking_risk

ROOT = Path(__file__).resolve().parent.parent


def messages(kind: str, options: dict) -> list[str]:
    return [message for _, message in problems(kind, options)]


def test_webpage_options() -> None:
    good = {"item": "div.views-row", "link": "a", "title": "h3", "date": "time"}
    assert messages("webpage", good) == []
    assert messages("webpage", {**good, "link": "", "next": "a[rel=next]", "max_pages": 5}) == []
    assert messages("webpage", {})[0].startswith("option `item`: required")
    assert any("not a CSS selector" in p for p in messages("webpage", {"item": "div[["}))
    assert messages("webpage", {**good, "max_pages": 0}) == [
        "option `max_pages`: 0 is out of bounds: expected integer, 1–100"]
    assert messages("webpage", {**good, "max_pages": True}) == [
        "option `max_pages`: expected integer, 1–100, got the boolean true"]


def test_sitemap_and_social_options() -> None:
    assert any("not a regular expression" in p for p in messages("sitemap", {"include": "(["}))
    assert messages("sitemap", {"include": "/press/", "exclude": "/fr/", "recheck": True}) == []
    assert messages("bluesky", {"api_base": "ftp://x", "max_pages": 0, "limit": 500}) == [
        "option `api_base`: expected an http(s) URL, got \"ftp://x\"",
        "option `max_pages`: 0 is out of bounds: expected integer, 1–100",
        "option `limit`: 500 is out of bounds: expected integer, 1–100"]
    assert messages("bluesky", {"publish_unauthenticated": True, "api_base": "http://127.0.0.1:9/bsky/"}) == []
    assert messages("x", {"token_env": "X TOKEN"})[0].startswith("option `token_env`: expected an environment")
    assert messages("x", {"recheck": 0, "monthly_read_budget": 1}) == []
    assert messages("mastodon", {"limt": 5}) == [
        "unknown option `limt` for kind mastodon (did you mean `limit`? known: max_requests, run_deadline, "
        "allow_private, api_base, max_pages, window_pages, limit)"]
    assert messages("telegram", {"base_url": "http://127.0.0.1:8080/"}) == []
    assert messages("telegram", {"base_url": "http://127.0.0.1:8080/tg/"}) == []  # a mirror's path
    assert messages("telegram", {"base_url": 3}) == ["option `base_url`: expected http(s) URL, got the number 3"]
    assert messages("mastodon", {"max_pages": "3"}) == [
        'option `max_pages`: expected integer, 1–100, got the string "3"']


@pytest.mark.parametrize(("options", "problem"), [
    ({"follow_links": "yes"}, 'option `follow_links`: expected true or false, got the string "yes"'),
    ({"folow_links": True}, "unknown option `folow_links` for kind feed (did you mean `follow_links`?"),
    ({"max_requests": True}, "option `max_requests`: expected integer, 1–10000, got the boolean true"),
])
def test_feed_options(options: dict, problem: str) -> None:
    assert any(p.startswith(problem) for p in messages("feed", options))
    assert messages("feed", {"follow_links": True, "recheck": False, "max_requests": 5}) == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_takes_the_common_options_with_their_bounds(kind: str) -> None:
    base = {"item": "li"} if kind == "webpage" else {}
    assert messages(kind, {**base, "max_requests": 50, "run_deadline": 30.5, "allow_private": "first_hop"}) == []
    found = messages(kind, {**base, "max_requests": -1, "run_deadline": 10**9, "allow_private": "false"})
    assert [m.split(":")[0] for m in found] == ["option `max_requests`", "option `run_deadline`",
                                                 "option `allow_private`"]
    assert messages(kind, {**base, "run_deadline": float("nan")})  # nan is no number of seconds


def test_languages_and_date_order_for_the_statement_kinds() -> None:
    for kind in ("feed", "webpage", "sitemap", "un_communications"):
        base = {"item": "li"} if kind == "webpage" else {}
        assert messages(kind, {**base, "languages": ["fr", "en", "zh-Hant"], "date_order": "DMY"}) == []
        assert len(messages(kind, {**base, "languages": "fr", "date_order": "dmy"})) == 2
        assert "not a language code" in messages(kind, {**base, "languages": ["French"]})[0]


def test_every_numeric_option_is_bounded_and_every_option_documented() -> None:
    from archiver.platforms.options import TYPES

    everything = [*SETTINGS, *COMMON, *(option for kind in KINDS for option in declared(kind))]
    for option in everything:
        assert option.type in TYPES and option.doc, option.name
        if option.type in ("int", "number"):
            assert option.low is not None and option.high is not None, f"{option.name} is unbounded"
            assert option.problem(option.default) is None, option.name  # the default is within bounds
        if option.type == "choice":
            assert option.choices and (option.default is None or option.problem(option.default) is None)


def test_value_falls_back_to_the_declared_default() -> None:
    source = Source(id="s", kind="bluesky", locator="un.org", options={"limit": 10})
    assert value(source, "limit") == 10
    assert value(source, "max_pages") == 3
    assert value(source, "max_requests") == 200
    assert value(source, "allow_private") is False


@pytest.mark.parametrize(("pattern", "risk"), [
    (r"(a+)+$", "nested quantifier"),
    (r"^(\w+\s?)*$", "nested quantifier"),
    (r"(.*,){11}P", "nested quantifier"),
    (r"^(/?[a-z]+)+\.pdf$", "nested quantifier"),
    (r"(?:x*)*y", "nested quantifier"),
    (r"(a|ab)*c", "alternatives that start alike"),
    (r"(a|a)*", "alternatives that start alike"),
    (r".*.*x", "adjacent repeats"),
    (r"\d+\d+$", "adjacent repeats"),
    (r"[a-z]+-?[a-z]+=", "adjacent repeats"),
    (r"/en/(press-releases|statements)/", None),
    (r"^https://www\.ohchr\.org/en/(press|news)/\d{4}/\d{2}/", None),
    (r"/en/.*/press/.*", None),
    (r"(/[a-z]+)*/", None),
    (r"(\w+\.)*example\.org", None),
    (r"(foo|bar)+", None),
    (r"(\d{4}-)+", None),
    (r"\.pdf$", None),
    (r"([^,]*,)*x", None),
    (r"(?:\d+,)*\d+$", None),
    (r"^(?:[a-z0-9-]+\.)+[a-z]{2,}/", None),
    (r"(?i)(A+)+", "nested quantifier"),
    (r"(?>a+)+b", "nested quantifier"),
    (r"[a-z]+(?:[a-z]+\.)+", "adjacent repeats"),
])
def test_catastrophic_patterns_are_refused_by_their_structure(pattern: str, risk: str | None) -> None:
    found = backtracking_risk(pattern)
    assert (found is None) if risk is None else (risk in (found or "")), found


def _option_reads(path: Path) -> list[tuple[str, object, int]]:
    """(name, fallback, line) of every `….options.get("name", fallback)` and `options.get(…)` in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"):
            continue
        target = node.func.value
        named = (isinstance(target, ast.Attribute) and target.attr == "options") or \
            (isinstance(target, ast.Name) and target.id == "options")
        if named and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            fallback = ast.literal_eval(node.args[1]) if len(node.args) > 1 and isinstance(
                node.args[1], ast.Constant) else None
            found.append((node.args[0].value, fallback, node.lineno))
    return found


def _kinds_using(path: Path) -> list[str]:
    """The kinds whose parser is this module, or imports it (shared modules such as pages.py)."""
    if path.stem in KINDS:
        return [path.stem]
    if path.parent.name != "platforms":
        return list(KINDS)  # the crawl and the fetch layer read options of every kind
    direct = [kind for kind in KINDS if f"archiver.platforms.{path.stem} import" in
              (path.parent / f"{kind}.py").read_text(encoding="utf-8")]
    return direct or list(KINDS)  # used only through another shared module


def test_every_option_a_parser_reads_is_declared_with_the_same_default() -> None:
    modules = [*sorted((ROOT / "archiver" / "platforms").glob("*.py")), ROOT / "archiver" / "jobs.py",
               *sorted((ROOT / "archiver" / "fetch").glob("*.py"))]
    checked = 0
    for path in modules:
        kinds = _kinds_using(path)
        for name, fallback, line in _option_reads(path):
            declaring = [kind for kind in kinds if name in schema(kind)]
            assert declaring, f"{path.name}:{line}: option `{name}` is read but declared by no kind using it"
            if path.parent.name != "platforms":
                assert declaring == kinds, f"{path.name}:{line}: `{name}` is read for every kind, not declared so"
            if fallback is not None:
                for kind in declaring:
                    assert schema(kind)[name].default == fallback, \
                        f"{path.name}:{line}: `{name}` falls back to {fallback!r}, {kind} declares " \
                        f"{schema(kind)[name].default!r}"
            checked += 1
    assert checked >= 15


def test_docs_show_the_declared_options_of_every_kind() -> None:
    """docs/sources.md carries each generated table verbatim (regenerate with
    `python -c "from archiver.platforms.options import *; print(markdown_table(declared('KIND')))"`)."""
    docs = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert markdown_table(SETTINGS) in docs, "docs/sources.md: the [archiver] table is out of date"
    assert markdown_table(COMMON) in docs, "docs/sources.md: the table of common options is out of date"
    for kind in KINDS:
        assert f"### `{kind}`" in docs
        assert markdown_table(declared(kind)) in docs, f"docs/sources.md: the options table of {kind} is out of date"
        for name in schema(kind):
            assert f"`{name}`" in docs
    for option in COMMON:
        assert f"| `{option.name}` |" in docs


def test_known_redos_patterns_from_real_software_are_refused() -> None:
    """regexploit's catalogue (tests/fixtures/redos, licence in SOURCES.txt): every exponential and
    polynomial pattern refused, the safe one accepted."""
    path = ROOT / "tests" / "fixtures" / "redos" / "regexploit_test_patterns.txt"
    rows = [line.rstrip("\n").split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")]
    assert len(rows) == 20
    for kind, pattern in rows:
        assert (backtracking_risk(pattern) is None) == (kind == "safe"), (kind, pattern)
