"""GitHub App authentication: a JWT signed with the app's key buys an installation token.

GitHub's flow (docs: "Authenticating as a GitHub App installation"):

1. sign a JWT with the app's private key (RS256; ``iss`` = the App ID, ``iat`` 60 s in the
   past against clock drift, ``exp`` at most 10 minutes later);
2. ``POST /app/installations/{installation_id}/access_tokens`` with ``Authorization: Bearer
   <JWT>`` answers ``201 {"token": "ghs_...", "expires_at": "..."}``;
3. call the API with ``Authorization: Bearer <token>`` until shortly before ``expires_at``.

:class:`GitHubAppAuth` does this as an ``httpx.Auth``: the token request goes through the same
client (so the address guard applies), one token request serves any number of concurrent
requests, and a 401 on a cached token fetches a new one once.

Credentials arrive as the ``jwt_bearer`` auth type's fields: ``issuer`` = App ID,
``private_key`` = the app's PEM key, ``token_url`` = the installation's access token URL::

    auth = github_app_auth({"issuer": "424242", "private_key": pem,
                            "token_url": "https://api.github.com/app/installations/7/access_tokens"})
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from datetime import datetime
from typing import Any

import httpx
from joserfc import jwk, jwt
from joserfc.errors import JoseError

from connectors.sdk.auth import (
    AuthFailure,
    CredentialError,
    JwtBearerFields,
    build_http_auth,
    parse_fields,
)
from connectors.sdk.auth.tokens import TokenStore
from connectors.sdk.errors import error_for_response
from connectors.sdk.redact import register_secret

__all__ = ["GitHubAppAuth", "build_credentials", "github_app_auth"]

API_VERSION = "2022-11-28"
#: Renew this many seconds before the installation token expires.
TOKEN_SKEW_S = 120.0
JWT_LIFETIME_S = 540  # GitHub refuses more than 600 s; leave room for clock drift
JWT_BACKDATE_S = 60
_TOKEN_URL = re.compile(r"^https?://.+/app/installations/(\d+)/access_tokens$")


class GitHubAppAuth(httpx.Auth):
    """``httpx.Auth`` for a GitHub App installation (see the module docstring).

    Args:
        app_id: the App ID (or its client ID), the JWT's ``iss``.
        private_key_pem: the app's private key (PEM, RSA).
        token_url: ``{api}/app/installations/{installation_id}/access_tokens``.
        clock: time source (tests).
    """

    def __init__(
        self,
        app_id: str,
        private_key_pem: str,
        token_url: str,
        *,
        api_version: str = API_VERSION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not _TOKEN_URL.match(token_url):
            raise CredentialError(
                AuthFailure.CONFIGURATION,
                "token_url: must be the installation's access token URL, "
                "https://<api>/app/installations/<installation id>/access_tokens",
            )
        if not app_id.strip():
            raise CredentialError(AuthFailure.CONFIGURATION, "issuer: the App ID is required")
        try:
            self._key = jwk.import_key(private_key_pem, "RSA")
        except (JoseError, ValueError, TypeError):
            raise CredentialError(
                AuthFailure.CONFIGURATION,
                "private_key: not an RSA private key in PEM format",
                hint="Paste the whole .pem file GitHub generated for the app.",
            ) from None
        self.app_id = app_id.strip()
        self.token_url = token_url
        self.api_version = api_version
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._thread_lock = threading.Lock()
        self._async_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self.tokens_fetched = 0

    def __repr__(self) -> str:
        return f"GitHubAppAuth(app_id={self.app_id!r})"

    # ---- token handling ---------------------------------------------------------------------

    def _fresh(self) -> str | None:
        if self._token and self._clock() < self._expires_at - TOKEN_SKEW_S:
            return self._token
        return None

    def app_jwt(self) -> str:
        """A JWT authenticating as the app itself (valid 9 minutes)."""
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE_S, "exp": now + JWT_LIFETIME_S, "iss": self.app_id}
        return jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, self._key)

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            headers={
                "Authorization": f"Bearer {self.app_jwt()}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": self.api_version,
            },
        )

    def _accept(self, response: httpx.Response) -> str:
        if response.status_code == 401:
            raise CredentialError(
                AuthFailure.BAD_CREDENTIALS,
                "GitHub refused the app's JWT (401) when creating an installation token.",
                hint="Check the App ID and that the private key belongs to this app and was "
                "not revoked; also check this machine's clock.",
            )
        if response.status_code == 404:
            raise CredentialError(
                AuthFailure.CONFIGURATION,
                "GitHub does not know this app installation (404).",
                hint="Check the installation id in the token URL; the app may have been "
                "uninstalled from the organization.",
            )
        if response.status_code != 201:
            raise error_for_response(response)
        try:
            body = response.json()
            token = str(body["token"])
            expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            raise CredentialError(
                AuthFailure.INVALID_RESPONSE,
                "GitHub's installation token answer could not be read.",
            ) from None
        register_secret(token)
        self._token = token
        self._expires_at = expires.timestamp()
        self.tokens_fetched += 1
        return token

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token = None

    def _async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._async_locks.get(loop)
        if lock is None:
            self._async_locks = {k: v for k, v in self._async_locks.items() if not k.is_closed()}
            lock = self._async_locks[loop] = asyncio.Lock()
        return lock

    # ---- httpx hooks --------------------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        for attempt in range(2):
            token = self._fresh()
            if token is None:
                with self._thread_lock:
                    token = self._fresh()
                    if token is None:
                        answer = yield self._token_request()
                        answer.read()
                        token = self._accept(answer)
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code != 401 or attempt:
                return
            self._forget(token)  # revoked or expired early: one new token, one retry

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        for attempt in range(2):
            token = self._fresh()
            if token is None:
                async with self._async_lock():
                    token = self._fresh()
                    if token is None:
                        answer = yield self._token_request()
                        await answer.aread()
                        token = self._accept(answer)
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code != 401 or attempt:
                return
            self._forget(token)


def github_app_auth(
    fields: Mapping[str, Any] | JwtBearerFields, *, api_version: str = API_VERSION
) -> GitHubAppAuth:
    """A :class:`GitHubAppAuth` from ``jwt_bearer`` fields (issuer, private_key, token_url)."""
    parsed = parse_fields("jwt_bearer", dict(fields) if isinstance(fields, Mapping) else fields)
    assert isinstance(parsed, JwtBearerFields)
    # The field model's validator guarantees these three.
    assert parsed.private_key is not None
    assert parsed.issuer
    assert parsed.token_url
    register_secret(parsed.private_key.get_secret_value())
    return GitHubAppAuth(
        parsed.issuer,
        parsed.private_key.get_secret_value(),
        parsed.token_url,
        api_version=api_version,
    )


def build_credentials(
    auth_type: str,
    fields: Mapping[str, Any],
    *,
    token_store: TokenStore | None = None,
) -> httpx.Auth:
    """The GitHub connector's credential: App auth for ``jwt_bearer``, else the SDK's.

    ``bearer`` is a personal access token (classic or fine-grained); ``oauth2_authorization_code``
    is a GitHub App user token or an OAuth app token with its refresh token.
    """
    if getattr(auth_type, "value", auth_type) == "jwt_bearer":
        return github_app_auth(fields)
    return build_http_auth(auth_type, dict(fields), token_store=token_store)
