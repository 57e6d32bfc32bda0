"""Refusing regular expressions that can backtrack catastrophically, by looking at their structure.

Patterns in options (`include`, `exclude`) run against URLs a remote server chooses, so a pattern that
takes exponential (or high-polynomial) time on some input is a way to stall a run. Python's `re` has no
time limit, and timing a trial match would make loading the configuration slow and its verdict depend
on the machine; instead the parsed pattern (`re._parser`, the tree `re.compile` itself builds) is
checked for the three shapes behind catastrophic backtracking:

- a nested quantifier: a repeated group holding a variable-length repeat, e.g. `(a+)+`, `(\\w+\\s?)*`,
  unless the group also needs a character the inner repeat cannot match (`(/[a-z]+)*` is safe: every
  round needs its `/`);
- a repeated alternation whose alternatives can start with the same character, e.g. `(a|ab)*`,
  `(x|xy|y)+`;
- two variable-length repeats with only optional parts between them, where what the first can end
  with is what the second can start with, e.g. `.*.*x`, `\\d+\\d+`, `[a-z]+-?[a-z]+` (polynomial, but
  on a 2,000-character URL enough to stall a run; `(?:[a-z]+\\.)+[a-z]{2,}` is fine: rounds end in `.`);
  an optional group holding a repeat (`(\\d+)?`) counts as a repeat.

Every exponential and polynomial pattern of regexploit's catalogue of real ReDoS cases is refused
(tests/test_options.py); regexploit itself, the library for this, has had no release since 2021.

The check is conservative: it may refuse a pattern that is in fact safe; such a pattern can always
be rewritten so that each repeat has a clear end (a delimiter the repeat cannot match).
"""

from __future__ import annotations

import re
from re import _constants as c
from re import _parser as parser
from typing import Any

_ALL = frozenset(range(257))  # Latin-1 characters, and 256 standing for every other character
_CATEGORIES = {
    c.CATEGORY_DIGIT: r"\d", c.CATEGORY_NOT_DIGIT: r"\D", c.CATEGORY_SPACE: r"\s",
    c.CATEGORY_NOT_SPACE: r"\S", c.CATEGORY_WORD: r"\w", c.CATEGORY_NOT_WORD: r"\W",
}
_REPEATS = (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT)


def backtracking_risk(pattern: str) -> str | None:
    """Why `pattern` (which compiles) may backtrack catastrophically, or None."""
    try:
        tree = parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"cannot be analysed: {exc}"
    return _sequence(list(tree))


def _sequence(items: list[tuple[Any, Any]]) -> str | None:
    """Check one sequence of the tree and, recursively, everything inside it."""
    flat = _flatten(items)
    previous: frozenset[int] | None = None  # what the last variable repeat can end with (optional parts since)
    for op, arg in flat:
        if op in _REPEATS:
            low, high, body = arg
            body = list(body)
            if high > 1:
                found = _repeated(body)
                if found:
                    return found
            found = _sequence(body)
            if found:
                return found
            if high != low and high > 1:
                # the boundary between two repeats can shift when what the first can end with is
                # what the second can start with
                if previous is not None and previous & _first(body):
                    return "two adjacent repeats can match the same characters (polynomial backtracking)"
                previous = _last(body)
            elif high == 1 and low == 0 and _variable_repeats(_flatten(body)):
                # an optional group such as `(\d+)?`: a repeat that may or may not be there
                if previous is not None and previous & _first(body):
                    return "two adjacent repeats can match the same characters (polynomial backtracking)"
                previous = (previous or frozenset()) | _last(body)
            elif low > 0:
                previous = None
            continue
        for inner in _children(op, arg):
            found = _sequence(inner)
            if found:
                return found
        if op not in (c.AT, c.ASSERT, c.ASSERT_NOT):  # zero-width parts do not separate repeats
            previous = None
    return None


def _repeated(body: list[tuple[Any, Any]]) -> str | None:
    """The body of a repeat that may run more than once: no ambiguity in how rounds split the input."""
    flat = _flatten(body)
    needed = [_chars([item]) for item in flat if _mandatory_char(item)]
    for inner in _variable_repeats(flat):
        chars = _chars(list(inner[1][2]))
        if not any(not (need & chars) for need in needed):
            return "a repeated group holds a variable-length repeat (nested quantifier)"
    for op, arg in flat:
        if op is c.BRANCH:
            starts = [_first(list(alternative)) for alternative in arg[1]]
            for index, first in enumerate(starts):
                if any(first & other for other in starts[index + 1:]):
                    return "a repeated alternation has alternatives that start alike"
    return None


def _flatten(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """The sequence with plain and atomic groups opened (they do not change what is matched)."""
    flat: list[tuple[Any, Any]] = []
    for op, arg in items:
        if op is c.SUBPATTERN:
            flat.extend(_flatten(list(arg[3])))
        elif op is c.ATOMIC_GROUP:
            flat.extend(_flatten(list(arg)))
        else:
            flat.append((op, arg))
    return flat


def _children(op: Any, arg: Any) -> list[list[tuple[Any, Any]]]:
    if op is c.BRANCH:
        return [list(alternative) for alternative in arg[1]]
    if op in (c.ASSERT, c.ASSERT_NOT):
        return [list(arg[1])]
    if op is c.GROUPREF_EXISTS:
        return [list(branch) for branch in arg[1:] if branch is not None]
    return []


def _variable_repeats(flat: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Repeats of variable length at any depth of `flat`."""
    found = []
    for op, arg in flat:
        if op in _REPEATS:
            if arg[1] > 1 and arg[1] != arg[0]:
                found.append((op, arg))
            found.extend(_variable_repeats(_flatten(list(arg[2]))))
        else:
            for inner in _children(op, arg):
                found.extend(_variable_repeats(_flatten(inner)))
    return found


def _mandatory_char(item: tuple[Any, Any]) -> bool:
    return item[0] in (c.LITERAL, c.NOT_LITERAL, c.ANY, c.IN)


def _first(items: list[tuple[Any, Any]]) -> frozenset[int]:
    """Characters a match of `items` can start with (every character when unsure)."""
    flat = _flatten(items)
    if not flat:
        return _ALL
    op, arg = flat[0]
    if _mandatory_char(flat[0]):
        return _chars([flat[0]])
    if op in _REPEATS and arg[0] > 0:
        return _first(list(arg[2]))
    return _ALL


def _last(items: list[tuple[Any, Any]]) -> frozenset[int]:
    """Characters a match of `items` can end with (every character when unsure)."""
    flat = _flatten(items)
    if not flat:
        return _ALL
    op, arg = flat[-1]
    if _mandatory_char(flat[-1]):
        return _chars([flat[-1]])
    if op in _REPEATS and arg[0] > 0:
        return _last(list(arg[2]))
    return _ALL


def _chars(items: list[tuple[Any, Any]]) -> frozenset[int]:
    """Characters `items` can consume (every character unless it is one character class)."""
    flat = _flatten(items)
    if len(flat) == 1 and flat[0][0] in _REPEATS:
        return _chars(list(flat[0][1][2]))
    if len(flat) != 1 or not _mandatory_char(flat[0]):
        return _ALL
    op, arg = flat[0]
    if op is c.LITERAL:
        return frozenset({min(arg, 256)})
    if op is c.NOT_LITERAL:  # `[^,]` is parsed as NOT_LITERAL ','
        return _ALL - {arg} if arg < 256 else _ALL
    if op is c.ANY:
        return _ALL
    chars: set[int] = set()
    negate = False
    for kind, value in arg:
        if kind is c.NEGATE:
            negate = True
        elif kind is c.LITERAL:
            chars.add(min(value, 256))
        elif kind is c.RANGE:
            chars.update(range(min(value[0], 256), min(value[1], 256) + 1))
        elif kind is c.CATEGORY and value in _CATEGORIES:
            probe = re.compile(_CATEGORIES[value])
            chars.update(i for i in range(256) if probe.match(chr(i)))
            chars.add(256)  # every category also matches characters beyond Latin-1 (or excludes some)
        else:
            return _ALL
    return _ALL - chars if negate else frozenset(chars)
