"""Connector configuration: validate it with precise errors, find its secrets, show it safely."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from connectors.sdk.errors import ConfigError
from connectors.sdk.fields import secret_field_names

__all__ = ["config_schema", "format_location", "parse_config", "public_config", "secret_values"]

M = TypeVar("M", bound=BaseModel)


def format_location(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """``("streams", 1, "paginator", "type")`` -> ``streams[1].paginator.type``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


def issues_of(exc: ValidationError) -> list[dict[str, str]]:
    """Field paths and messages of a pydantic error, without the offending input values."""
    return [
        {"field": format_location(tuple(err["loc"])), "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def parse_config(model: type[M], data: Mapping[str, Any] | M, *, what: str = "configuration") -> M:
    """Validate ``data`` into ``model``; raise a :class:`ConfigError` naming every bad field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        issues = issues_of(exc)
        listed = "; ".join(f"{i['field']}: {i['message']}" for i in issues)
        raise ConfigError(f"Invalid {what}: {listed}.", issues=issues) from None


def config_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema the API serves and the console renders (secrets are ``writeOnly``)."""
    schema = model.model_json_schema(mode="validation")
    _mark_secret_types(schema)
    return schema


def _mark_secret_types(schema: Any) -> None:
    """SecretStr fields declared without ``secret_field`` still get the secret markers."""
    if isinstance(schema, dict):
        if schema.get("format") == "password":
            schema.setdefault("writeOnly", True)
        for value in schema.values():
            _mark_secret_types(value)
    elif isinstance(schema, list):
        for value in schema:
            _mark_secret_types(value)


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _walk(item)
    else:
        yield value


def secret_values(config: BaseModel) -> list[str]:
    """Every secret value in ``config`` (nested too), for log redaction."""
    found: list[str] = []
    for value in _walk(config):
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, SecretBytes):
            found.append(value.get_secret_value().decode(errors="replace"))
    return [s for s in found if s]


def public_config(config: BaseModel) -> dict[str, Any]:
    """``config`` as JSON with secrets left out (what the API may return)."""
    data: dict[str, Any] = _drop_secrets(config.model_dump(mode="json"), config)
    return data


def _drop_secrets(data: Any, value: Any) -> Any:
    if isinstance(value, BaseModel) and isinstance(data, dict):
        out = {}
        secret_names = secret_field_names(type(value))
        for name, info in type(value).model_fields.items():
            field_value = getattr(value, name)
            if isinstance(field_value, (SecretStr, SecretBytes)) or (
                (info.alias or name) in secret_names
            ):
                continue
            key = name if name in data else (type(value).model_fields[name].alias or name)
            if key in data:
                out[key] = _drop_secrets(data[key], field_value)
        return out
    if isinstance(value, (list, tuple)) and isinstance(data, list):
        return [_drop_secrets(d, v) for d, v in zip(data, value, strict=False)]
    return data
