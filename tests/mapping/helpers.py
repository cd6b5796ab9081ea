"""Helpers for the mapping tests: build one-field mappings and run them."""

from __future__ import annotations

from typing import Any

from server.mapping import MappingSpec, compile_mapping


def one_field(steps: list[Any], source: Any = "v", **field: Any) -> MappingSpec:
    """A mapping with a free target schema and one field ``out`` read from ``source``."""
    return MappingSpec.model_validate({
        "name": "t",
        "source": "test.stream",
        "target": "thing",
        "target_schema": {"type": "object"},
        "fields": [{"target": "out", "source": source, "steps": steps, **field}],
    })


def run(steps: list[Any], value: Any, **field: Any) -> Any:
    """Map ``{"v": value}`` through ``steps``; return the output value or raise with errors."""
    result = compile_mapping(one_field(steps, **field)).apply({"v": value})
    if result.output is None:
        raise AssertionError(f"unexpected errors: {result.errors}")
    return result.output["out"]


def fail(steps: list[Any], value: Any, **field: Any) -> str:
    """Map ``{"v": value}`` expecting a field error; return its message."""
    result = compile_mapping(one_field(steps, **field)).apply({"v": value})
    assert result.output is None, result.output
    assert [e.field for e in result.errors] == ["out"]
    return result.errors[0].message
