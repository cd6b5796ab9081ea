"""Credentials at rest: secret fields sealed by the vault, public fields in clear.

``AuthenticationConfig.credentials`` holds only the vault's envelope (the secret fields);
``oauth_config`` holds the method's non-secret fields (endpoints, client id, header name…).
Validation errors name the field and never echo the value.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from connectors.sdk.auth.models import (
    FIELD_MODELS,
    AuthFields,
    auth_method,
    masked_hints,
    public_values,
    secret_values,
)
from connectors.sdk.auth.tokens import TokenSet
from connectors.sdk.fields import secret_field_names
from server.db.models import AuthenticationConfig, AuthType
from server.db.types import utcnow
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


#: Where OAuth tokens obtained for a credential live inside its sealed envelope.
TOKEN_KEY = "__token_set"  # noqa: S105 - a key name, not a secret


def _sealed(vault: Vault, obj: AuthenticationConfig) -> dict[str, Any]:
    return vault.open(str(obj.id), obj.credentials) if obj.credentials else {}


def store(vault: Vault, obj: AuthenticationConfig, fields: AuthFields) -> None:
    """Seal the secret fields; a new secret drops tokens obtained with the old one."""
    obj.credentials = vault.seal(str(obj.id), secret_values(fields))
    obj.oauth_config = public_values(fields)


def load(vault: Vault, obj: AuthenticationConfig) -> AuthFields:
    """The stored fields with secrets revealed (for connectors and the vault only)."""
    secrets = _sealed(vault, obj)
    secrets.pop(TOKEN_KEY, None)
    return validate_fields(obj.auth_type, {**(obj.oauth_config or {}), **secrets})


class DbTokenStore:
    """Keeps a credential's OAuth tokens sealed in its row; each save is one transaction.

    With refresh-token rotation the old refresh token dies as the new one is issued, so a
    save must land whole or not at all (the SDK does not use a token it could not save).
    """

    def __init__(self, session_factory: Callable[[], Session], vault: Vault,
                 auth_id: uuid.UUID) -> None:
        self._factory, self._vault, self._id = session_factory, vault, auth_id

    def load(self) -> TokenSet | None:
        with self._factory() as session:
            obj = session.get(AuthenticationConfig, self._id)
            if obj is None:
                return None
            data = _sealed(self._vault, obj).get(TOKEN_KEY)
            return TokenSet.from_dict(data) if data else None

    def save(self, token: TokenSet) -> None:
        with self._factory() as session:
            obj = session.get(AuthenticationConfig, self._id, with_for_update=True)
            if obj is None:
                raise LookupError(f"credential {self._id} no longer exists")
            secrets = _sealed(self._vault, obj)
            secrets[TOKEN_KEY] = token.to_dict()
            obj.credentials = self._vault.seal(str(obj.id), secrets)
            obj.last_used = utcnow()
            session.commit()


def merged(
    vault: Vault, obj: AuthenticationConfig, auth_type: AuthType, update: dict[str, Any] | None
) -> AuthFields:
    """Apply an update: omitted or null secrets keep their stored value; a new type starts over."""
    if auth_type != obj.auth_type:
        return validate_fields(auth_type, update or {})
    # Not validated on its own: a credential imported without its secrets is incomplete
    # until an update supplies them.
    secrets = _sealed(vault, obj)
    secrets.pop(TOKEN_KEY, None)
    stored = {**(obj.oauth_config or {}), **secrets}
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

