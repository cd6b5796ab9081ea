"""Per-field validation: explicit rules merged with what the target schema says.

Compiled once to one ``check(value) -> message | None`` closure per field. The target schema
contributes its type, enum, bounds, lengths, pattern and ``date-time`` format; an explicit rule
overrides the schema's for the same check.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable
from typing import Any

from server.mapping.errors import ParamError
from server.mapping.model import ValidationRules
from server.mapping.regex_guard import MAX_INPUT, compile_guarded
from server.mapping.valuetypes import json_type_name

Check = Callable[[Any], str | None]

_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _is_datetime_text(v: Any) -> bool:
    """ISO 8601 with a zone (3.11's fromisoformat reads 'Z'); a dict of length > 64 is not."""
    if type(v) is str:
        if len(v) > 64:
            return False
        try:
            return dt.datetime.fromisoformat(v).tzinfo is not None
        except ValueError:
            return False
    return isinstance(v, dt.datetime)


def compile_check(
    rules: ValidationRules, schema: dict[str, Any] | None = None, *, required: bool = False
) -> Check | None:
    """The check for one field, or None when nothing is to be checked.

    ``required`` comes from the target schema's ``required`` list; ``rules.required`` adds to it.
    Raises ParamError (param = the rule's name) for rules that cannot work.
    """
    return compile_check_fast(rules, schema, required=required)[1]


def compile_check_fast(
    rules: ValidationRules, schema: dict[str, Any] | None = None, *, required: bool = False
) -> tuple[frozenset[type], Check | None]:
    """``compile_check`` plus the exact value types that pass without calling the check.

    The engine tests ``type(value) in passing`` inline and calls the check only otherwise:
    for the common type-only fields that saves a call per field per record.
    """
    node = schema if isinstance(schema, dict) else {}
    must = rules.required or required
    format_check = _format_check(rules, node)
    pattern_check = _pattern_check(rules, node)
    others = tuple(
        c
        for c in (
            format_check,
            _enum_check(rules, node),
            _range_check(rules, node),
            _length_check(rules, node),
            pattern_check,
        )
        if c is not None
    )
    types = _declared_types(rules, node)
    type_check = _type_check(types)
    # Fast path: JSON values are exact builtin types, so one set lookup settles the type check.
    fast = frozenset(t for name in types for t in _EXACT.get(name, ()))
    if type_check is None and not others and not must:
        return frozenset(), None

    def check(v: Any) -> str | None:
        if v is None:
            return "is required" if must else None
        if must and v == "":
            return "is required (empty string)"
        if type(v) not in fast and type_check is not None:
            message = type_check(v)
            if message is not None:
                return message
        for c in others:
            message = c(v)
            if message is not None:
                return message
        return None

    if others or must:
        if others == (format_check,) and (not types or "string" in types):
            # For the generated mapping function: the ISO text of an aware date-time passes.
            check.iso_passing = True  # type: ignore[attr-defined]
        if (others and format_check is None and pattern_check is None
                and (not types or "string" in types)):
            # For the generated mapping function: a string within these lengths (and in
            # the enum's strings) passes every check here (a range judges numbers only).
            low, high = _length_bounds(rules, node)
            check.str_passing = (  # type: ignore[attr-defined]
                max(low or 0, 1 if must else 0), sys.maxsize if high is None else high,
                _enum_strings(rules, node))
        if must and not others and fast:
            # For the generated mapping function: a truthy value of these types passes (it is
            # neither null nor "", and its type needs no closer look) without the call.
            check.truthy_passing = fast  # type: ignore[attr-defined]
        return frozenset(), check

    def type_only(v: Any) -> str | None:
        if v is None or type(v) in fast:
            return None
        return type_check(v) if type_check is not None else None

    return fast | {type(None)}, type_only


_EXACT: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _declared_types(rules: ValidationRules, node: dict[str, Any]) -> list[str]:
    declared = node.get("type")
    if rules.type is not None:
        types = ["string"] if rules.type == "date-time" else [rules.type]
    elif isinstance(declared, str):
        types = [declared]
    elif isinstance(declared, list):
        types = [t for t in declared if t in _TYPE_TESTS]
    else:
        types = []
    return [t for t in types if t != "null"]


def _type_check(types: list[str]) -> Check | None:
    if not types:
        return None
    tests = tuple(_TYPE_TESTS[t] for t in types)
    wanted = " or ".join(types)
    datetime_ok = "string" in types

    def type_check(v: Any) -> str | None:
        if datetime_ok and isinstance(v, dt.datetime):
            return None
        for test in tests:
            if test(v):
                return None
        return f"must be {wanted}, got {json_type_name(v)}"

    return type_check


def _format_check(rules: ValidationRules, node: dict[str, Any]) -> Check | None:
    if rules.type == "date-time" or (rules.type is None and node.get("format") == "date-time"):

        def format_check(v: Any) -> str | None:
            if _is_datetime_text(v):
                return None
            return "must be an ISO 8601 date-time with a time zone"

        return format_check
    return None


def _enum_check(rules: ValidationRules, node: dict[str, Any]) -> Check | None:
    enum = rules.enum if rules.enum is not None else node.get("enum")
    if not isinstance(enum, list):
        return None
    allowed = [e for e in enum if e is not None]
    shown = ", ".join(repr(e) for e in allowed[:10]) + (" ..." if len(allowed) > 10 else "")
    if all(isinstance(e, str | int | float | bool) for e in allowed):
        allowed_set = frozenset((type(e), e) for e in allowed)

        def enum_check(v: Any) -> str | None:
            try:
                ok = (type(v), v) in allowed_set
            except TypeError:  # unhashable value: a list or object is never in the enum
                ok = False
            return None if ok else f"must be one of {shown}"

        return enum_check
    return lambda v: None if any(v == e and type(v) is type(e) for e in allowed) else (
        f"must be one of {shown}"
    )


def _range_check(rules: ValidationRules, node: dict[str, Any]) -> Check | None:
    low = rules.minimum if rules.minimum is not None else node.get("minimum")
    high = rules.maximum if rules.maximum is not None else node.get("maximum")
    if low is not None and high is not None and low > high:
        raise ParamError("minimum", f"minimum {low} is above maximum {high}")
    if low is None and high is None:
        return None

    def range_check(v: Any) -> str | None:
        if not isinstance(v, int | float) or isinstance(v, bool):
            return None  # the type check reports non-numbers
        if low is not None and v < low:
            return f"must be at least {low}"
        if high is not None and v > high:
            return f"must be at most {high}"
        return None

    return range_check


def _enum_strings(rules: ValidationRules, node: dict[str, Any]) -> frozenset[str] | None:
    """The enum's strings (a string passes ``_enum_check`` iff it is one), None if no enum."""
    enum = rules.enum if rules.enum is not None else node.get("enum")
    if not isinstance(enum, list):
        return None
    return frozenset(e for e in enum if type(e) is str)


def _length_bounds(rules: ValidationRules, node: dict[str, Any]) -> tuple[Any, Any]:
    low = rules.min_length
    if low is None:
        low = node.get("minLength", node.get("minItems"))
    high = rules.max_length
    if high is None:
        high = node.get("maxLength", node.get("maxItems"))
    return low, high


def _length_check(rules: ValidationRules, node: dict[str, Any]) -> Check | None:
    low, high = _length_bounds(rules, node)
    if low is not None and high is not None and low > high:
        raise ParamError("min_length", f"min_length {low} is above max_length {high}")
    if low is None and high is None:
        return None

    def length_check(v: Any) -> str | None:
        if not isinstance(v, str | list):
            return None
        if low is not None and len(v) < low:
            return f"must have at least {low} characters/items"
        if high is not None and len(v) > high:
            return f"must have at most {high} characters/items"
        return None

    return length_check


def _pattern_check(rules: ValidationRules, node: dict[str, Any]) -> Check | None:
    text = rules.pattern if rules.pattern is not None else node.get("pattern")
    if text is None:
        return None
    pattern: re.Pattern[str] = compile_guarded(text, param="pattern")
    shown = repr(pattern.pattern[:60])

    def pattern_check(v: Any) -> str | None:
        if not isinstance(v, str):
            return None
        if len(v) > MAX_INPUT or pattern.search(v) is None:
            return f"does not match the pattern {shown}"
        return None

    return pattern_check
