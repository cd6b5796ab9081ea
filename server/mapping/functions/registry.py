"""The registry of transformation functions: each declares its signature for the designer.

A function is registered with a factory: ``factory(params, ctx) -> StepFn``. The factory runs
once, at compile time, with parameters already checked against the declared ``ParamSpec``s; the
returned ``StepFn(value, record)`` runs per record and raises ``StepError`` for data it cannot
handle. Null input skips a step unless the function declares ``accepts_null`` (``default``,
``coalesce``, ``constant``, ``if`` ...), so most functions never see ``None``.

Example::

    @register("upper", category="text", input=("string",), output="string",
              description="Upper-case a string.")
    def upper(params, ctx):
        return lambda value, record: require_str(value, "upper").upper()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from server.mapping.errors import ParamError, StepError
from server.mapping.valuetypes import json_type_name

StepFn = Callable[[Any, Any], Any]
Predicate = Callable[[Any, Any], bool]
ParamType = Literal[
    "any",
    "string",
    "integer",
    "number",
    "boolean",
    "array",
    "object",
    "string_list",
    "regex",
    "timezone",
    "expression",
    "condition",
    "steps",
    "path",
]
_MISSING: Any = object()


class CompileContext(Protocol):
    """What a factory may compile: nested steps, conditions and paths."""

    def steps(self, raw: Any, param: str) -> StepFn: ...

    def condition(self, raw: Any, param: str) -> Predicate: ...

    def getter(self, raw: Any, param: str) -> Callable[[Any], Any]: ...


Factory = Callable[[dict[str, Any], CompileContext], StepFn]


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: ParamType
    required: bool = False
    default: Any = None
    description: str = ""
    choices: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    category: str
    description: str
    params: tuple[ParamSpec, ...]
    input_types: frozenset[str]
    output_type: str  # a value type, or "same" when the output has the input's type
    accepts_null: bool
    factory: Factory = field(repr=False)


class ParamInfo(BaseModel):
    """A parameter as the designer lists it."""

    model_config = ConfigDict(frozen=True)
    name: str
    type: str
    required: bool
    default: Any = None
    description: str = ""
    choices: list[Any] | None = None


class FunctionInfo(BaseModel):
    """A function as the designer lists it (JSON-serialisable)."""

    model_config = ConfigDict(frozen=True)
    name: str
    category: str
    description: str
    params: list[ParamInfo]
    input_types: list[str]
    output_type: str
    accepts_null: bool


_REGISTRY: dict[str, FunctionSpec] = {}


def register(
    name: str,
    *,
    category: str,
    input: Sequence[str],
    output: str,
    description: str,
    params: Sequence[ParamSpec] = (),
    accepts_null: bool = False,
) -> Callable[[Factory], Factory]:
    """Register a factory under ``name`` with its declared signature."""

    def decorate(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise RuntimeError(f"transformation function '{name}' is registered twice")
        _REGISTRY[name] = FunctionSpec(
            name=name,
            category=category,
            description=description,
            params=tuple(params),
            input_types=frozenset(input),
            output_type=output,
            accepts_null=accepts_null,
            factory=factory,
        )
        return factory

    return decorate


def get_function(name: str) -> FunctionSpec | None:
    return _REGISTRY.get(name)


def function_names() -> list[str]:
    return sorted(_REGISTRY)


def list_functions() -> list[FunctionInfo]:
    """Every registered function with its signature, sorted by category then name."""
    return [
        FunctionInfo(
            name=spec.name,
            category=spec.category,
            description=spec.description,
            params=[
                ParamInfo(
                    name=p.name,
                    type=p.type,
                    required=p.required,
                    default=p.default,
                    description=p.description,
                    choices=list(p.choices) if p.choices is not None else None,
                )
                for p in spec.params
            ],
            input_types=sorted(spec.input_types),
            output_type=spec.output_type,
            accepts_null=spec.accepts_null,
        )
        for spec in sorted(_REGISTRY.values(), key=lambda s: (s.category, s.name))
    ]


_SIMPLE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "string_list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "regex": lambda v: isinstance(v, str),
    "timezone": lambda v: isinstance(v, str),
    "expression": lambda v: isinstance(v, str),
    "path": lambda v: isinstance(v, str),
}


def check_params(spec: FunctionSpec, raw: dict[str, Any]) -> dict[str, Any]:
    """Declared parameters with defaults filled in; ParamError for unknown, missing or mistyped.

    Structured types (regex, timezone, expression, condition, steps, path) are only checked for
    shape here; their factories compile them and raise ParamError with the reason.
    """
    if not isinstance(raw, dict):
        raise ParamError("", "params must be an object")
    known = {p.name: p for p in spec.params}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        expected = ", ".join(known) or "none"
        raise ParamError(unknown[0], f"unknown parameter (expected one of: {expected})")
    out: dict[str, Any] = {}
    for p in spec.params:
        value = raw.get(p.name, _MISSING)
        if value is _MISSING:
            if p.required:
                raise ParamError(p.name, "is required")
            out[p.name] = p.default
            continue
        check = _SIMPLE_CHECKS.get(p.type)
        null_ok = value is None and p.default is None and not p.required
        if check is not None and not null_ok and not check(value):
            wanted = p.type.replace("_", " of ")
            raise ParamError(p.name, f"must be {wanted}, got {json_type_name(value)}")
        if p.choices is not None and value not in p.choices:
            choices = ", ".join(repr(c) for c in p.choices)
            raise ParamError(p.name, f"must be one of {choices}, got {value!r}")
        out[p.name] = value
    return out


def require_str(value: Any, fn: str) -> str:
    if not isinstance(value, str):
        raise StepError(f"{fn} expects a string, got {json_type_name(value)}")
    return value


def require_list(value: Any, fn: str) -> list[Any]:
    if not isinstance(value, list):
        raise StepError(f"{fn} expects an array, got {json_type_name(value)}")
    return value
