"""Compile lists of steps into one ``StepFn`` (done once per mapping, never per record)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from server.mapping import functions as _functions  # noqa: F401 - registers the built-ins
from server.mapping.conditions import compile_condition
from server.mapping.errors import ParamError
from server.mapping.functions.registry import (
    FunctionSpec,
    Predicate,
    StepFn,
    check_params,
    get_function,
)
from server.mapping.model import Step
from server.mapping.paths import PathError, compile_getter, parse_path
from server.mapping.sandbox import find_unsafe, scan

MAX_NESTING = 10


class StepCompileError(ValueError):
    """A step that cannot be compiled; ``index`` is its position, ``code`` the Problem code."""

    def __init__(self, index: int, function: str, code: str, message: str) -> None:
        super().__init__(f"step {index + 1} ({function}): {message}")
        self.index = index
        self.function = function
        self.code = code


class _Context:
    """The ``CompileContext`` handed to factories; tracks nesting depth."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def steps(self, raw: Any, param: str) -> StepFn:
        if self.depth >= MAX_NESTING:
            raise ParamError(param, f"steps nest deeper than {MAX_NESTING} levels")
        if not isinstance(raw, list):
            raise ParamError(param, "must be an array of steps")
        try:
            parsed = [Step.model_validate(item) for item in raw]
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ParamError(param, f"invalid step ({where}: {first['msg']})") from None
        try:
            return compile_steps(parsed, depth=self.depth + 1)
        except StepCompileError as exc:
            raise ParamError(param, str(exc), code=exc.code) from None

    def condition(self, raw: Any, param: str) -> Predicate:
        return compile_condition(raw, param)

    def getter(self, raw: Any, param: str) -> Callable[[Any], Any]:
        try:
            return compile_getter(parse_path(raw))
        except PathError as exc:
            raise ParamError(param, str(exc)) from None


def compile_step(step: Step, index: int = 0, depth: int = 0) -> tuple[StepFn, FunctionSpec]:
    """Compile one step; StepCompileError says which step and why."""
    if find_unsafe(step.function):
        raise StepCompileError(index, step.function[:40], "unsafe",
                               "the function name names Python internals")
    spec = get_function(step.function)
    if spec is None:
        raise StepCompileError(index, step.function, "unknown_function",
                               f"unknown function '{step.function}'")
    unsafe = scan(step.params, "params")
    if unsafe is not None:
        where, token = unsafe
        raise StepCompileError(index, step.function, "unsafe",
                               f"'{token}' is not allowed ({where})")
    try:
        params = check_params(spec, step.params)
        fn = spec.factory(params, _Context(depth))
    except ParamError as exc:
        raise StepCompileError(index, step.function, exc.code, str(exc)) from None
    return fn, spec


def compile_steps(steps: Sequence[Step], depth: int = 0) -> StepFn:
    """One function running ``steps`` in order; null skips steps that do not accept it."""
    compiled = [compile_step(s, i, depth) for i, s in enumerate(steps)]
    return chain([(fn, spec.accepts_null) for fn, spec in compiled])


def _identity(value: Any, record: Any) -> Any:
    return value


def chain(fns: Sequence[tuple[StepFn, bool]]) -> StepFn:
    if not fns:
        return _identity
    if len(fns) == 1:
        fn, accepts_null = fns[0]
        if accepts_null:
            return fn
        return lambda value, record: None if value is None else fn(value, record)
    items = tuple(fns)

    def run(value: Any, record: Any) -> Any:
        for fn, accepts_null in items:
            if value is None and not accepts_null:
                continue
            value = fn(value, record)
        return value

    return run


def to_json_value(value: Any) -> Any:
    """Write datetimes (also inside arrays and objects) as ISO 8601 text."""
    kind = type(value)
    if kind is dt.datetime:  # exact types first: this runs per record for date fields
        return value.isoformat()
    if kind is str or value is None:
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    return value
