"""Prove a credential, and say precisely why it failed.

``check_credential`` asks the token endpoint for a fresh token (OAuth methods) and, with a
``probe_url``, calls the target with the credential. The answer separates what an admin has
to do differently: a refused secret, an unreachable endpoint, a missing scope, a revoked
refresh token. The agent's ``POST /auth-configs/{id}/test`` returns ``result.to_dict()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx

from connectors.sdk.auth.credentials import ClientCertificate
from connectors.sdk.auth.errors import AuthFailure, CredentialError
from connectors.sdk.auth.factory import build_auth
from connectors.sdk.auth.models import AuthFields, auth_method, parse_fields
from connectors.sdk.auth.oauth import OAuth2Auth
from connectors.sdk.auth.tokens import TokenStore

CheckStatus = Literal["ok", "failed", "untested"]


@dataclass(frozen=True)
class CheckResult:
    status: CheckStatus
    message: str
    failure: AuthFailure | None = None
    hint: str | None = None
    granted_scope: tuple[str, ...] = ()
    missing_scope: tuple[str, ...] = ()
    expires_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ok": self.ok,
            "failure": self.failure.value if self.failure else None,
            "message": self.message,
            "hint": self.hint,
            "granted_scope": list(self.granted_scope),
            "missing_scope": list(self.missing_scope),
            "expires_at": self.expires_at,
        }


def _failed(error: CredentialError) -> CheckResult:
    return CheckResult("failed", error.message, error.failure, error.hint)


async def check_credential(
    auth_type: str,
    fields: dict[str, Any] | AuthFields,
    *,
    token_store: TokenStore | None = None,
    probe_url: str | None = None,
    probe_timeout: float = 15.0,
) -> CheckResult:
    """Check ``fields`` of ``auth_type``; never raises for a bad credential.

    With OAuth authorization code, the check refreshes the token; pass the credential's
    ``token_store`` so a rotated refresh token is kept.
    """
    try:
        parsed = parse_fields(auth_type, fields)
        credential = build_auth(auth_method(auth_type), parsed, token_store=token_store)
        expires_at = None
        granted: tuple[str, ...] = ()
        if isinstance(credential, OAuth2Auth):
            token = await credential.aget_token(force=True)
            requested = tuple(getattr(parsed, "scope", ()) or ())
            # RFC 6749 section 5.1: no scope in the answer means the requested scope.
            granted = token.scope or requested
            missing = tuple(s for s in requested if s not in granted)
            expires_at = token.expires_at
            if missing:
                return CheckResult(
                    "failed",
                    f"the token was issued without scope {', '.join(missing)}",
                    AuthFailure.MISSING_SCOPE,
                    "Grant these scopes to the client in the authorization server, then check "
                    "again.",
                    granted,
                    missing,
                    expires_at,
                )
        elif isinstance(credential, ClientCertificate):
            credential.ssl_context()  # the key and certificate load and match
        if probe_url is not None:
            probe = await _probe(credential, probe_url, probe_timeout)
            if probe is not None:
                return probe
        elif not isinstance(credential, OAuth2Auth):
            return CheckResult(
                "untested",
                "the fields are valid; this method can only be proven against the system it "
                "is for: give a probe URL, or run the integration's connection check",
            )
    except CredentialError as error:
        return _failed(error)
    where = " and the probe URL accepted it" if probe_url else ""
    return CheckResult(
        "ok", f"the credential works{where}", granted_scope=granted, expires_at=expires_at
    )


async def _probe(credential: object, url: str, probe_timeout: float) -> CheckResult | None:
    """GET ``url`` with the credential; None when it answered 2xx/3xx."""
    kwargs: dict[str, Any] = {"timeout": probe_timeout}
    if isinstance(credential, httpx.Auth):
        kwargs["auth"] = credential
    elif isinstance(credential, ClientCertificate):
        kwargs["verify"] = credential.ssl_context()
    else:
        return CheckResult(
            "untested",
            "this credential is not used over HTTP; run the integration's connection check",
        )
    parts = httpx.URL(url)
    where = (
        f"{parts.scheme}://{parts.host}{':' + str(parts.port) if parts.port else ''}{parts.path}"
    )
    try:
        async with httpx.AsyncClient(**kwargs) as http:
            response = await http.get(url)
    except CredentialError:
        raise
    except httpx.HTTPError as exc:
        return _failed(
            CredentialError(
                AuthFailure.UNREACHABLE, f"{where} could not be reached ({type(exc).__name__})"
            )
        )
    status = response.status_code
    if status < 400:
        return None
    if status == 401:
        return _failed(
            CredentialError(
                AuthFailure.BAD_CREDENTIALS,
                f"{where} refused the credential (HTTP 401)",
                hint="The target does not accept this credential: check the secret and that "
                "it belongs to this system.",
            )
        )
    if status == 403:
        return _failed(
            CredentialError(
                AuthFailure.MISSING_SCOPE,
                f"{where} accepted the credential but denied access (HTTP 403)",
                hint="Grant the account or client the scopes/permissions the connector needs.",
            )
        )
    failure = AuthFailure.SERVER_ERROR if status >= 500 else AuthFailure.CONFIGURATION
    return _failed(CredentialError(failure, f"{where} answered HTTP {status}"))
