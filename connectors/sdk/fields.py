"""Marking secret fields in pydantic models (connector configs and credential forms).

A secret field is a ``SecretStr`` whose JSON Schema says ``writeOnly: true`` and
``format: password``: the console masks it in generated forms, and the agent never returns it.

Example::

    class Config(BaseModel):
        base_url: str
        api_token: SecretStr = secret_field(description="Personal access token")

    secret_field_names(Config)  # -> {"api_token"}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, SecretBytes, SecretStr

SECRET_SCHEMA_EXTRA: dict[str, Any] = {"writeOnly": True, "format": "password"}


def secret_field(default: Any = ..., **kwargs: Any) -> Any:
    """A pydantic ``Field`` marked secret in the JSON Schema (use with ``SecretStr``)."""
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra.update(SECRET_SCHEMA_EXTRA)
    return Field(default, json_schema_extra=extra, **kwargs)


def secret_field_names(model: type[BaseModel]) -> set[str]:
    """Names of the top-level fields that are secret, by type or by schema marker."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        annotation = info.annotation
        args = getattr(annotation, "__args__", None) or ()
        is_secret_type = annotation in (SecretStr, SecretBytes) or any(
            a in (SecretStr, SecretBytes) for a in args
        )
        if is_secret_type or extra.get("writeOnly") is True:
            names.add(info.alias or name)
    return names


def is_secret_schema(schema: dict[str, Any]) -> bool:
    """Whether a JSON Schema property describes a secret (for schemas without a model)."""
    return schema.get("writeOnly") is True or schema.get("format") == "password"
