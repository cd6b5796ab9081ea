"""``build_auth``: from an auth type and its fields to what a connector authenticates with."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from connectors.sdk.auth.credentials import (
    AssumeRole,
    AwsCredentials,
    ClientCertificate,
    LdapBind,
)
from connectors.sdk.auth.errors import AuthFailure, CredentialError
from connectors.sdk.auth.models import (
    ApiKeyFields,
    AuthFields,
    AuthMethod,
    AwsFields,
    BasicFields,
    BearerFields,
    CertificateFields,
    JwtBearerFields,
    LdapBindFields,
    OAuth2AuthorizationCodeFields,
    OAuth2ClientCredentialsFields,
    auth_method,
    parse_fields,
    secret_values,
)
from connectors.sdk.auth.oauth import (
    DEFAULT_SKEW,
    ClientCredentialsGrant,
    JwtBearerGrant,
    OAuth2Auth,
    RefreshTokenGrant,
)
from connectors.sdk.auth.static import ApiKeyAuth, BearerAuth
from connectors.sdk.auth.tokens import TokenSet, TokenStore
from connectors.sdk.redact import registry

#: What :func:`build_auth` returns: an ``httpx.Auth`` for HTTP methods, else a typed credential.
Credential = httpx.Auth | AwsCredentials | LdapBind | ClientCertificate


def build_auth(
    auth_type: str,
    fields: dict[str, Any] | AuthFields,
    *,
    token_store: TokenStore | None = None,
    skew: float = DEFAULT_SKEW,
    clock: Callable[[], float] = time.time,
) -> Credential:
    """Build the credential for ``auth_type`` (an ``AuthType`` or its value).

    Every secret value is registered with :mod:`connectors.sdk.redact` first, so it is masked
    in logs from here on. OAuth methods keep their tokens in ``token_store`` (the agent passes
    one that re-seals the vault envelope); without one, tokens live in memory.

    Raises:
        CredentialError: ``configuration``, naming each invalid field.
    """
    method = auth_method(auth_type)
    parsed = parse_fields(method, fields)
    for value in secret_values(parsed).values():
        registry.register(value)

    if isinstance(parsed, ApiKeyFields):
        return ApiKeyAuth(
            parsed.api_key.get_secret_value(),
            name=parsed.name,
            location=parsed.location,
            prefix=parsed.prefix,
        )
    if isinstance(parsed, BasicFields):
        registry.register_basic(parsed.username, parsed.password)
        return httpx.BasicAuth(parsed.username, parsed.password.get_secret_value())
    if isinstance(parsed, BearerFields):
        return BearerAuth(parsed.token.get_secret_value())
    if isinstance(parsed, OAuth2ClientCredentialsFields):
        return OAuth2Auth(
            ClientCredentialsGrant(parsed), token_store=token_store, skew=skew, clock=clock
        )
    if isinstance(parsed, OAuth2AuthorizationCodeFields):
        initial = None
        if parsed.refresh_token is not None:
            # A refresh token without an access token: refresh on first use.
            initial = TokenSet(
                access_token="", expires_at=0, refresh_token=parsed.refresh_token.get_secret_value()
            )
        return OAuth2Auth(
            None,
            refresh=RefreshTokenGrant.for_fields(parsed),
            token_store=token_store,
            skew=skew,
            clock=clock,
            initial_token=initial,
        )
    if isinstance(parsed, JwtBearerFields):
        return OAuth2Auth(
            JwtBearerGrant(parsed, clock=clock), token_store=token_store, skew=skew, clock=clock
        )
    if isinstance(parsed, CertificateFields):
        return ClientCertificate(
            parsed.certificate_pem,
            parsed.private_key_pem,
            parsed.private_key_password,
            parsed.ca_bundle_pem,
        )
    if isinstance(parsed, AwsFields):
        role = (
            AssumeRole(
                parsed.role_arn,
                parsed.role_session_name,
                parsed.external_id,
                parsed.duration_seconds,
            )
            if parsed.role_arn
            else None
        )
        return AwsCredentials(
            parsed.access_key_id,
            parsed.secret_access_key,
            parsed.session_token,
            parsed.region,
            role,
        )
    if isinstance(parsed, LdapBindFields):
        return LdapBind(parsed.bind_dn, parsed.password)
    raise CredentialError(AuthFailure.CONFIGURATION, f"no builder for auth type {method.value}")


HTTP_METHODS = frozenset(
    {
        AuthMethod.API_KEY,
        AuthMethod.BASIC,
        AuthMethod.BEARER,
        AuthMethod.OAUTH2_CLIENT_CREDENTIALS,
        AuthMethod.OAUTH2_AUTHORIZATION_CODE,
        AuthMethod.JWT_BEARER,
    }
)


def build_http_auth(
    auth_type: str,
    fields: dict[str, Any] | AuthFields,
    *,
    token_store: TokenStore | None = None,
) -> httpx.Auth:
    """:func:`build_auth` for connectors that need an ``httpx.Auth`` (refuses other types)."""
    credential = build_auth(auth_type, fields, token_store=token_store)
    if not isinstance(credential, httpx.Auth):
        raise CredentialError(
            AuthFailure.CONFIGURATION,
            f"auth type {auth_method(auth_type).value} does not authenticate HTTP requests",
            hint="Choose an authentication method this connector supports.",
        )
    return credential
