"""One pydantic model per authentication method, declaring its fields.

Secret fields are ``SecretStr`` marked with :func:`connectors.sdk.fields.secret_field`, so
the console masks them in generated forms and the agent stores them in the vault and never
returns them. Unknown fields are refused with their name (a typo must not be ignored).

Example::

    fields = parse_fields("api_key", {"api_key": "k-123", "name": "X-Token"})
    secret_values(fields)   # -> {"api_key": "k-123"}
    public_values(fields)   # -> {"name": "X-Token", "location": "header", "prefix": ""}
"""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from connectors.sdk.auth.errors import AuthFailure, CredentialError
from connectors.sdk.fields import secret_field, secret_field_names


class AuthMethod(enum.StrEnum):
    """The agent's ``AuthType`` values (the SDK cannot import the agent; a test checks)."""

    API_KEY = "api_key"
    BASIC = "basic"
    BEARER = "bearer"
    OAUTH2_CLIENT_CREDENTIALS = "oauth2_client_credentials"
    OAUTH2_AUTHORIZATION_CODE = "oauth2_authorization_code"
    JWT_BEARER = "jwt_bearer"
    CERTIFICATE = "certificate"
    AWS = "aws"
    LDAP_BIND = "ldap_bind"


class AuthFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _scope_list(value: Any) -> Any:
    if isinstance(value, str):
        return [s for s in value.replace(",", " ").split() if s]
    return value


class ApiKeyFields(AuthFields):
    """A static key sent in a header (default ``X-API-Key``) or a query parameter."""

    api_key: SecretStr = secret_field(description="The API key")
    location: Literal["header", "query"] = "header"
    name: str = Field("X-API-Key", min_length=1, description="Header or query parameter name")
    # Not stripped: the space in "Token " is part of the header value.
    prefix: Annotated[str, StringConstraints(strip_whitespace=False)] = Field(
        "", description="Text before the key, e.g. 'Token '"
    )


class BasicFields(AuthFields):
    username: str = Field(min_length=1)
    password: SecretStr = secret_field()


class BearerFields(AuthFields):
    """A long-lived token sent as ``Authorization: Bearer <token>`` (personal access tokens)."""

    token: SecretStr = secret_field(description="The bearer token")


class _OAuthCommon(AuthFields):
    token_url: str = Field(pattern=r"^https?://", description="Token endpoint URL")
    scope: list[str] = Field(default_factory=list, description="Scopes to request")
    client_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    #: Extra token request parameters some providers need (e.g. ``audience``, ``resource``).
    extra_params: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_scope(cls, data: Any) -> Any:
        if isinstance(data, dict) and "scope" in data:
            data = {**data, "scope": _scope_list(data["scope"])}
        return data


class OAuth2ClientCredentialsFields(_OAuthCommon):
    client_id: str = Field(min_length=1)
    client_secret: SecretStr = secret_field()


class OAuth2AuthorizationCodeFields(_OAuthCommon):
    """Authorization code with PKCE (S256). Tokens come from a browser sign-in."""

    authorize_url: str = Field(pattern=r"^https?://", description="Authorization endpoint URL")
    client_id: str = Field(min_length=1)
    #: Public clients (desktop apps) have no secret; PKCE protects the code exchange.
    client_secret: SecretStr | None = secret_field(None)
    #: Set by the sign-in; the agent refreshes access tokens with it.
    refresh_token: SecretStr | None = secret_field(None)
    revocation_url: str | None = Field(None, pattern=r"^https?://")


class JwtBearerFields(AuthFields):
    """RFC 7523 JWT bearer grant: a service account signs an assertion with its private key.

    Give either ``service_account_key`` (a Google-style key JSON, the whole file) or the
    individual fields; values in the key JSON fill the fields left empty.
    """

    service_account_key: SecretStr | None = secret_field(
        None, description="Service account key JSON"
    )
    private_key: SecretStr | None = secret_field(None, description="PEM private key")
    private_key_id: str | None = None
    issuer: str | None = Field(None, description="Assertion issuer (client_email)")
    subject: str | None = Field(None, description="User to act as (domain-wide delegation)")
    token_url: str | None = Field(None, pattern=r"^https?://")
    audience: str | None = Field(None, description="Assertion audience (default: token URL)")
    scope: list[str] = Field(default_factory=list)
    algorithm: Literal["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"] = "RS256"
    lifetime: int = Field(3600, ge=60, le=3600, description="Assertion lifetime in seconds")

    @model_validator(mode="before")
    @classmethod
    def _from_key_json(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {**data}
        if "scope" in data:
            data["scope"] = _scope_list(data["scope"])
        raw = data.get("service_account_key")
        if raw is None:
            return data
        text = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
        try:
            info = json.loads(text) if isinstance(text, str) else text
        except ValueError:
            raise ValueError("service_account_key: not valid JSON") from None
        if not isinstance(info, dict):
            raise ValueError("service_account_key: expected a JSON object")
        data["service_account_key"] = json.dumps(info)
        for field, key in (
            ("private_key", "private_key"),
            ("private_key_id", "private_key_id"),
            ("issuer", "client_email"),
            ("token_url", "token_uri"),
        ):
            if not data.get(field) and info.get(key):
                data[field] = info[key]
        return data

    @model_validator(mode="after")
    def _complete(self) -> JwtBearerFields:
        missing = [
            name for name in ("private_key", "issuer", "token_url") if not getattr(self, name)
        ]
        if missing:
            raise ValueError(
                f"missing {', '.join(missing)} (give them, or a service_account_key JSON)"
            )
        return self


class CertificateFields(AuthFields):
    """Mutual TLS: a client certificate chain (public) and its private key (secret)."""

    certificate_pem: str = Field(min_length=1, description="Client certificate chain (PEM)")
    private_key_pem: SecretStr = secret_field(description="Private key (PEM)")
    private_key_password: SecretStr | None = secret_field(None)
    ca_bundle_pem: str | None = Field(None, description="CA certificates to trust (PEM)")


class AwsFields(AuthFields):
    """AWS access keys, an optional session token, and an optional role to assume."""

    access_key_id: str = Field(min_length=16, max_length=128, pattern=r"^[A-Z0-9]+$")
    secret_access_key: SecretStr = secret_field()
    session_token: SecretStr | None = secret_field(None)
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    role_arn: str | None = Field(None, pattern=r"^arn:aws[\w-]*:iam::\d{12}:role/.+$")
    external_id: str | None = None
    role_session_name: str = Field("simpletrust", pattern=r"^[\w+=,.@-]{2,64}$")
    duration_seconds: int = Field(3600, ge=900, le=43200)


class LdapBindFields(AuthFields):
    bind_dn: str = Field(min_length=3, description="e.g. cn=svc-simpletrust,ou=apps,dc=example")
    password: SecretStr = secret_field()


FIELD_MODELS: dict[AuthMethod, type[AuthFields]] = {
    AuthMethod.API_KEY: ApiKeyFields,
    AuthMethod.BASIC: BasicFields,
    AuthMethod.BEARER: BearerFields,
    AuthMethod.OAUTH2_CLIENT_CREDENTIALS: OAuth2ClientCredentialsFields,
    AuthMethod.OAUTH2_AUTHORIZATION_CODE: OAuth2AuthorizationCodeFields,
    AuthMethod.JWT_BEARER: JwtBearerFields,
    AuthMethod.CERTIFICATE: CertificateFields,
    AuthMethod.AWS: AwsFields,
    AuthMethod.LDAP_BIND: LdapBindFields,
}


def auth_method(auth_type: str) -> AuthMethod:
    """Accept the agent's ``AuthType`` (a str enum) or its plain value."""
    value = getattr(auth_type, "value", auth_type)
    try:
        return AuthMethod(value)
    except ValueError:
        known = ", ".join(m.value for m in AuthMethod)
        raise CredentialError(
            AuthFailure.CONFIGURATION, f"unknown auth type {value!r} (known: {known})"
        ) from None


def parse_fields(auth_type: str, fields: dict[str, Any] | AuthFields) -> AuthFields:
    """Validate ``fields`` for ``auth_type``; errors name each field and never echo values."""
    model = FIELD_MODELS[auth_method(auth_type)]
    if isinstance(fields, model):
        return fields
    if isinstance(fields, AuthFields):
        fields = plain_values(fields)
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'fields'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise CredentialError(
            AuthFailure.CONFIGURATION, f"invalid {model.__name__} fields: {problems}"
        ) from None


def plain_values(fields: AuthFields) -> dict[str, Any]:
    """All values with secrets revealed (for the vault only; never log or return this)."""
    data = fields.model_dump(exclude_none=True)
    for name in secret_field_names(type(fields)):
        value = getattr(fields, name)
        if value is not None:
            data[name] = value.get_secret_value()
    return data


def secret_values(fields: AuthFields) -> dict[str, str]:
    """The secret fields that are set, revealed: what the vault seals."""
    data = plain_values(fields)
    return {n: data[n] for n in secret_field_names(type(fields)) if n in data}


def public_values(fields: AuthFields) -> dict[str, Any]:
    """The non-secret fields: safe to store in clear and to return from the API."""
    secret = secret_field_names(type(fields))
    return {k: v for k, v in fields.model_dump(mode="json").items() if k not in secret}


def masked_hint(secret: str | SecretStr | None) -> str | None:
    """``"••••f00d"`` for API responses: the last 4 characters, only of long secrets.

    Secrets shorter than 12 characters show no characters at all (four of eight would give
    too much away).
    """
    if secret is None:
        return None
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not value:
        return None
    return "••••" + value[-4:] if len(value) >= 12 else "••••"


def masked_hints(fields: AuthFields) -> dict[str, str]:
    """A masked hint per secret field that is set."""
    hints = {}
    for name, value in secret_values(fields).items():
        hint = masked_hint(value)
        if hint:
            hints[name] = hint
    return hints


def merge_update(auth_type: str, stored: dict[str, Any], update: dict[str, Any]) -> AuthFields:
    """Apply an API update: secrets that are omitted (or null) keep their stored value.

    This is the rule behind ``PUT`` without a secret keeping the stored one.
    """
    model = FIELD_MODELS[auth_method(auth_type)]
    secret = secret_field_names(model)
    merged = {**stored}
    for key, value in update.items():
        if key in secret and value in (None, ""):
            continue
        merged[key] = value
    return parse_fields(auth_type, merged)
