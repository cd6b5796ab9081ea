"""Credential failures, classified so the admin learns exactly what to fix.

:class:`CredentialError` is an :class:`connectors.sdk.errors.AuthError`, so the sync engine
treats it like any other auth failure; ``failure`` says which kind, and the default action is
FAIL for everything a retry cannot fix (a revoked token is not retried: no retry storm).
Messages carry the OAuth ``error`` code at most, never a secret or a response body.
"""

from __future__ import annotations

import enum

from connectors.sdk.errors import AuthError, ErrorAction


class AuthFailure(enum.StrEnum):
    BAD_CREDENTIALS = "bad_credentials"  # the secret, key or client id was refused
    REVOKED = "revoked"  # refresh token revoked or expired: sign in again
    MISSING_SCOPE = "missing_scope"  # authenticated, but without the permissions asked for
    UNREACHABLE = "unreachable"  # the token endpoint could not be reached
    SERVER_ERROR = "server_error"  # the token endpoint failed (5xx, temporarily_unavailable)
    INVALID_RESPONSE = "invalid_response"  # not an OAuth token response
    CONFIGURATION = "configuration"  # a field is wrong (URL, grant not enabled for client)
    DENIED = "denied"  # the user declined consent in the browser
    STATE_MISMATCH = "state_mismatch"  # the redirect did not come from our request (CSRF)
    TIMEOUT = "timeout"  # nobody completed the browser sign-in in time
    STORAGE = "storage"  # a rotated token could not be persisted

    @property
    def transient(self) -> bool:
        return self in (AuthFailure.UNREACHABLE, AuthFailure.SERVER_ERROR)


_HINTS: dict[AuthFailure, str] = {
    AuthFailure.BAD_CREDENTIALS: (
        "The authorization server refused the client credentials: check the client id and "
        "secret (or key), and that they belong to this token URL."
    ),
    AuthFailure.REVOKED: (
        "The refresh token was revoked or has expired. Sign in again to authorise the "
        "integration; it stays stopped until then."
    ),
    AuthFailure.MISSING_SCOPE: (
        "The credential is valid but lacks permissions: grant the listed scopes to the client "
        "(or the signed-in user) and try again."
    ),
    AuthFailure.UNREACHABLE: (
        "The token endpoint could not be reached: check the URL, DNS, firewall and proxy."
    ),
    AuthFailure.SERVER_ERROR: "The authorization server failed; it is retried later.",
    AuthFailure.INVALID_RESPONSE: (
        "The token URL did not answer like an OAuth 2.0 token endpoint: check the URL."
    ),
    AuthFailure.CONFIGURATION: "Check the authentication settings of this credential.",
    AuthFailure.DENIED: "Access was declined in the browser; sign in again and approve it.",
    AuthFailure.STATE_MISMATCH: (
        "The sign-in answer did not match the request (possible forgery); sign in again."
    ),
    AuthFailure.TIMEOUT: "The browser sign-in was not completed in time; start it again.",
    AuthFailure.STORAGE: (
        "A new token was issued but could not be saved; check the agent's database. The "
        "previous refresh token may no longer work: sign in again if the next run fails."
    ),
}


class CredentialError(AuthError):
    """A credential could not be used or obtained; ``failure`` says why."""

    def __init__(
        self,
        failure: AuthFailure,
        message: str,
        *,
        hint: str | None = None,
        oauth_error: str | None = None,
    ) -> None:
        action = ErrorAction.RETRY if failure.transient else ErrorAction.FAIL
        super().__init__(message, hint=hint or _HINTS[failure], action=action)
        self.failure = failure
        self.oauth_error = oauth_error

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data["failure"] = self.failure.value
        data["oauth_error"] = self.oauth_error
        return data
