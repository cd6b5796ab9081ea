"""OAuth 2.0 client side: token requests, their failures classified, and an ``httpx.Auth``
that keeps a valid access token with exactly one refresh for many concurrent requests.

Request building uses authlib's RFC helpers (PKCE S256, authorization URLs, JWT bearer
assertions); the HTTP exchange uses httpx directly, so it is the same in sync and async code.

Example::

    auth = OAuth2Auth(ClientCredentialsGrant(fields))
    async with httpx.AsyncClient(auth=auth) as http:
        await http.get("https://api.example.com/items")
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, Protocol
from urllib.parse import quote, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7523.assertion import sign_jwt_bearer_assertion
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwk
from joserfc.errors import JoseError

from connectors.sdk.auth.errors import AuthFailure, CredentialError
from connectors.sdk.auth.models import (
    JwtBearerFields,
    OAuth2AuthorizationCodeFields,
    OAuth2ClientCredentialsFields,
)
from connectors.sdk.auth.tokens import TokenSet, TokenStore
from connectors.sdk.redact import register_secret

log = logging.getLogger("simpletrust.auth")

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TIMEOUT = 30.0
#: Refresh this many seconds before ``expires_at`` so a request never carries a dying token.
DEFAULT_SKEW = 60.0
#: After an unreachable/failing token endpoint, answer waiting requests with the same error
#: for this long instead of each of them trying again.
TRANSIENT_BACKOFF = 5.0

ClientAuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]


@dataclass(frozen=True)
class ClientAuth:
    """How the client proves itself at the token endpoint (RFC 6749 section 2.3)."""

    client_id: str | None
    client_secret: str | None = field(default=None, repr=False)
    method: ClientAuthMethod = "client_secret_basic"

    def apply(self, form: dict[str, str], headers: dict[str, str]) -> None:
        if self.client_id is None:
            return
        if self.client_secret is None or self.method == "none":
            form["client_id"] = self.client_id
        elif self.method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret
        else:  # Basic, with both parts form-encoded first (section 2.3.1)
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()


@dataclass(frozen=True)
class TokenRequest:
    url: str
    form: dict[str, str] = field(repr=False)
    client: ClientAuth
    #: The grant, for classifying ``invalid_grant`` (revoked refresh vs refused assertion).
    grant: str
    requested_scope: tuple[str, ...] = ()
    previous_refresh: str | None = field(default=None, repr=False)

    def build(self) -> httpx.Request:
        form = dict(self.form)
        headers = {"Accept": "application/json"}
        self.client.apply(form, headers)
        return httpx.Request("POST", self.url, data=form, headers=headers)

    @property
    def where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"


# -- responses --------------------------------------------------------------------------------

_OAUTH_ERRORS: dict[str, AuthFailure] = {
    "invalid_client": AuthFailure.BAD_CREDENTIALS,
    "unauthorized_client": AuthFailure.CONFIGURATION,
    "unsupported_grant_type": AuthFailure.CONFIGURATION,
    "invalid_request": AuthFailure.CONFIGURATION,
    "invalid_scope": AuthFailure.MISSING_SCOPE,
    "insufficient_scope": AuthFailure.MISSING_SCOPE,
    "access_denied": AuthFailure.DENIED,
    "server_error": AuthFailure.SERVER_ERROR,
    "temporarily_unavailable": AuthFailure.SERVER_ERROR,
}


def _invalid_grant(grant: str) -> AuthFailure:
    if grant == "refresh_token":
        return AuthFailure.REVOKED
    if grant == "authorization_code":
        return AuthFailure.DENIED  # code expired, reused, or PKCE verifier refused
    return AuthFailure.BAD_CREDENTIALS  # assertion or key refused


def parse_token_response(response: httpx.Response, request: TokenRequest, now: float) -> TokenSet:
    """Turn a token endpoint answer into a TokenSet, or a classified CredentialError."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        payload = {}
    status = response.status_code
    if status == 200 and isinstance(payload.get("access_token"), str):
        token = TokenSet.from_response(payload, now=now, previous_refresh=request.previous_refresh)
        register_secret(token.access_token)
        if token.refresh_token:
            register_secret(token.refresh_token)
        return token
    error = payload.get("error") if isinstance(payload.get("error"), str) else None
    if error:
        failure = (
            _invalid_grant(request.grant)
            if error == "invalid_grant"
            else _OAUTH_ERRORS.get(error, AuthFailure.BAD_CREDENTIALS)
        )
        log.debug(
            "token endpoint %s refused %s: %s (%s)",
            request.where,
            request.grant,
            error,
            str(payload.get("error_description", ""))[:200],
        )
        raise CredentialError(
            failure,
            f"{request.where} refused the {request.grant} request: {error} (HTTP {status})",
            oauth_error=error,
        )
    if status >= 500:
        failure = AuthFailure.SERVER_ERROR
    elif status == 401:
        failure = AuthFailure.BAD_CREDENTIALS
    else:
        failure = AuthFailure.INVALID_RESPONSE
    raise CredentialError(
        failure, f"{request.where} answered the {request.grant} request with HTTP {status}"
    )


def _unreachable(request: TokenRequest, exc: httpx.HTTPError) -> CredentialError:
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
    return CredentialError(
        AuthFailure.UNREACHABLE, f"{request.where} {what} ({type(exc).__name__})"
    )


def fetch_token(
    request: TokenRequest,
    *,
    client: httpx.Client | None = None,
    clock: Callable[[], float] = time.time,
) -> TokenSet:
    """POST a token request (sync). Raises :class:`CredentialError`, classified."""
    now = clock()
    try:
        if client is not None:
            response = client.send(request.build())
        else:
            with httpx.Client(timeout=DEFAULT_TIMEOUT) as own:
                response = own.send(request.build())
    except httpx.HTTPError as exc:
        raise _unreachable(request, exc) from None
    return parse_token_response(response, request, now)


async def afetch_token(
    request: TokenRequest,
    *,
    client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> TokenSet:
    """POST a token request (async). Raises :class:`CredentialError`, classified."""
    now = clock()
    try:
        if client is not None:
            response = await client.send(request.build())
        else:
            async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as own:
                response = await own.send(request.build())
    except httpx.HTTPError as exc:
        raise _unreachable(request, exc) from None
    return parse_token_response(response, request, now)


# -- grants -----------------------------------------------------------------------------------


class TokenGrant(Protocol):
    """Builds the token request that obtains a new access token."""

    def token_request(self, current: TokenSet | None) -> TokenRequest: ...


def _scope_form(scope: list[str] | tuple[str, ...]) -> dict[str, str]:
    return {"scope": " ".join(scope)} if scope else {}


@dataclass(frozen=True)
class ClientCredentialsGrant:
    fields: OAuth2ClientCredentialsFields

    def token_request(self, current: TokenSet | None) -> TokenRequest:
        f = self.fields
        return TokenRequest(
            url=f.token_url,
            form={"grant_type": "client_credentials", **_scope_form(f.scope), **f.extra_params},
            client=ClientAuth(
                f.client_id, f.client_secret.get_secret_value(), f.client_auth_method
            ),
            grant="client_credentials",
            requested_scope=tuple(f.scope),
        )


@dataclass(frozen=True)
class RefreshTokenGrant:
    token_url: str
    client: ClientAuth
    scope: tuple[str, ...] = ()

    @classmethod
    def for_fields(cls, fields: OAuth2AuthorizationCodeFields) -> RefreshTokenGrant:
        return cls(fields.token_url, _code_client(fields), tuple(fields.scope))

    def token_request(self, current: TokenSet | None) -> TokenRequest:
        if current is None or not current.refresh_token:
            raise CredentialError(
                AuthFailure.REVOKED,
                "this credential has no refresh token: it was never signed in",
                hint="Sign in to authorise the integration.",
            )
        return TokenRequest(
            url=self.token_url,
            form={"grant_type": "refresh_token", "refresh_token": current.refresh_token},
            client=self.client,
            grant="refresh_token",
            requested_scope=self.scope,
            previous_refresh=current.refresh_token,
        )


def _code_client(fields: OAuth2AuthorizationCodeFields) -> ClientAuth:
    secret = fields.client_secret.get_secret_value() if fields.client_secret else None
    return ClientAuth(fields.client_id, secret, fields.client_auth_method if secret else "none")


def _signing_key(fields: JwtBearerFields) -> jwk.RSAKey | jwk.ECKey:
    assert fields.private_key is not None  # the model requires it
    key_type: Literal["RSA", "EC"] = "EC" if fields.algorithm.startswith("ES") else "RSA"
    try:
        key = jwk.import_key(fields.private_key.get_secret_value(), key_type)
    except (JoseError, ValueError, TypeError):
        raise CredentialError(
            AuthFailure.CONFIGURATION,
            f"private_key: not a valid {key_type} private key in PEM format",
        ) from None
    if not isinstance(key, jwk.RSAKey | jwk.ECKey) or not key.is_private:
        raise CredentialError(
            AuthFailure.CONFIGURATION, f"private_key: not a {key_type} private key"
        )
    return key


@dataclass(frozen=True)
class JwtBearerGrant:
    """RFC 7523 section 2.1: a fresh signed assertion for every token request."""

    fields: JwtBearerFields
    clock: Callable[[], float] = time.time

    def token_request(self, current: TokenSet | None) -> TokenRequest:
        f = self.fields
        assert f.token_url is not None  # the model requires it
        assert f.issuer is not None
        header: dict[str, Any] = {"alg": f.algorithm, "typ": "JWT"}
        if f.private_key_id:
            header["kid"] = f.private_key_id
        claims = {"scope": " ".join(f.scope)} if f.scope else {}  # Google reads it here
        now = int(self.clock())
        assertion = sign_jwt_bearer_assertion(
            _signing_key(f),
            issuer=f.issuer,
            audience=f.audience or f.token_url,
            subject=f.subject,
            issued_at=now,
            expires_at=now + f.lifetime,
            claims=claims,
            header=header,
        )
        return TokenRequest(
            url=f.token_url,
            form={"grant_type": JWT_BEARER_GRANT, "assertion": assertion, **_scope_form(f.scope)},
            client=ClientAuth(None),
            grant="jwt_bearer",
            requested_scope=tuple(f.scope),
        )


# -- authorization code with PKCE ---------------------------------------------------------------


@dataclass(frozen=True)
class PendingAuthorization:
    """One browser sign-in in progress: open ``url``, then complete with the redirect."""

    url: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str


def start_authorization(
    fields: OAuth2AuthorizationCodeFields,
    redirect_uri: str,
    *,
    extra_params: Mapping[str, str] | None = None,
) -> PendingAuthorization:
    """Build the authorization URL with PKCE S256 and a fresh ``state``."""
    verifier = generate_token(64)
    state = generate_token(32)
    url = prepare_grant_uri(
        fields.authorize_url,
        fields.client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=fields.scope or None,
        state=state,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
        **dict(extra_params or {}),
    )
    return PendingAuthorization(url, state, verifier, redirect_uri)


def code_exchange_request(
    fields: OAuth2AuthorizationCodeFields,
    pending: PendingAuthorization,
    callback_params: Mapping[str, str],
) -> TokenRequest:
    """Check the redirect's ``state`` and ``error``, then build the code exchange request."""
    error = callback_params.get("error")
    state = callback_params.get("state") or ""
    if not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise CredentialError(
            AuthFailure.STATE_MISMATCH, "the sign-in redirect carried an unexpected state"
        )
    if error:
        failure = AuthFailure.DENIED if error == "access_denied" else AuthFailure.CONFIGURATION
        raise CredentialError(
            failure, f"the authorization server refused the sign-in: {error}", oauth_error=error
        )
    code = callback_params.get("code")
    if not code:
        raise CredentialError(
            AuthFailure.INVALID_RESPONSE, "the sign-in redirect carried no authorization code"
        )
    return TokenRequest(
        url=fields.token_url,
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.code_verifier,
        },
        client=_code_client(fields),
        grant="authorization_code",
        requested_scope=tuple(fields.scope),
    )


async def acomplete_authorization(
    fields: OAuth2AuthorizationCodeFields,
    pending: PendingAuthorization,
    callback_params: Mapping[str, str],
    *,
    token_store: TokenStore | None = None,
    client: httpx.AsyncClient | None = None,
) -> TokenSet:
    """Exchange the code from the redirect for tokens (and save them, if a store is given)."""
    token = await afetch_token(
        code_exchange_request(fields, pending, callback_params), client=client
    )
    if token_store is not None:
        token_store.save(token)
    return token


def complete_authorization(
    fields: OAuth2AuthorizationCodeFields,
    pending: PendingAuthorization,
    callback_params: Mapping[str, str],
    *,
    token_store: TokenStore | None = None,
    client: httpx.Client | None = None,
) -> TokenSet:
    """Sync twin of :func:`acomplete_authorization` (the agent's redirect endpoint)."""
    token = fetch_token(code_exchange_request(fields, pending, callback_params), client=client)
    if token_store is not None:
        token_store.save(token)
    return token


async def arevoke_token(
    fields: OAuth2AuthorizationCodeFields,
    token: TokenSet,
    *,
    client: httpx.AsyncClient | None = None,
) -> None:
    """Sign out: revoke the refresh token (RFC 7009) at ``fields.revocation_url``.

    Revoking the refresh token ends the grant; providers revoke its access tokens with it.
    """
    if not fields.revocation_url:
        raise CredentialError(
            AuthFailure.CONFIGURATION, "revocation_url is not set for this credential"
        )
    value, hint = (
        (token.refresh_token, "refresh_token")
        if token.refresh_token
        else (token.access_token, "access_token")
    )
    request = TokenRequest(
        url=fields.revocation_url,
        form={"token": value, "token_type_hint": hint},
        client=_code_client(fields),
        grant="revocation",
    )
    try:
        if client is not None:
            response = await client.send(request.build())
        else:
            async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as own:
                response = await own.send(request.build())
    except httpx.HTTPError as exc:
        raise _unreachable(request, exc) from None
    if response.status_code != 200:  # RFC 7009 section 2.2: 200 even for unknown tokens
        failure = (
            AuthFailure.SERVER_ERROR
            if response.status_code >= 500
            else (AuthFailure.BAD_CREDENTIALS)
        )
        raise CredentialError(
            failure, f"{request.where} refused the revocation (HTTP {response.status_code})"
        )


# -- the httpx.Auth ---------------------------------------------------------------------------


class OAuth2Auth(httpx.Auth):
    """Bearer tokens from a grant, refreshed before expiry and once on a 401.

    Single flight: the check-and-fetch runs under a lock (a ``threading.Lock`` for sync
    clients, an ``asyncio.Lock`` for async ones), and a request that waited re-checks the
    token before fetching, so N concurrent requests that find the token expired cause one
    token request. A permanent failure (revoked refresh token, refused secret) is remembered:
    later requests raise it again without calling the token endpoint.

    Args:
        grant: obtains a token without a refresh token (client credentials, JWT bearer);
            None for the authorization code flow, whose first token comes from a sign-in.
        refresh: refreshes with the current refresh token, when there is one.
        token_store: loads the last token on first use and saves every new one (atomically,
            before it is used: a rotated refresh token must not be lost).
        skew: refresh this many seconds before expiry.
        initial_token: used when the store holds nothing yet (e.g. a refresh token that was
            entered by hand, with no access token).
    """

    requires_request_body = True

    def __init__(
        self,
        grant: TokenGrant | None,
        *,
        refresh: RefreshTokenGrant | None = None,
        token_store: TokenStore | None = None,
        skew: float = DEFAULT_SKEW,
        clock: Callable[[], float] = time.time,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        initial_token: TokenSet | None = None,
    ) -> None:
        self._grant = grant
        self._initial = initial_token
        self._refresh = refresh
        self._store = token_store
        self._skew = skew
        self._clock = clock
        self._client = client
        self._async_client = async_client
        self._token: TokenSet | None = None if token_store is not None else initial_token
        self._loaded = token_store is None
        self._failure: CredentialError | None = None
        self._transient: tuple[CredentialError, float] | None = None
        self._thread_lock = threading.Lock()
        self._async_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    # -- public ------------------------------------------------------------------------------

    @property
    def token(self) -> TokenSet | None:
        return self._current()

    def reset(self) -> None:
        """Forget a remembered failure (after the user signed in again)."""
        self._failure = None
        self._transient = None
        self._loaded = self._store is None

    def get_token(self, *, force: bool = False) -> TokenSet:
        """A valid token (sync); ``force`` refreshes even if the current one looks valid."""
        return self._sync_get(force=force, stale=self._current() if force else None)

    async def aget_token(self, *, force: bool = False) -> TokenSet:
        """A valid token (async); ``force`` refreshes even if the current one looks valid."""
        return await self._async_get(force=force, stale=self._current() if force else None)

    # -- httpx hooks -------------------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._sync_get(force=False, stale=None)
        _apply(request, token)
        response = yield request
        if response.status_code == 401 and self._can_renew():
            _apply(request, self._sync_get(force=True, stale=token))
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._async_get(force=False, stale=None)
        _apply(request, token)
        response = yield request
        if response.status_code == 401 and self._can_renew():
            _apply(request, await self._async_get(force=True, stale=token))
            yield request

    # -- single flight -----------------------------------------------------------------------

    def _sync_get(self, *, force: bool, stale: TokenSet | None) -> TokenSet:
        token = None if force else self._fresh()
        if token is not None:
            return token
        with self._thread_lock:
            token = self._usable(force=force, stale=stale)
            if token is not None:
                return token
            request = self._plan()
            try:
                new = fetch_token(request, client=self._client, clock=self._clock)
            except CredentialError as exc:
                self._remember(exc)
            return self._accept(new)

    async def _async_get(self, *, force: bool, stale: TokenSet | None) -> TokenSet:
        token = None if force else self._fresh()
        if token is not None:
            return token
        async with self._async_lock():
            token = self._usable(force=force, stale=stale)
            if token is not None:
                return token
            request = self._plan()
            try:
                new = await afetch_token(request, client=self._async_client, clock=self._clock)
            except CredentialError as exc:
                self._remember(exc)
            return self._accept(new)

    def _async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._async_locks.get(loop)
        if lock is None:
            # One lock per event loop (an asyncio.Lock belongs to the loop that first uses it).
            self._async_locks = {k: v for k, v in self._async_locks.items() if not k.is_closed()}
            lock = self._async_locks[loop] = asyncio.Lock()
        return lock

    def _current(self) -> TokenSet | None:
        if not self._loaded and self._store is not None:
            self._token = self._store.load() or self._initial
            self._loaded = True
        return self._token

    def _fresh(self) -> TokenSet | None:
        token = self._current()
        if token is not None and not token.expires_within(self._skew, now=self._clock()):
            return token
        return None

    def _usable(self, *, force: bool, stale: TokenSet | None) -> TokenSet | None:
        """Under the lock: a token someone else just obtained, or None to fetch one."""
        token = self._current()
        if force:
            if token is not None and stale is not None and token.access_token != stale.access_token:
                return token  # refreshed by a request that got its 401 first
            if self._store is not None:  # refreshed by another process (e.g. the API)?
                stored = self._store.load()
                if (
                    stored is not None
                    and stale is not None
                    and stored.access_token != stale.access_token
                ):
                    self._token = stored
                    return stored
        elif (token := self._fresh()) is not None:
            return token
        if self._failure is not None:
            if not self._store_changed():
                raise _again(self._failure)
            self._failure = None  # someone signed in again (or re-entered the secret)
            if (token := self._fresh()) is not None:
                return token
        if self._transient is not None and self._clock() < self._transient[1]:
            raise _again(self._transient[0])
        return None

    def _store_changed(self) -> bool:
        """Reload the store; True (and adopt it) if it holds another token than ours."""
        if self._store is None:
            return False
        stored = self._store.load()
        if stored is None or stored == self._token:
            return False
        self._token = stored
        return True

    def _plan(self) -> TokenRequest:
        token = self._current()
        if self._refresh is not None and token is not None and token.refresh_token:
            return self._refresh.token_request(token)
        if self._grant is not None:
            return self._grant.token_request(token)
        if self._refresh is not None:
            return self._refresh.token_request(token)  # raises: never signed in
        raise CredentialError(AuthFailure.CONFIGURATION, "no way to obtain a token")

    def _can_renew(self) -> bool:
        token = self._current()
        return self._grant is not None or (
            self._refresh is not None and token is not None and bool(token.refresh_token)
        )

    def _remember(self, exc: CredentialError) -> NoReturn:
        if exc.failure.transient:
            self._transient = (exc, self._clock() + TRANSIENT_BACKOFF)
        else:
            self._failure = exc
        log.warning("credential error: %s", exc)
        raise exc

    def _accept(self, new: TokenSet) -> TokenSet:
        self._transient = None
        if self._store is not None:
            try:
                self._store.save(new)
            except Exception as exc:  # noqa: BLE001 - any store failure: do not use the token
                error = CredentialError(
                    AuthFailure.STORAGE,
                    f"a new token could not be saved ({type(exc).__name__})",
                )
                self._failure = error
                raise error from None
        self._token = new
        return new


def _again(exc: CredentialError) -> CredentialError:
    """A fresh copy to raise (one exception object must not be raised by many tasks)."""
    return CredentialError(exc.failure, exc.message, hint=exc.hint, oauth_error=exc.oauth_error)


def _apply(request: httpx.Request, token: TokenSet) -> None:
    kind = "Bearer" if token.token_type.lower() == "bearer" else token.token_type
    request.headers["Authorization"] = f"{kind} {token.access_token}"
