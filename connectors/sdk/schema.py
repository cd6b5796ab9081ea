"""JSON Schema helpers: infer a stream's schema from sample records, validate records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema
from jsonschema.validators import validator_for

__all__ = ["infer_schema", "json_type", "merge_types", "record_errors", "schema_errors"]

_ORDER = ("null", "boolean", "integer", "number", "string", "array", "object")


def json_type(value: Any, *, other: str | None = None) -> str:
    """The JSON type name of a Python value: null, boolean, integer, number, string, array,
    object; for a value JSON has no type for, ``other`` (default: the Python type's name)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return other if other is not None else type(value).__name__


def merge_types(types: Iterable[str]) -> list[str]:
    """Merge observed JSON types: integer+number is number; anything+string is string."""
    found = set(types)
    if {"integer", "number"} <= found:
        found.discard("integer")
    scalar = found - {"null"}
    if len(scalar) > 1 and "string" in scalar:
        found = {"string"} | (found & {"null"})
    return sorted(found, key=_ORDER.index) or ["null"]


def infer_schema(records: Iterable[Mapping[str, Any]], *, max_depth: int = 3) -> dict[str, Any]:
    """A permissive JSON Schema describing every record seen (fields may be missing or null).

    >>> infer_schema([{"id": 1, "name": "a"}, {"id": 2.5, "name": None}])["properties"]["id"]
    {'type': ['number']}
    """
    observed: dict[str, list[Any]] = {}
    for record in records:
        for key, value in record.items():
            observed.setdefault(key, []).append(value)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {key: _property(values, max_depth) for key, values in observed.items()},
    }


def _property(values: list[Any], depth: int) -> dict[str, Any]:
    types = merge_types(json_type(v, other="string") for v in values)
    prop: dict[str, Any] = {"type": types}
    if "object" in types and depth > 1:
        nested = infer_schema([v for v in values if isinstance(v, Mapping)], max_depth=depth - 1)
        prop["properties"] = nested["properties"]
    if "array" in types:
        items = [item for v in values if isinstance(v, list) for item in v]
        if items and all(not isinstance(i, (list, Mapping)) for i in items):
            prop["items"] = {"type": merge_types(json_type(i, other="string") for i in items)}
    return prop


def schema_errors(schema: Mapping[str, Any]) -> list[str]:
    """Problems that make ``schema`` an invalid JSON Schema (empty list if valid)."""
    cls = validator_for(schema)
    try:
        cls.check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        return [f"{where}: {exc.message}"]
    return []


def record_errors(schema: Mapping[str, Any], record: Mapping[str, Any]) -> list[str]:
    """Why ``record`` does not match ``schema``: field paths and rules, never values."""
    validator = validator_for(schema)(schema)
    problems = []
    for error in validator.iter_errors(record):
        where = ".".join(str(p) for p in error.absolute_path) or "(record)"
        problems.append(f"{where}: does not satisfy '{error.validator}' ({error.validator_value})")
    return problems
