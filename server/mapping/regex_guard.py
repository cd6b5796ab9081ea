"""Compile user regular expressions with a guard against catastrophic backtracking.

Python's ``re`` has no timeout, so the guard is static plus a size cap:

- the pattern must compile and be at most ``MAX_PATTERN`` characters;
- a repeat holding an unbounded repeat with no literal separator the inner one cannot match is
  refused (``(a+)+``, ``(\\w*)*``, ``(.*a){12}``; ``(\\w+\\.)+`` is fine), and so is a repeated
  alternation whose branches can start with the same character (``(a|ab)*``): the shapes
  behind exponential matching time;
- at run time the input is capped (``MAX_INPUT``, 10,000 characters by default), which bounds
  the polynomial cases (``\\d+\\d+x``) the static check lets through.

It is a heuristic: it refuses some safe patterns (rewrite them without nesting) and cannot
prove every accepted pattern fast, but with the input cap the worst cases stay small.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from server.mapping.errors import ParamError

MAX_PATTERN = 1000
MAX_INPUT = 10_000

# The regex parser is private (re._parser) and untyped; it is stable across 3.11-3.13.
_parser: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}
_UNBOUNDED = _c.MAXREPEAT
_WILDCARD = object()


def compile_guarded(
    pattern: Any, *, ignore_case: bool = False, param: str = "pattern"
) -> re.Pattern[str]:
    """Compile ``pattern`` or raise ParamError saying why it is refused."""
    if not isinstance(pattern, str):
        raise ParamError(param, "must be a string")
    if len(pattern) > MAX_PATTERN:
        raise ParamError(param, f"is longer than {MAX_PATTERN} characters")
    flags = re.IGNORECASE if ignore_case else 0
    try:
        compiled = re.compile(pattern, flags)
        tree = _parser.parse(pattern, flags)
    except re.error as exc:
        raise ParamError(param, f"is not a valid regular expression: {exc}") from None
    reason = _risky(tree, inside_unbounded=False)
    if reason is not None:
        raise ParamError(param, f"risks catastrophic backtracking ({reason}); rewrite it")
    return compiled


def _risky(items: Any, *, inside_unbounded: bool) -> str | None:
    for op, arg in items:
        if op in _REPEATS:
            _low, high, body = arg
            unbounded = high == _UNBOUNDED or high > 100
            if high > 1 and _nested_ambiguous(body):
                return "a repeat nested in a repeat without a separator"
            if unbounded and _has_overlapping_branch(body):
                return "a repeated alternation whose branches overlap"
            reason = _risky(body, inside_unbounded=inside_unbounded or unbounded)
            if reason:
                return reason
        elif op == _c.SUBPATTERN:
            reason = _risky(arg[-1], inside_unbounded=inside_unbounded)
            if reason:
                return reason
        elif op == _c.BRANCH:
            for branch in arg[1]:
                reason = _risky(branch, inside_unbounded=inside_unbounded)
                if reason:
                    return reason
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            reason = _risky(arg[1], inside_unbounded=inside_unbounded)
            if reason:
                return reason
    return None


def _flatten(items: Any) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    for op, arg in items:
        if op == _c.SUBPATTERN:
            out.extend(_flatten(arg[-1]))
        else:
            out.append((op, arg))
    return out


def _nested_ambiguous(body: Any) -> bool:
    """Whether an unbounded repeat's body holds an unbounded repeat with no separator.

    ``(a+)+`` and ``(\\w+\\s?)+`` can split one input in exponentially many ways; ``(\\w+\\.)+``
    cannot, because every round must consume a literal the inner repeat cannot match.
    """
    items = _flatten(body)
    inner = [arg for op, arg in items if op in _REPEATS and (arg[1] == _UNBOUNDED or arg[1] > 100)]
    if not inner:
        return False
    for op, arg in items:
        if op == _c.LITERAL and not any(_may_match(rep[2], chr(arg)) for rep in inner):
            return False  # a mandatory separator the inner repeats cannot eat
    return True


_CATEGORY_RE = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}


def _may_match(body: Any, ch: str) -> bool:
    """Whether a single-character repeat body can match ``ch`` (True when unsure)."""
    items = _flatten(body)
    if len(items) != 1:
        return True
    op, arg = items[0]
    if op == _c.LITERAL:
        return bool(arg == ord(ch))
    if op == _c.NOT_LITERAL:
        return bool(arg != ord(ch))
    if op == _c.ANY:
        return ch != "\n"
    if op == _c.IN:
        negate = False
        hit = False
        for sub_op, sub_arg in arg:
            if sub_op == _c.NEGATE:
                negate = True
            elif sub_op == _c.LITERAL:
                hit = hit or sub_arg == ord(ch)
            elif sub_op == _c.RANGE:
                hit = hit or sub_arg[0] <= ord(ch) <= sub_arg[1]
            elif sub_op == _c.CATEGORY:
                pattern = _CATEGORY_RE.get(str(sub_arg))
                hit = hit or pattern is None or re.fullmatch(pattern, ch) is not None
            else:
                return True
        return hit != negate
    return True


def _has_overlapping_branch(items: Any) -> bool:
    for op, arg in items:
        if op == _c.BRANCH:
            firsts = [_first(branch) for branch in arg[1]]
            seen: set[Any] = set()
            for first in firsts:
                if (first is _WILDCARD or first in seen or _WILDCARD in seen) and len(firsts) > 1:
                    return True
                seen.add(first)
        elif op == _c.SUBPATTERN and _has_overlapping_branch(arg[-1]):
            return True
    return False


def _first(items: Any) -> Any:
    """The literal a sequence must start with, or _WILDCARD when it can start with many."""
    for op, arg in items:
        if op == _c.LITERAL:
            return arg
        if op == _c.SUBPATTERN:
            return _first(arg[-1])
        if op == _c.AT:
            continue
        return _WILDCARD
    return _WILDCARD


def check_input(text: str, limit: int = MAX_INPUT) -> str | None:
    """An error message when ``text`` is too long to match safely, else None."""
    if len(text) > limit:
        return f"input is {len(text)} characters, over the {limit}-character regex limit"
    return None
