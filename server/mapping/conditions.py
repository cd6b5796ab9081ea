"""Predicates for ``if``, ``filter`` and ``first``: small JSON trees compiled to closures.

Leaf::

    {"field": "status", "op": "equals", "value": "active"}
    {"op": "regex", "pattern": "^adm-"}          (no field: test the current value)

Operators: equals, not_equals, in, not_in (``values``), contains, starts_with, ends_with,
regex (``pattern``), gt, gte, lt, lte (numbers, numeric text is read as a number), exists,
empty. Combinators: ``{"and": [...]}``, ``{"or": [...]}``, ``{"not": {...}}``.

``field`` is a path relative to the subject: the record for ``if``, the element for ``filter``
and ``first``. A predicate never raises: a value of the wrong type makes it false.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from server.mapping.errors import ParamError
from server.mapping.functions.registry import Predicate
from server.mapping.paths import PathError, compile_getter, parse_path
from server.mapping.regex_guard import MAX_INPUT, compile_guarded

_LEAF_KEYS = {"field", "op", "value", "values", "pattern", "ignore_case"}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}
OPERATORS = (
    "equals", "not_equals", "in", "not_in", "contains", "starts_with", "ends_with", "regex",
    *_COMPARE, "exists", "empty",
)
MAX_DEPTH = 20


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _hashable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def compile_condition(raw: Any, param: str = "when", depth: int = 0) -> Predicate:
    """Compile a condition tree; ParamError names the offending part."""
    if depth > MAX_DEPTH:
        raise ParamError(param, f"conditions nest deeper than {MAX_DEPTH} levels")
    if not isinstance(raw, dict):
        raise ParamError(param, "a condition must be an object")
    if "and" in raw or "or" in raw:
        key = "and" if "and" in raw else "or"
        if set(raw) != {key}:
            raise ParamError(param, f"'{key}' must be the only key of its condition")
        items = raw[key]
        if not isinstance(items, list) or not items:
            raise ParamError(param, f"'{key}' needs a non-empty array of conditions")
        parts = tuple(
            compile_condition(c, f"{param}.{key}[{i}]", depth + 1) for i, c in enumerate(items)
        )
        if key == "and":
            return lambda value, subject: all(p(value, subject) for p in parts)
        return lambda value, subject: any(p(value, subject) for p in parts)
    if "not" in raw:
        if set(raw) != {"not"}:
            raise ParamError(param, "'not' must be the only key of its condition")
        inner = compile_condition(raw["not"], f"{param}.not", depth + 1)
        return lambda value, subject: not inner(value, subject)
    return _leaf(raw, param)


def _leaf(raw: dict[str, Any], param: str) -> Predicate:
    unknown = sorted(set(raw) - _LEAF_KEYS)
    if unknown:
        raise ParamError(param, f"unknown condition key '{unknown[0]}'")
    op = raw.get("op")
    if op not in OPERATORS:
        raise ParamError(param, f"'op' must be one of {', '.join(OPERATORS)}, got {op!r}")
    get: Callable[[Any], Any] | None = None
    if "field" in raw:
        try:
            get = compile_getter(parse_path(raw["field"]))
        except PathError as exc:
            raise ParamError(f"{param}.field", str(exc)) from None
    test = _test(op, raw, param)
    if get is None:
        return lambda value, subject: test(value)
    getter = get
    return lambda value, subject: test(getter(subject))


def _need(raw: dict[str, Any], key: str, param: str, op: str) -> Any:
    if key not in raw:
        raise ParamError(param, f"'{op}' needs '{key}'")
    return raw[key]


def _test(op: str, raw: dict[str, Any], param: str) -> Callable[[Any], bool]:
    if op == "exists":
        return lambda v: v is not None
    if op == "empty":
        return lambda v: v is None or v in ("", [], {})
    if op in ("equals", "not_equals"):
        expected = _need(raw, "value", param, op)
        if op == "equals":
            return lambda v: (v == expected and type(v) is type(expected)) or _num_eq(v, expected)
        return lambda v: not ((v == expected and type(v) is type(expected)) or _num_eq(v, expected))
    if op in ("in", "not_in"):
        values = _need(raw, "values", param, op)
        if not isinstance(values, list):
            raise ParamError(param, f"'{op}' needs 'values' as an array")
        fast = frozenset(v for v in values if _hashable(v) and not isinstance(v, bool))
        slow = [v for v in values if not (_hashable(v) and not isinstance(v, bool))]

        def member(v: Any) -> bool:
            if _hashable(v) and not isinstance(v, bool) and v in fast:
                return True
            return any(v == s and type(v) is type(s) for s in slow)

        return member if op == "in" else (lambda v: not member(v))
    if op == "contains":
        needle = _need(raw, "value", param, op)

        def contains(v: Any) -> bool:
            if isinstance(v, str):
                return isinstance(needle, str) and needle in v
            if isinstance(v, list):
                return needle in v
            if isinstance(v, dict):
                return isinstance(needle, str) and needle in v
            return False

        return contains
    if op in ("starts_with", "ends_with"):
        affix = _need(raw, "value", param, op)
        if not isinstance(affix, str):
            raise ParamError(param, f"'{op}' needs a string 'value'")
        if op == "starts_with":
            return lambda v: isinstance(v, str) and v.startswith(affix)
        return lambda v: isinstance(v, str) and v.endswith(affix)
    if op == "regex":
        ignore_case = raw.get("ignore_case", False)
        if not isinstance(ignore_case, bool):
            raise ParamError(param, "'ignore_case' must be a boolean")
        pattern = compile_guarded(
            _need(raw, "pattern", param, op), ignore_case=ignore_case, param=f"{param}.pattern"
        )
        return lambda v: isinstance(v, str) and len(v) <= MAX_INPUT and bool(pattern.search(v))
    compare = _COMPARE[op]
    bound = _number(_need(raw, "value", param, op))
    if bound is None:
        raise ParamError(param, f"'{op}' needs a numeric 'value'")
    limit = bound

    def numeric(v: Any) -> bool:
        number = _number(v)
        return number is not None and compare(number, limit)

    return numeric


def _num_eq(a: Any, b: Any) -> bool:
    """1 equals 1.0, but True never equals 1."""
    return (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )
