"""Credentials at rest: secret fields sealed by the vault, public fields in clear.

``AuthenticationConfig.credentials`` holds only the vault's envelope (the secret fields);
``oauth_config`` holds the method's non-secret fields (endpoints, client id, header name…).
Validation errors name the field and never echo the value.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import ValidationError

from connectors.sdk.auth.models import (
    FIELD_MODELS,
    AuthFields,
    auth_method,
    masked_hints,
    plain_values,
    public_values,
    secret_values,
)
from connectors.sdk.fields import secret_field_names
from server.db.models import AuthenticationConfig, AuthType
from server.vault import Vault


class CredentialFieldsError(ValueError):
    """Fields that do not fit the method; ``errors`` are (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


def validate_fields(auth_type: AuthType, values: dict[str, Any]) -> AuthFields:
    model = FIELD_MODELS[auth_method(auth_type.value)]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise CredentialFieldsError([
            (".".join(["credentials", *(str(p) for p in err["loc"])]),
             err["msg"].removeprefix("Value error, "))
            for err in exc.errors(include_input=False, include_url=False)
        ]) from None


def store(vault: Vault, obj: AuthenticationConfig, fields: AuthFields) -> None:
    obj.credentials = vault.seal(str(obj.id), secret_values(fields))
    obj.oauth_config = public_values(fields)


def load(vault: Vault, obj: AuthenticationConfig) -> AuthFields:
    """The stored fields with secrets revealed (for connectors and the vault only)."""
    secrets = vault.open(str(obj.id), obj.credentials) if obj.credentials else {}
    return validate_fields(obj.auth_type, {**(obj.oauth_config or {}), **secrets})


def merged(
    vault: Vault, obj: AuthenticationConfig, auth_type: AuthType, update: dict[str, Any] | None
) -> AuthFields:
    """Apply an update: omitted or null secrets keep their stored value; a new type starts over."""
    if auth_type != obj.auth_type:
        return validate_fields(auth_type, update or {})
    stored = plain_values(load(vault, obj))
    secret = secret_field_names(FIELD_MODELS[auth_method(auth_type.value)])
    for key, value in (update or {}).items():
        if key in secret and value in (None, ""):
            continue
        stored[key] = value
    return validate_fields(auth_type, stored)


def hints(vault: Vault, obj: AuthenticationConfig) -> dict[str, str]:
    return masked_hints(load(vault, obj))


def expires_soon(obj: AuthenticationConfig, now: dt.datetime, window_days: int) -> bool:
    return obj.expiration is not None and obj.expiration <= now + dt.timedelta(days=window_days)


def new_id() -> uuid.UUID:
    return uuid.uuid4()
