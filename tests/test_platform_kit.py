"""The kit under archiver/platforms/: each rule in one place, and no parser reaches the database."""

from __future__ import annotations

import ast
from pathlib import Path

PLATFORMS = Path(__file__).resolve().parent.parent / "archiver" / "platforms"


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in PLATFORMS.glob("*.py")}


def test_no_platform_module_imports_the_view_or_the_database() -> None:
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("archiver.view", "archiver.database", "archiver.archive"), name
            elif isinstance(node, ast.Import):
                assert not any(a.name in ("archiver.view", "archiver.database") for a in node.names), name


def test_html_to_text_and_date_reading_are_defined_once() -> None:
    owners: dict[str, list[str]] = {}
    for name, tree in _modules().items():
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                owners.setdefault(node.name, []).append(name)
    assert owners["html_to_text"] == ["text"] and "html_text" not in owners
    assert owners["read_date"] == ["dates"] and owners["struct_time_utc"] == ["dates"]
    assert owners["main_text"] == ["statement"] and owners["parse_page"] == ["statement"]
    assert owners["follow_listing"] == ["listing"]
    # nothing else parses HTML to text or reads free-form dates by itself
    for name, tree in _modules().items():
        if name in ("text", "dates"):
            continue
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names}
        assert not imported & {"dateparser", "dateutil", "parser"}, name


def test_the_removal_window_rule_is_defined_once_and_used_by_youtube() -> None:
    from archiver.platforms.window import departed

    owners = [name for name, tree in _modules().items() for node in tree.body
              if isinstance(node, ast.FunctionDef) and node.name == "departed"]
    assert owners == ["window"]
    known = [("a", "2026-01-01"), ("b", "2026-03-01"), ("c", None), ("d", "2026-05-01")]
    assert departed(known, {"d"}, "2026-02-01", None) == ["b"]  # "a" aged out, "c" cannot be placed
    assert departed(known, {"d"}, None, None) == ["a", "b", "c"]
    assert departed([("x", 5), ("y", 9)], set(), 5, 9) == ["x"]  # [low, high)
