"""Design-time analysis of a mapping: every problem, each named by its target field.

``validate_mapping`` reports, without running any record:

- ``unknown_entity``: the target (inbound) or source (outbound) is not a canonical entity and no
  schema was given;
- ``required_unmapped``: a required target field has no mapping;
- ``bad_path``, ``duplicate_target``, ``conflicting_target``, ``unknown_target``,
  ``unknown_source`` (warning): paths that do not parse or do not exist in the schemas;
- ``unknown_function``, ``bad_params``, ``bad_expression``, ``unsafe``: steps that do not compile
  (``unsafe``: text naming Python internals such as ``__class__``);
- ``bad_rule``: validation rules that cannot work;
- ``type_mismatch``: a source field's type does not fit a step's input or the target field;
- ``no_source`` (warning): a field with neither source nor steps is always null.

The same analysis compiles the fields, so ``compile_mapping`` never disagrees with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.mapping import canonical
from server.mapping.errors import ParamError, Problem, Severity
from server.mapping.functions.registry import StepFn
from server.mapping.model import FieldMapping, MappingSpec
from server.mapping.paths import Getter, Path, PathError, compile_getter, parse_path
from server.mapping.rules import Check, compile_check_fast
from server.mapping.sandbox import find_unsafe
from server.mapping.steps import StepCompileError, compile_step
from server.mapping.valuetypes import (
    ANY,
    TypeSet,
    compatible,
    describe,
    schema_types,
    types_of,
)

_SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "credential",
                 "private_key", "authorization", "cookie")


@dataclass
class FieldPlan:
    """One compiled field, ready for the engine."""

    target: str
    keys: tuple[str, ...]
    getter: Getter
    source_key: str | None  # set when the source is one top-level key (the fast path)
    steps: list[tuple[StepFn, bool]]  # (function, accepts_null)
    check: Check | None
    passing: frozenset[type]  # value types that pass the check without calling it
    secret: bool
    finalize: bool


@dataclass
class Analysis:
    problems: list[Problem]
    plans: list[FieldPlan]
    broken: dict[str, str]  # target -> why it could not be compiled
    target_schema: dict[str, Any] | None


def validate_mapping(
    mapping: MappingSpec, target_schema: dict[str, Any] | None = None
) -> list[Problem]:
    """Every problem of ``mapping`` (errors and warnings), each naming its field."""
    return analyse(mapping, target_schema).problems


def required_targets(
    mapping: MappingSpec, target_schema: dict[str, Any] | None = None
) -> list[str]:
    """Target fields the mapping must fill (for the designer to highlight)."""
    schema = _target_schema(mapping, target_schema)
    if schema is None:
        return []
    return [f for f in schema.get("required", []) if f not in canonical.ENGINE_FIELDS]


def _canonical(name: str) -> dict[str, Any] | None:
    try:
        return canonical.load_entity_schema(name)
    except canonical.UnknownEntityError:
        return None


def _target_schema(mapping: MappingSpec, given: dict[str, Any] | None) -> dict[str, Any] | None:
    if given is not None:
        return given
    if mapping.target_schema is not None:
        return mapping.target_schema
    return _canonical(mapping.target) if mapping.direction == "inbound" else None


def _source_schema(mapping: MappingSpec) -> dict[str, Any] | None:
    if mapping.source_schema is not None:
        return mapping.source_schema
    return _canonical(mapping.source) if mapping.direction == "outbound" else None


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    """Follow local ``#/$defs/...`` references (enough for our schemas and connectors')."""
    for _ in range(10):
        if not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
            return node
        ref: str = node["$ref"]
        if not ref.startswith("#/"):
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        node = target
    return node


def schema_at(
    schema: dict[str, Any], path: Path, *, described_only: bool = False
) -> tuple[dict[str, Any] | None, bool]:
    """The schema node at ``path`` and whether the path is known to exist.

    ``(None, True)``: allowed but undescribed; ``(None, False)``: the schema forbids it (or,
    with ``described_only``, an object schema listing ``properties`` does not name it).
    """
    node: Any = _resolve(schema, schema)
    for kind, arg in path.schema_steps():
        if not isinstance(node, dict):
            return None, True
        if kind == "key":
            props = node.get("properties")
            if isinstance(props, dict) and arg in props:
                node = _resolve(props[arg], schema)
                continue
            extra = node.get("additionalProperties", True)
            if isinstance(props, dict) and (
                extra is False or (described_only and not isinstance(extra, dict))
            ):
                return None, False
            node = _resolve(extra, schema) if isinstance(extra, dict) else None
            if node is None:
                return None, True
        else:
            items = node.get("items")
            node = _resolve(items, schema) if isinstance(items, dict) else None
            if node is None:
                return None, True
    return (node if isinstance(node, dict) else None), True


def _looks_secret(*names: str) -> bool:
    lowered = " ".join(names).lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _is_secret_schema(node: dict[str, Any] | None) -> bool:
    return isinstance(node, dict) and (
        node.get("writeOnly") is True or node.get("format") == "password"
    )


def analyse(mapping: MappingSpec, target_schema: dict[str, Any] | None = None) -> Analysis:
    """Check and compile every field; the one pass behind validate and compile."""
    problems: list[Problem] = []
    tschema = _target_schema(mapping, target_schema)
    sschema = _source_schema(mapping)
    if tschema is None and mapping.direction == "inbound":
        known = ", ".join(canonical.entity_types())
        problems.append(Problem(field="target", code="unknown_entity", message=(
            f"'{mapping.target}' is not a canonical entity type (known: {known})")))
    if mapping.direction == "outbound" and sschema is None:
        problems.append(Problem(field="source", code="unknown_entity", message=(
            f"'{mapping.source}' is not a canonical entity type and no source_schema is given")))

    plans: list[FieldPlan] = []
    broken: dict[str, str] = {}
    seen: dict[tuple[str, ...], str] = {}
    for index, fm in enumerate(mapping.fields):
        field = fm.target or f"fields[{index}]"
        analyser = _FieldAnalyser(fm, field, tschema, sschema, seen)
        plan = analyser.run()
        problems.extend(analyser.problems)
        if plan is not None:
            plans.append(plan)
        else:
            errors = [p.message for p in analyser.problems if p.severity == "error"]
            broken[field] = errors[0] if errors else "cannot be compiled"

    if tschema is not None:
        mapped = {k[0] for k in seen}
        for name in tschema.get("required", []):
            if name in canonical.ENGINE_FIELDS or name in mapped:
                continue
            problems.append(Problem(field=name, code="required_unmapped",
                                    message=f"required target field '{name}' is not mapped"))
    return Analysis(problems, plans, broken, tschema)


class _FieldAnalyser:
    """Checks and compiles one field mapping, collecting its problems."""

    def __init__(
        self,
        fm: FieldMapping,
        field: str,
        tschema: dict[str, Any] | None,
        sschema: dict[str, Any] | None,
        seen: dict[tuple[str, ...], str],
    ) -> None:
        self.fm, self.field, self.seen = fm, field, seen
        self.tschema, self.sschema = tschema, sschema
        self.problems: list[Problem] = []
        self.secret = fm.secret

    def problem(self, code: str, message: str, severity: Severity = "error") -> None:
        self.problems.append(
            Problem(field=self.field, code=code, message=message, severity=severity)
        )

    def run(self) -> FieldPlan | None:
        target = self._target()
        if target is None:
            return None
        keys, target_node = target
        sources = self._sources()
        if sources is None:
            return None
        getter, source_key, source_types = sources
        steps = self._steps(source_types)
        if steps is None:
            return None
        fns, produced, finalize = steps
        checked = self._check(keys, target_node, produced)
        if checked is None:
            return None
        passing, check = checked
        return FieldPlan(
            self.field, keys, getter, source_key, fns, check, passing, self.secret, finalize
        )

    def _target(self) -> tuple[tuple[str, ...], dict[str, Any] | None] | None:
        fm = self.fm
        try:
            path = parse_path(fm.target)
            keys = path.keys()
        except PathError as exc:
            self.problem("unsafe" if "not allowed" in str(exc) else "bad_path", f"target: {exc}")
            return None
        if keys in self.seen:
            self.problem("duplicate_target", f"'{fm.target}' is mapped more than once")
            return None
        for other in self.seen:
            shorter, longer = sorted((other, keys), key=len)
            if longer[: len(shorter)] == shorter:
                self.problem("conflicting_target", f"'{fm.target}' overlaps "
                             f"'{'.'.join(other)}': one would overwrite the other")
                return None
        self.seen[keys] = self.field
        if keys[0] in canonical.ENGINE_FIELDS:
            self.problem("unknown_target", f"'{keys[0]}' is filled in by the sync engine")
            return None
        if self.tschema is None:
            return keys, None
        node, known = schema_at(self.tschema, path)
        if not known:
            self.problem("unknown_target", f"'{fm.target}' is not a field of the target schema")
            return None
        return keys, node

    def _sources(self) -> tuple[Getter, str | None, TypeSet] | None:
        fm = self.fm
        getters: list[Getter] = []
        keys: list[Any] = []
        source_key: str | None = None
        types: TypeSet = types_of("null")
        self.secret = self.secret or _looks_secret(fm.target, *fm.source_paths())
        for text in fm.source_paths():
            try:
                path = parse_path(text)
            except PathError as exc:
                code = "unsafe" if "not allowed" in str(exc) else "bad_path"
                self.problem(code, f"source: {exc}")
                return None
            getters.append(compile_getter(path))
            plain = len(path.ops) == 1 and path.is_plain_keys
            keys.append(path.ops[0][1] if plain else None)
            if plain:
                source_key = str(path.ops[0][1])
            node, known = (
                (None, True) if self.sschema is None
                else schema_at(self.sschema, path, described_only=True)
            )
            if not known:
                self.problem("unknown_source", f"source '{text}' is not in the source schema",
                             "warning")
            self.secret = self.secret or _is_secret_schema(node)
            if path.has_wildcard:
                types = types_of("array")
            else:
                types = ANY if node is None else schema_types(node)
        if len(getters) > 1:
            types = types_of("array")
        if not getters and not fm.steps:
            self.problem("no_source", "no source and no steps: the value is always null",
                         "warning")
        return _combine(getters, keys), (source_key if len(getters) == 1 else None), types

    def _steps(self, current: TypeSet) -> tuple[list[tuple[StepFn, bool]], TypeSet, bool] | None:
        fns: list[tuple[StepFn, bool]] = []
        finalize = False
        for i, step in enumerate(self.fm.steps):
            try:
                fn, spec = compile_step(step, i)
            except StepCompileError as exc:
                self.problem(exc.code, str(exc))
                return None
            nothing_but_null = spec.accepts_null and current <= {"null"}
            if not compatible(current, spec.input_types) and not nothing_but_null:
                self.problem("type_mismatch", f"step {i + 1} ({spec.name}) expects "
                             f"{describe(spec.input_types)}, gets {describe(current)}")
            if spec.output_type == "any":
                current = ANY
            elif spec.output_type != "same":
                current = types_of(spec.output_type)
            # A parse_datetime anywhere (also nested in if/map) may leave a datetime to write out.
            finalize = (
                finalize or spec.name == "parse_datetime" or "parse_datetime" in repr(step.params)
            )
            fns.append((fn, spec.accepts_null))
        return fns, current, finalize

    def _check(
        self, keys: tuple[str, ...], node: dict[str, Any] | None, produced: TypeSet
    ) -> tuple[frozenset[type], Check | None] | None:
        rules = self.fm.rules
        if rules.pattern is not None and find_unsafe(rules.pattern):
            self.problem("unsafe", "rules.pattern names Python internals")
            return None
        required = (
            self.tschema is not None
            and len(keys) == 1
            and keys[0] in self.tschema.get("required", [])
        )
        try:
            checked = compile_check_fast(rules, node, required=required)
        except ParamError as exc:
            self.problem("bad_rule", f"rules: {exc}")
            return None
        if rules.type == "date-time":
            accepted = types_of("string")
        elif rules.type is not None:
            accepted = types_of(rules.type)
        else:
            accepted = (schema_types(node) - {"null"}) or ANY
        if not compatible(produced, accepted):
            self.problem("type_mismatch", f"produces {describe(produced)} but the target field "
                         f"takes {describe(accepted)}")
        return checked


def _none(record: Any) -> None:
    return None


def _combine(getters: list[Getter], keys: list[Any] | None = None) -> Getter:
    """One getter for the sources (a list of their values when there are several);
    ``keys``: each source's top-level key, if it is one, to read them without the getters."""
    if not getters:
        return _none
    if len(getters) == 1:
        return getters[0]
    plain = tuple(k for k in keys or () if k is not None)
    if len(plain) == len(getters) == 2:  # e.g. first and last name
        k1, k2 = plain
        return lambda record: ([record.get(k1), record.get(k2)] if isinstance(record, dict)
                               else [None, None])
    if len(plain) == len(getters) == 3:
        j1, j2, j3 = plain
        return lambda record: ([record.get(j1), record.get(j2), record.get(j3)]
                               if isinstance(record, dict) else [None, None, None])
    many = tuple(getters)
    return lambda record: [g(record) for g in many]
