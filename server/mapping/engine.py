"""The mapping engine: compile a mapping once, apply it to many records.

Hot path (the sync engine calls ``apply`` per record): paths are pre-parsed into specialised
getters, steps into closures, checks into one function per field; no pydantic validation and no
schema walking per record. ``apply`` never raises for any JSON record: every failure comes back
as a ``FieldError`` and the record's ``output`` is then None (send it to the dead-letter table).

    compiled = compile_mapping(spec)            # MappingCompileError lists the problems
    result = compiled.apply({"id": 7, ...})
    if result.output is None:
        dead_letter(record, result.errors)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from server.mapping.errors import (
    FieldError,
    MappingCompileError,
    Problem,
    StepError,
    preview,
)
from server.mapping.model import MappingSpec
from server.mapping.paths import compile_setter
from server.mapping.steps import to_json_value
from server.mapping.validate import analyse

# Exceptions a step may raise on odd data beyond StepError; they become FieldErrors too (a
# record must never stop a sync), with the exception type but never the value in the message.
_DATA_FAILURES = (
    TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError,
    RecursionError, UnicodeError,
)


@dataclass(slots=True)
class MappingResult:
    """The mapped record (None when any field failed) and the errors per field."""

    output: dict[str, Any] | None
    errors: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.output is not None


class RecordTestResult(BaseModel):
    """One sample record's outcome, for ``test_mapping`` and the designer's preview."""

    model_config = ConfigDict(frozen=True)

    index: int
    output: dict[str, Any] | None
    errors: list[FieldError]


class CompiledMapping:
    """A mapping ready to run. Immutable and thread-safe: share one across workers."""

    __slots__ = ("_broken", "_fields", "direction", "fingerprint", "name", "problems",
                 "source", "spec", "target", "version")

    def __init__(self, spec: MappingSpec, *, strict: bool = True,
                 target_schema: dict[str, Any] | None = None) -> None:
        analysis = analyse(spec, target_schema)
        errors = [p for p in analysis.problems if p.severity == "error"]
        if strict and errors:
            raise MappingCompileError(errors)
        self.spec = spec
        self.name = spec.name
        self.version = spec.version
        self.fingerprint = spec.fingerprint()
        self.direction = spec.direction
        self.source = spec.source
        self.target = spec.target
        self.problems: list[Problem] = analysis.problems
        self._broken = tuple(analysis.broken.items())
        fields = []
        for plan in analysis.plans:
            key = plan.keys[0] if len(plan.keys) == 1 else None
            setter = compile_setter(plan.keys)
            get, run = plan.getter, plan.run
            if run is None:
                compute = get
            elif plan.finalize:
                compute = _finalizing(get, run)
            else:
                compute = _composed(get, run)
            fields.append((plan.target, key, setter, compute, plan.check, plan.secret, get))
        self._fields = tuple(fields)

    def apply(self, record: Any) -> MappingResult:
        """Map one source record; never raises for JSON input."""
        if type(record) is not dict:
            return MappingResult(None, [FieldError(
                field="$", message=f"a record must be a JSON object, got {type(record).__name__}",
                value_preview=None)])
        out: dict[str, Any] = {}
        errors: list[FieldError] | None = None
        for target, key, setter, compute, check, secret, get in self._fields:
            try:
                value = compute(record)
            except StepError as exc:
                errors = errors or []
                errors.append(_error(target, str(exc), get, record, secret))
                continue
            except _DATA_FAILURES as exc:
                errors = errors or []
                errors.append(_error(target, f"cannot transform the value ({type(exc).__name__})",
                                     get, record, secret))
                continue
            if check is not None:
                message = check(value)
                if message is not None:
                    errors = errors or []
                    errors.append(FieldError(field=target, message=message,
                                             value_preview=preview(value, secret=secret)))
                    continue
            if key is not None:
                out[key] = value
            else:
                setter(out, value)
        if self._broken:
            errors = errors or []
            errors.extend(FieldError(field=t, message=f"not compiled: {why}")
                          for t, why in self._broken)
        if errors:
            return MappingResult(None, errors)
        return MappingResult(out, [])

    def apply_many(self, records: Iterable[Any]) -> list[MappingResult]:
        apply = self.apply
        return [apply(r) for r in records]

    def __repr__(self) -> str:
        return f"CompiledMapping({self.name!r}, version={self.version}, fields={len(self._fields)})"


def _composed(get: Any, run: Any) -> Any:
    return lambda record: run(get(record), record)


def _finalizing(get: Any, run: Any) -> Any:
    return lambda record: to_json_value(run(get(record), record))


def _error(target: str, message: str, get: Any, record: dict[str, Any], secret: bool) -> FieldError:
    try:
        source_value = get(record)
    except _DATA_FAILURES:
        source_value = None
    shown = preview(source_value, secret=secret)
    return FieldError(field=target, message=message, value_preview=shown)


def compile_mapping(
    mapping: MappingSpec, *, strict: bool = True, target_schema: dict[str, Any] | None = None
) -> CompiledMapping:
    """Compile ``mapping`` for execution.

    With ``strict`` (the default, for syncs) any error-level problem raises
    ``MappingCompileError``; otherwise fields that cannot compile are reported as a FieldError
    on every record (the designer's preview).
    """
    return CompiledMapping(mapping, strict=strict, target_schema=target_schema)


def test_mapping(
    mapping: MappingSpec,
    sample_records: Sequence[Any],
    *,
    target_schema: dict[str, Any] | None = None,  # noqa: PT028 - engine API, not a pytest test
) -> list[RecordTestResult]:
    """Apply ``mapping`` to sample records: each record's output and its errors per field.

    Never raises for a mapping that parsed: fields that do not compile show up as FieldErrors.
    """
    compiled = CompiledMapping(mapping, strict=False, target_schema=target_schema)
    return [
        RecordTestResult(index=i, output=r.output, errors=r.errors)
        for i, r in enumerate(compiled.apply_many(sample_records))
    ]


test_mapping.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
