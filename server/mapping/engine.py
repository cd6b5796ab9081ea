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

import sys
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from server.mapping.errors import (
    FieldError,
    MappingCompileError,
    Problem,
    StepError,
    preview,
    redact,
)
from server.mapping.functions.registry import StepFn
from server.mapping.model import MappingSpec
from server.mapping.paths import Getter, compile_setter
from server.mapping.steps import chain, to_json_value
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

    __slots__ = ("_broken", "_fast", "_fields", "_meta", "direction", "fingerprint", "name",
                 "problems", "source", "spec", "target", "version")

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
        fields: list[FieldRow] = []
        meta = {}
        iso_text: set[int] = set()
        inline: dict[int, Inline] = {}
        for plan in analysis.plans:
            key = plan.keys[0] if len(plan.keys) == 1 else None
            direct = plan.source_key if not plan.steps else None
            steps = plan.steps
            finalize = plan.finalize
            if steps and finalize:
                last, accepts_null = steps[-1]
                as_text = getattr(last, "iso_text", None)
                if as_text is not None:
                    # The last step is a parse_datetime: it writes its ISO text itself.
                    steps = [*steps[:-1], (as_text, accepts_null)]
                    finalize = False
                    iso_text.add(len(fields))
            compute = None if direct is not None else _compute(plan.getter, plan.source_key,
                                                                steps)
            if compute is not None and finalize:
                compute = _finalizing(compute)
            if compute is not None and 0 < len(steps) <= INLINE_STEPS:
                inline[len(fields)] = (plan.source_key, plan.getter, steps, finalize)
            fields.append((plan.target, key, direct, compute, plan.passing, plan.check))
            meta[plan.target] = (compile_setter(plan.keys), plan.getter, plan.secret)
        self._fields = tuple(fields)
        self._meta = meta
        self._fast = None if self._broken else _generate(self._fields, meta, iso_text, inline)

    def output(self, record: Any) -> dict[str, Any] | None:
        """The mapped record, or None when ``apply`` would report errors (the sync's hot path:
        a record that maps cleanly costs one generated function call, no result object)."""
        fast = self._fast
        if fast is not None and type(record) is dict:
            try:
                out: dict[str, Any] | None = fast(record)
            except _FAST_FAILURES:
                return None
            return out
        return self.apply(record).output

    def apply(self, record: Any) -> MappingResult:
        """Map one source record; never raises for JSON input."""
        fast = self._fast
        if fast is not None and type(record) is dict:
            try:
                mapped = fast(record)
            except _FAST_FAILURES:
                mapped = None
            if mapped is not None:
                return MappingResult(mapped, [])
        # Something failed (or cannot take the fast path): the field-by-field walk says what.
        if not isinstance(record, dict):
            return MappingResult(None, [FieldError(
                field="$", message=f"a record must be a JSON object, got {type(record).__name__}",
                value_preview=None)])
        out: dict[str, Any] = {}
        errors: list[FieldError] | None = None
        for target, key, direct, compute, passing, check in self._fields:
            if compute is None:
                value = record.get(direct)
            else:
                try:
                    value = compute(record)
                except StepError as exc:
                    errors = errors or []
                    errors.append(self._error(target, str(exc), record))
                    continue
                except _DATA_FAILURES as exc:
                    errors = errors or []
                    why = f"cannot transform the value ({type(exc).__name__})"
                    errors.append(self._error(target, why, record))
                    continue
            if check is not None and type(value) not in passing:
                problem = check(value)
                if problem is not None:
                    errors = errors or []
                    secret = self._meta[target][2]
                    errors.append(FieldError(field=target, message=problem,
                                             value_preview=preview(value, secret=secret)))
                    continue
            if key is not None:
                out[key] = value
            else:
                self._meta[target][0](out, value)
        if self._broken:
            errors = errors or []
            errors.extend(FieldError(field=t, message=f"not compiled: {why}")
                          for t, why in self._broken)
        if errors:
            return MappingResult(None, errors)
        return MappingResult(out, [])

    def _error(self, target: str, message: str, record: dict[str, Any]) -> FieldError:
        """A FieldError showing the source value (masked for secret fields)."""
        _setter, get, secret = self._meta[target]
        try:
            source_value = get(record)
        except _DATA_FAILURES:
            source_value = None
        shown = preview(source_value, secret=secret)
        text = redact(message) if secret else message
        return FieldError(field=target, message=text, value_preview=shown)

    def apply_many(self, records: Iterable[Any]) -> list[MappingResult]:
        apply = self.apply
        return [apply(r) for r in records]

    def __repr__(self) -> str:
        return f"CompiledMapping({self.name!r}, version={self.version}, fields={len(self._fields)})"


Compute = Callable[[dict[str, Any]], Any]
_FAST_FAILURES = (StepError, *_DATA_FAILURES)
FieldRow = tuple[str, str | None, str | None, Compute | None, frozenset[type], Any]
#: A field whose steps the generated function runs itself (no closure per field): its source
#: key (or None: its getter), getter, steps and whether its value is finalized.
Inline = tuple[str | None, Getter, list[tuple[StepFn, bool]], bool]
INLINE_STEPS = 4


def _generate(fields: Sequence[FieldRow], meta: dict[str, Any], iso_text: Set[int] = frozenset(),
              inline: dict[int, Inline] | None = None,
              ) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """One Python function for the whole mapping: ``record -> output`` or None on a failed
    check (an exception of a step propagates). Same semantics as :meth:`CompiledMapping.apply`
    field for field, without its per-field loop and tuple unpacking.

    ``iso_text``: the fields whose value is null or the ISO text of an aware date-time (a
    last parse_datetime step); a check that such text always passes runs for null only.
    ``inline``: fields whose steps are written out as calls (the chain's null skipping as
    ``if v is not None``), instead of one compute closure around them.

    Only names are written into the source; every value (keys, functions, type sets) is bound
    through the function's namespace, so nothing from a mapping is ever parsed as code.
    """
    namespace: dict[str, Any] = {}
    body: list[str] = []
    singles: list[tuple[str, str]] = []  # (key name, value name) for a dict display
    nested = False
    for i, (target, key, direct, compute, passing, check) in enumerate(fields):
        value = f"v{i}"
        written = (inline or {}).get(i)
        if compute is None:
            namespace[f"d{i}"] = direct
            body.append(f"    {value} = get(d{i})")
        elif written is not None:
            body.extend(_inline_steps(i, value, written, namespace))
        else:
            namespace[f"f{i}"] = compute
            body.append(f"    {value} = f{i}(record)")
        if check is not None:
            body.append(_check_line(i, value, check, passing, i in iso_text, namespace))
            body.append("        return None")
        if key is not None and not nested:
            namespace[f"k{i}"] = key
            singles.append((f"k{i}", value))
        else:
            nested = True
            namespace[f"s{i}"] = meta[target][0]
    if not nested and len({k for k, _ in singles}) == len(singles) and len(
            {namespace[k] for k, _ in singles}) == len(singles):
        items = ", ".join(f"{k}: {v}" for k, v in singles)
        body.append(f"    return {{{items}}}")
    else:  # nested or repeated targets: the setters, in field order, as ``apply`` does
        body.append("    out = {}")
        for i, (_target, key, _direct, _compute, _passing, _check) in enumerate(fields):
            if key is not None:
                namespace[f"k{i}"] = key
                body.append(f"    out[k{i}] = v{i}")
            else:
                namespace[f"s{i}"] = meta[fields[i][0]][0]
                body.append(f"    s{i}(out, v{i})")
        body.append("    return out")
    source = "def mapped(record):\n    get = record.get\n" + "\n".join(body) + "\n"
    exec(compile(source, "<mapping>", "exec"), namespace)  # noqa: S102 - names only, see above
    generated: Callable[[dict[str, Any]], dict[str, Any] | None] = namespace["mapped"]
    return generated


def _check_line(i: int, value: str, check: Any, passing: frozenset[type], iso_text: bool,
                namespace: dict[str, Any]) -> str:
    """The ``if`` of a field's check: the check is called only when the value does not pass
    one of its inline tests."""
    namespace[f"c{i}"] = check
    strings = getattr(check, "str_passing", None)
    truthy = getattr(check, "truthy_passing", None)
    if iso_text and getattr(check, "iso_passing", False):
        return f"    if {value} is None and c{i}({value}) is not None:"
    if strings is not None:
        return (f"    if not ({_string_test(i, value, strings, namespace)}) and "
                f"c{i}({value}) is not None:")
    if truthy:
        namespace[f"t{i}"] = truthy
        return f"    if not ({value} and type({value}) in t{i}) and c{i}({value}) is not None:"
    if passing:
        namespace[f"p{i}"] = passing
        return f"    if type({value}) not in p{i} and c{i}({value}) is not None:"
    return f"    if c{i}({value}) is not None:"


def _inline_steps(i: int, value: str, written: Inline, namespace: dict[str, Any]
                  ) -> list[str]:
    """A field's source read and steps as lines of the generated function."""
    key, getter, steps, finalize = written
    if key is not None:
        namespace[f"d{i}"] = key
        lines = [f"    {value} = get(d{i})"]
    else:
        namespace[f"gt{i}"] = getter
        lines = [f"    {value} = gt{i}(record)"]
    for j, (fn, accepts_null) in enumerate(steps):
        namespace[f"g{i}_{j}"] = fn
        if accepts_null:
            lines.append(f"    {value} = g{i}_{j}({value}, record)")
        else:
            lines += [f"    if {value} is not None:",
                      f"        {value} = g{i}_{j}({value}, record)"]
    if finalize:
        namespace["to_json"] = to_json_value
        lines.append(f"    {value} = to_json({value})")
    return lines


def _string_test(i: int, value: str, passing: tuple[Any, Any, frozenset[str] | None],
                 namespace: dict[str, Any]) -> str:
    """The inline test of a check's ``str_passing``: a string within the lengths (and in the
    enum's strings) passes without the call."""
    low, high, strings = passing
    parts = [f"type({value}) is str"]
    if low > 0:
        namespace[f"lo{i}"] = low
        parts.append(f"lo{i} <= len({value})")
    if high < sys.maxsize:
        namespace[f"hi{i}"] = high
        parts.append(f"len({value}) <= hi{i}")
    if strings is not None:
        namespace[f"e{i}"] = strings
        parts.append(f"{value} in e{i}")
    return " and ".join(parts)


def _compute(get: Getter, key: str | None, steps: list[tuple[StepFn, bool]]) -> Compute:
    """Read and transform one field, unrolled for the common short pipelines.

    ``key`` (a top-level source key) lets the closure read ``record.get(key)`` directly.
    """
    if not steps:
        return get
    if key is not None:
        k: str = key

        def get_key(record: dict[str, Any]) -> Any:
            return record.get(k)

        get = get_key
    if len(steps) == 1:
        fn, accepts_null = steps[0]
        if accepts_null:
            return lambda record: fn(get(record), record)
        if key is not None:
            k1: str = key

            def one_key(record: dict[str, Any]) -> Any:
                v = record.get(k1)
                return None if v is None else fn(v, record)

            return one_key

        def one(record: dict[str, Any]) -> Any:
            v = get(record)
            return None if v is None else fn(v, record)

        return one
    if len(steps) == 2 and not steps[0][1] and not steps[1][1]:
        (f1, _), (f2, _) = steps
        if key is not None:
            k2: str = key

            def two_key(record: dict[str, Any]) -> Any:
                v = record.get(k2)
                if v is None:
                    return None
                v = f1(v, record)
                return None if v is None else f2(v, record)

            return two_key

        def two(record: dict[str, Any]) -> Any:
            v = get(record)
            if v is None:
                return None
            v = f1(v, record)
            return None if v is None else f2(v, record)

        return two
    run = chain(steps)
    return lambda record: run(get(record), record)


def _finalizing(compute: Compute) -> Compute:
    return lambda record: to_json_value(compute(record))


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
