"""The small type vocabulary shared by functions, validation rules and schema checks.

Types are JSON types plus ``datetime`` (what ``parse_datetime`` produces; written out as an ISO
8601 string) and ``any``. ``integer`` is a kind of ``number``; a ``datetime`` fits a ``string``
target. Used at design time (``validate_mapping``) and in error messages.
"""

from __future__ import annotations

from typing import Any

from connectors.sdk.schema import json_type

TypeSet = frozenset[str]

ANY: TypeSet = frozenset({"any"})


def types_of(*names: str) -> TypeSet:
    return frozenset(names)


def schema_types(schema: dict[str, Any] | None) -> TypeSet:
    """The value types a JSON Schema node admits (``any`` when it does not say)."""
    if not isinstance(schema, dict):
        return ANY
    declared = schema.get("type")
    names: set[str] = set()
    if isinstance(declared, str):
        names.add(declared)
    elif isinstance(declared, list):
        names.update(t for t in declared if isinstance(t, str))
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            names.update(schema_types(sub))
    if not names:
        return ANY
    return frozenset(names)


def widen(types: TypeSet) -> TypeSet:
    """Add the types a value of ``types`` is also acceptable as (integer -> number, ...)."""
    out = set(types)
    if "integer" in out:
        out.add("number")
    if "datetime" in out:
        out.add("string")
    return frozenset(out)


def compatible(produced: TypeSet, accepted: TypeSet) -> bool:
    """Whether some non-null value of ``produced`` types can satisfy ``accepted``."""
    if "any" in produced or "any" in accepted:
        return True
    real = produced - {"null"}
    if not real:
        return True  # only null flows: required-ness is checked elsewhere
    return bool(widen(real) & (accepted | ({"string"} if "datetime" in accepted else set())))


def describe(types: TypeSet) -> str:
    return " or ".join(sorted(types))


#: The JSON type name of a Python value (for error messages): the SDK's, one definition.
json_type_name = json_type
