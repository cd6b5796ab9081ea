"""Subscription filter criteria: conditions on event fields combined with and / or / not.

A filter is JSON. ``{}`` matches every event. A condition names a dotted path into the event
envelope (``type``, ``instance_id``, ``occurred_at``, ``data.…``), an operator and a value::

    {"and": [
        {"field": "data.status", "op": "equals", "value": "failed"},
        {"or": [
            {"field": "data.stats.failed", "op": "gt", "value": 10},
            {"field": "data.connector", "op": "in", "value": ["aws", "github"]}
        ]},
        {"not": {"field": "data.instance", "op": "regex", "value": "^test-"}}
    ]}

Operators: ``equals``, ``not_equals``, ``in``, ``contains`` (substring of a string, member
of a list), ``regex`` (search, guarded against catastrophic backtracking), ``gt``, ``gte``,
``lt``, ``lte`` (numbers only), ``exists`` (value true/false). A missing field matches
nothing but ``exists: false`` and ``not_equals``.

>>> match({"field": "data.n", "op": "gte", "value": 3}, {"data": {"n": 5}})
True
"""

from __future__ import annotations

import re
from typing import Any

from server.mapping.errors import ParamError
from server.mapping.regex_guard import MAX_INPUT, compile_guarded

OPERATORS = ("equals", "not_equals", "in", "contains", "regex", "gt", "gte", "lt", "lte",
             "exists")
NUMERIC = ("gt", "gte", "lt", "lte")
MAX_DEPTH = 8
MAX_CONDITIONS = 100
_MISSING = object()
#: What :func:`resolve` returns for a path that leads nowhere.
MISSING = _MISSING


class FilterError(ValueError):
    """Invalid criteria; ``errors`` are (field path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


def validate(criteria: Any, root: str = "filter_criteria") -> None:
    """Raise :class:`FilterError` naming each bad part of ``criteria``."""
    errors: list[tuple[str, str]] = []
    count = [0]
    _check(criteria, root, 0, errors, count)
    if count[0] > MAX_CONDITIONS:
        errors.append((root, f"has more than {MAX_CONDITIONS} conditions"))
    if errors:
        raise FilterError(errors)


def _check(node: Any, path: str, depth: int, errors: list[tuple[str, str]],
           count: list[int]) -> None:
    if not isinstance(node, dict):
        errors.append((path, "must be an object (a condition, or and/or/not)"))
        return
    if depth > MAX_DEPTH:
        errors.append((path, f"nests deeper than {MAX_DEPTH} levels"))
        return
    if not node and depth == 0:
        return  # {} matches everything
    groups = [k for k in ("and", "or") if k in node]
    if groups or "not" in node:
        extra = set(node) - {"and", "or", "not"}
        if len(node) != 1 or extra:
            errors.append((path, "a group has exactly one key: and, or or not"))
            return
        if "not" in node:
            _check(node["not"], f"{path}.not", depth + 1, errors, count)
            return
        key = groups[0]
        items = node[key]
        if not isinstance(items, list) or not items:
            errors.append((f"{path}.{key}", "must be a non-empty list of conditions"))
            return
        for i, item in enumerate(items):
            _check(item, f"{path}.{key}.{i}", depth + 1, errors, count)
        return
    count[0] += 1
    unknown = set(node) - {"field", "op", "value"}
    if unknown:
        errors.append((path, f"unknown key(s): {', '.join(sorted(unknown))}; a condition has "
                             "field, op and value"))
    field = node.get("field")
    if not isinstance(field, str) or not field or len(field) > 200:
        errors.append((f"{path}.field", "required: a dotted path such as data.status"))
    op = node.get("op")
    if op not in OPERATORS:
        errors.append((f"{path}.op", f"must be one of: {', '.join(OPERATORS)}"))
        return
    if "value" not in node:
        errors.append((f"{path}.value", "required"))
        return
    value = node["value"]
    if op in NUMERIC and (isinstance(value, bool) or not isinstance(value, int | float)):
        errors.append((f"{path}.value", f"{op} compares numbers: give a number"))
    elif op == "in" and not isinstance(value, list):
        errors.append((f"{path}.value", "in needs a list of values"))
    elif op == "exists" and not isinstance(value, bool):
        errors.append((f"{path}.value", "exists needs true or false"))
    elif op == "regex":
        try:
            compile_guarded(value, param=f"{path}.value")
        except ParamError as exc:
            errors.append((f"{path}.value", str(exc).split(": ", 1)[-1]))


def resolve(document: Any, path: str) -> Any:
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def match(criteria: dict[str, Any], document: dict[str, Any]) -> bool:
    """Does ``document`` (an event envelope) satisfy validated ``criteria``?"""
    if not criteria:
        return True
    if "and" in criteria:
        return all(match(c, document) for c in criteria["and"])
    if "or" in criteria:
        return any(match(c, document) for c in criteria["or"])
    if "not" in criteria:
        return not match(criteria["not"], document)
    return _condition(criteria, document)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _condition(cond: dict[str, Any], document: dict[str, Any]) -> bool:
    op, expected = cond["op"], cond["value"]
    actual = resolve(document, cond["field"])
    if op == "exists":
        return (actual is not _MISSING) is bool(expected)
    if actual is _MISSING:
        return bool(op == "not_equals")
    if op == "equals":
        return bool(actual == expected)
    if op == "not_equals":
        return bool(actual != expected)
    if op == "in":
        return bool(actual in expected)
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        return isinstance(actual, list) and expected in actual
    if op == "regex":
        if not isinstance(actual, str):
            return False
        return re.search(compile_guarded(expected), actual[:MAX_INPUT]) is not None
    number = _number(actual)
    if number is None:
        return False
    limit = float(expected)
    return {"gt": number > limit, "gte": number >= limit, "lt": number < limit,
            "lte": number <= limit}[op]
