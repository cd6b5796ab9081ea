"""A connector's config JSON Schema as a tree of form fields, and validation naming each field.

Qt-free, so the rules are unit-tested without widgets: `parse_schema` turns the schema the
agent publishes (`GET /connectors/{id}/schema`, pydantic's JSON Schema with ``$defs``) into
`FieldSpec`s the form builds widgets from; `validate_config` checks a whole value and returns
one readable message per field path (``streams[0].name``), never echoing a value (a secret
must not appear in an error message).

Example::

    fields = parse_schema(schema)          # [FieldSpec("folder", kind="string", ...), ...]
    validate_config(schema, {"folder": 3}) # {"folder": "must be text"}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

JsonDict = dict[str, Any]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""No value (the field is left out of the configuration, so its default applies)."""

KINDS = (
    "string",
    "integer",
    "number",
    "boolean",
    "enum",
    "string_list",
    "object",
    "object_list",
    "mapping",
    "json",
)
_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "empty",
}


@dataclass(frozen=True)
class FieldSpec:
    """One input of a generated form; ``kind`` is one of `KINDS`."""

    key: str
    title: str
    kind: str
    description: str = ""
    required: bool = False
    nullable: bool = False
    secret: bool = False
    default: Any = MISSING
    enum: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    children: tuple[FieldSpec, ...] = ()
    #: An object field that also takes a one-word shorthand: the child the word stands for
    #: (``auth: "bearer"`` is ``auth: {"method": "bearer"}``).
    shorthand: str | None = None
    schema: JsonDict = field(default_factory=dict, compare=False, repr=False)

    @property
    def label(self) -> str:
        """The title, with ``*`` for a required field."""
        return f"{self.title} *" if self.required else self.title

    @property
    def placeholder(self) -> str:
        if self.secret:
            return "secret: typed here, never shown again"
        if self.kind == "string_list":
            return "comma-separated, e.g. a, b"
        if self.kind == "mapping":
            return "one per line: name = value"
        if self.kind == "json":
            return "JSON"
        if self.default is not MISSING and self.default not in (None, "", [], {}):
            return f"default: {format_input(self, self.default)}"
        return ""


# -- parsing -----------------------------------------------------------------------------


def resolve(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int = 0) -> JsonDict:
    """Follow a local ``$ref`` (``#/$defs/Name``), keeping the referring node's own keys."""
    node = dict(schema)
    while "$ref" in node and depth < 32:
        ref = str(node.pop("$ref"))
        if not ref.startswith("#/"):
            break  # remote refs are not used by connector schemas
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node = {**dict(target), **node}
        depth += 1
    return node


def _split_nullable(node: JsonDict, root: Mapping[str, Any]) -> tuple[JsonDict, bool]:
    """``anyOf: [X, {"type": "null"}]`` (pydantic's ``X | None``) -> (X, True)."""
    options = node.get("anyOf")
    if not isinstance(options, list):
        types = node.get("type")
        if isinstance(types, list) and "null" in types:
            rest = [t for t in types if t != "null"]
            return {**node, "type": rest[0] if len(rest) == 1 else rest}, True
        return node, False
    non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
    if len(non_null) == 1 and len(options) == 2:
        inner = resolve(non_null[0], root)
        merged = {k: v for k, v in node.items() if k != "anyOf"}
        return {**inner, **merged}, True
    return node, len(non_null) < len(options)


def _structured_form(node: JsonDict, root: Mapping[str, Any]) -> tuple[JsonDict, str | None]:
    """``anyOf: [word, object]`` (a model taking a shorthand) -> (the object, the child the
    word fills), so the form edits the full form; ``anyOf: [word, list of words]`` -> the list.
    Anything else is returned as it is."""
    options = node.get("anyOf")
    non_null = [resolve(o, root) for o in options or ()
                if not (isinstance(o, dict) and o.get("type") == "null")]
    if len(non_null) != 2:
        return node, None
    words = [o for o in non_null if o.get("type") == "string"]
    other = [o for o in non_null if o.get("type") != "string"]
    if len(words) != 1 or len(other) != 1:
        return node, None
    word, full = words[0], other[0]
    kept = {k: v for k, v in node.items() if k != "anyOf"}
    if full.get("type") == "array" and resolve(full.get("items") or {}, root).get("type") == (
            "string"):
        return {**full, **kept}, None
    properties = full.get("properties")
    if full.get("type") != "object" or not isinstance(properties, dict):
        return node, None
    key = next((name for name, child in properties.items()
                if "enum" in word and resolve(child, root).get("enum") == word["enum"]), None)
    return ({**full, **kept}, key) if key is not None else (node, None)


def is_secret(node: Mapping[str, Any]) -> bool:
    return bool(node.get("writeOnly")) or node.get("format") == "password"


def _kind(node: JsonDict, root: Mapping[str, Any]) -> str:
    if "enum" in node:
        return "enum"
    if "const" in node or "oneOf" in node or "anyOf" in node or "allOf" in node:
        return "json"
    kind = node.get("type")
    if kind in ("string", "integer", "number", "boolean"):
        return str(kind)
    if kind == "array":
        items = resolve(node.get("items") or {}, root)
        items, _ = _split_nullable(items, root)
        if items.get("type") == "string" and "enum" not in items:
            return "string_list"
        if items.get("type") == "object" and items.get("properties"):
            return "object_list"
        return "json"
    if kind == "object":
        if node.get("properties"):
            return "object"
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and _scalar_schema(resolve(extra, root)):
            return "mapping"
        return "json"
    return "json"


def _scalar_schema(node: JsonDict) -> bool:
    if node.get("type") in ("string", "integer", "number", "boolean"):
        return True
    options = node.get("anyOf")
    return isinstance(options, list) and all(
        isinstance(o, dict) and o.get("type") in ("string", "integer", "number", "boolean")
        for o in options
    )


def _field(key: str, raw: Mapping[str, Any], required: bool, root: Mapping[str, Any]) -> FieldSpec:
    node = resolve(raw, root)
    secret = is_secret(node)
    node, nullable = _split_nullable(node, root)
    node, shorthand = _structured_form(node, root)
    secret = secret or is_secret(node)
    kind = _kind(node, root)
    children: tuple[FieldSpec, ...] = ()
    if kind == "object":
        children = tuple(parse_object(node, root))
    elif kind == "object_list":
        item = resolve(node.get("items") or {}, root)
        children = tuple(parse_object(item, root))
    minimum = node.get("minimum", node.get("exclusiveMinimum"))
    maximum = node.get("maximum", node.get("exclusiveMaximum"))
    return FieldSpec(
        key=key,
        title=str(node.get("title") or key.replace("_", " ").capitalize()),
        kind=kind,
        description=str(node.get("description") or ""),
        required=required,
        nullable=nullable,
        secret=secret and kind == "string",
        default=node.get("default", raw.get("default", MISSING)),
        enum=tuple(node.get("enum") or ()),
        minimum=float(minimum) if isinstance(minimum, int | float) else None,
        maximum=float(maximum) if isinstance(maximum, int | float) else None,
        pattern=node.get("pattern") if isinstance(node.get("pattern"), str) else None,
        children=children,
        shorthand=shorthand,
        schema=node,
    )


def parse_object(
    schema: Mapping[str, Any], root: Mapping[str, Any] | None = None
) -> list[FieldSpec]:
    """The fields of an object schema, required ones first, otherwise in schema order."""
    root = schema if root is None else root
    node = resolve(schema, root)
    required = set(node.get("required") or ())
    props = node.get("properties") or {}
    fields = [
        _field(str(key), sub if isinstance(sub, Mapping) else {}, key in required, root)
        for key, sub in props.items()
    ]
    return sorted(fields, key=lambda f: not f.required)


def parse_schema(schema: Mapping[str, Any]) -> list[FieldSpec]:
    """Top-level fields of a connector's ``config_schema``."""
    return parse_object(schema, schema)


def secret_paths(schema: Mapping[str, Any]) -> set[str]:
    """Keys of the top-level secret fields (their values are never shown or copied)."""
    return {f.key for f in parse_schema(schema) if f.secret}


# -- text <-> value for line-edit inputs -----------------------------------------------------


def format_input(spec: FieldSpec, value: Any) -> str:
    """A value as the text of its input."""
    if value is None or value is MISSING:
        return ""
    if spec.kind == "string_list" and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if spec.kind == "mapping" and isinstance(value, dict):
        return "\n".join(
            f"{k} = {v if isinstance(v, str) else json.dumps(v)}" for k, v in value.items()
        )
    if spec.kind == "json":
        return json.dumps(value, indent=2)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class InputError(ValueError):
    """Text that cannot become a value of its field (the message has no field name)."""


def parse_input(spec: FieldSpec, text: str) -> Any:
    """The value typed into a line/text input, or `MISSING` when left empty.

    Numbers that do not parse stay text, so validation reports "must be a whole number"
    under the field; JSON that does not parse raises `InputError`.
    """
    raw = text if spec.secret else text.strip()
    if raw == "":
        return MISSING
    if spec.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if spec.kind == "number":
        try:
            number = float(raw)
        except ValueError:
            return raw
        return int(number) if number.is_integer() and "." not in raw else number
    if spec.kind == "string_list":
        return [part.strip() for part in raw.split(",") if part.strip()]
    if spec.kind == "mapping":
        return _parse_mapping(spec, raw)
    if spec.kind == "json":
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise InputError(f"not valid JSON ({exc.args[0].split(':')[0]})") from None
    return raw


def _parse_mapping(spec: FieldSpec, raw: str) -> dict[str, Any]:
    value_schema = spec.schema.get("additionalProperties")
    only_text = isinstance(value_schema, dict) and value_schema.get("type") == "string"
    out: dict[str, Any] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise InputError(f"line {number}: write it as name = value")
        value = value.strip()
        if not only_text:
            try:
                out[name.strip()] = json.loads(value)
                continue
            except ValueError:
                pass
        out[name.strip()] = value
    return out


# -- validation ----------------------------------------------------------------------------


def path_text(parts: Iterable[str | int]) -> str:
    """``["streams", 0, "name"]`` -> ``streams[0].name``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _describe(error: ValidationError) -> tuple[list[str | int], str]:
    """(path, message) for one error; messages name rules, never the offending value."""
    path: list[str | int] = list(error.absolute_path)
    rule: Any = error.validator
    expected: Any = error.validator_value
    if rule == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        missing = [name for name in expected if name not in instance]
        return [*path, missing[0] if missing else "?"], "is required"
    if rule == "type":
        words = [
            _TYPE_WORDS.get(t, t) for t in ([expected] if isinstance(expected, str) else expected)
        ]
        return path, "must be " + " or ".join(words)
    if rule == "enum":
        return path, "must be one of " + ", ".join(str(v) for v in expected)
    if rule == "const":
        return path, f"must be {expected}"
    if rule == "minimum":
        return path, f"must be at least {expected:g}"
    if rule == "maximum":
        return path, f"must be at most {expected:g}"
    if rule == "exclusiveMinimum":
        return path, f"must be more than {expected:g}"
    if rule == "exclusiveMaximum":
        return path, f"must be less than {expected:g}"
    if rule == "minLength":
        return (
            path,
            "must not be empty" if expected == 1 else f"needs at least {expected} characters",
        )
    if rule == "maxLength":
        return path, f"must be at most {expected} characters"
    if rule == "pattern":
        return path, f"must match the pattern {expected}"
    if rule == "minItems":
        return path, f"needs at least {expected} item{'s' if expected != 1 else ''}"
    if rule == "maxItems":
        return path, f"takes at most {expected} items"
    if rule == "additionalProperties":
        instance = error.instance if isinstance(error.instance, dict) else {}
        schema: Any = error.schema
        known = set((schema.get("properties") or {}).keys()) if isinstance(schema, dict) else set()
        extra = sorted(str(k) for k in instance if k not in known)
        return path, "unknown field " + ", ".join(extra) if extra else "has unknown fields"
    if rule in ("anyOf", "oneOf") and error.context:
        # X | None: report the X branch's problem, not "None is not valid" noise
        useful = [
            e for e in error.context if not (e.validator == "type" and e.validator_value == "null")
        ]
        if useful:
            return _describe(best_match(useful))
        return path, "does not match any allowed form"
    return path, f"is not valid ({rule})"


def validate_config(schema: Mapping[str, Any], data: Any) -> dict[str, str]:
    """Every problem of ``data`` against ``schema``, as ``{field path: message}``.

    The first message per path wins; an empty dict means valid.
    """
    validator_class = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft202012Validator
    )
    validator = validator_class(dict(schema))
    problems: dict[str, str] = {}
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        path, message = _describe(error)
        problems.setdefault(path_text(path), message)
    return problems


def check_field(spec: FieldSpec, value: Any, root: Mapping[str, Any]) -> str | None:
    """The problem with one field's value (None if fine), for live validation as one types."""
    if value is MISSING:
        return "is required" if spec.required and spec.default is MISSING else None
    schema = {**spec.schema}
    if "$defs" in root:
        schema["$defs"] = root["$defs"]
    if spec.nullable:
        schema = {"anyOf": [schema, {"type": "null"}], "$defs": schema.get("$defs", {})}
    problems = validate_config(schema, value)
    if not problems:
        return None
    first_path, message = next(iter(problems.items()))
    return f"{first_path}: {message}" if first_path else message


def prune(data: Mapping[str, Any]) -> JsonDict:
    """Drop `MISSING` values (recursively), so defaults apply on the agent."""
    out: JsonDict = {}
    for key, value in data.items():
        if value is MISSING:
            continue
        if isinstance(value, Mapping):
            out[key] = prune(value)
        elif isinstance(value, list):
            out[key] = [prune(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out
