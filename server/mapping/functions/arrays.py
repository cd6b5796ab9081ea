"""Array functions: map, filter, first, last, unique, length."""

from __future__ import annotations

import json
from typing import Any

from server.mapping.functions.registry import (
    CompileContext,
    ParamSpec,
    StepFn,
    register,
    require_list,
)

_WHERE = ParamSpec("where", "condition", description="Keep elements matching this condition "
                   "(fields in it are read from each element).")


@register("map", category="array", input=("array",), output="array",
          params=[ParamSpec("steps", "steps", required=True,
                            description="Steps applied to each element.")],
          description="Apply steps to every element of an array.")
def map_(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    steps = ctx.steps(params["steps"], "steps")
    return lambda value, record: [steps(x, record) for x in require_list(value, "map")]


@register("filter", category="array", input=("array",), output="array",
          params=[ParamSpec("where", "condition", required=True, description=_WHERE.description)],
          description="Keep the elements of an array that match a condition.")
def filter_(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    where = ctx.condition(params["where"], "where")
    return lambda value, record: [x for x in require_list(value, "filter") if where(x, x)]


@register("first", category="array", input=("array",), output="any", params=[_WHERE],
          description="The first element (matching the condition, if given); null if none.")
def first(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    if params["where"] is None:
        return lambda value, record: next(iter(require_list(value, "first")), None)
    where = ctx.condition(params["where"], "where")
    return lambda value, record: next(
        (x for x in require_list(value, "first") if where(x, x)), None
    )


@register("last", category="array", input=("array",), output="any",
          description="The last element; null if the array is empty.")
def last(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    def run(value: Any, record: Any) -> Any:
        items = require_list(value, "last")
        return items[-1] if items else None

    return run


def _key(item: Any) -> Any:
    if isinstance(item, dict | list):
        return json.dumps(item, sort_keys=True, default=str)
    return (type(item).__name__, item)


@register("unique", category="array", input=("array",), output="array",
          description="Drop repeated elements, keeping the first of each.")
def unique(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    def run(value: Any, record: Any) -> list[Any]:
        seen: set[Any] = set()
        out: list[Any] = []
        for item in require_list(value, "unique"):
            key = _key(item)
            if key not in seen:
                seen.add(key)
                out.append(item)
        return out

    return run


@register("length", category="array", input=("array", "string", "object"), output="integer",
          description="Number of elements (or characters, or keys).")
def length(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    def run(value: Any, record: Any) -> int:
        if isinstance(value, list | str | dict):
            return len(value)
        require_list(value, "length")
        return 0

    return run
