"""A real OAuth 2.0 authorization server for tests, built from authlib's server components.

Grants: client credentials, authorization code with PKCE (S256 only), refresh token with
rotation (the old refresh token is revoked when a new one is issued), JWT bearer (RFC 7523).
Endpoints: ``/authorize`` (auto-approves user "alice" unless ``deny_consent``), ``/token``,
``/revoke`` (RFC 7009), and a protected resource ``/api/me`` (``/api/admin`` needs scope
"admin"). Served by ``http.server`` on 127.0.0.1 with a random port; counts token requests
by grant type so tests can prove how many refreshes happened.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from joserfc.jwk import RSAKey

USER = "alice"


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str | None
    grant_types: tuple[str, ...]
    scope: str = "read write"
    public_key: RSAKey | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 8252 section 7.3: any port on the loopback interface.
        parts = urlsplit(redirect_uri)
        return parts.scheme == "http" and parts.hostname == "127.0.0.1"

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client_secret is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class AuthCode(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Token(TokenMixin):  # type: ignore[misc]
    client_id: str
    access_token: str
    refresh_token: str | None
    scope: str
    user: str | None
    expires_at: float
    access_revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - time.time())

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> str | None:
        return self.user


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self, method: str, uri: str, headers: Message, query: dict[str, str], form: dict[str, str]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._args = query
        self._form = form
        self.payload = BasicOAuth2Payload({**query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE required for every authorization request, and only with S256."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required")
        super().validate_code_challenge(grant, redirect_uri)


class OAuthServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(scopes_supported=["read", "write", "admin"])
        self.base_url = ""
        self.lock = threading.RLock()
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, AuthCode] = {}
        self.tokens: list[Token] = []
        self.token_requests: Counter[str] = Counter()
        self.api_requests: Counter[int] = Counter()
        self.access_token_lifetime = 3600
        self.token_delay = 0.0  # seconds the token endpoint takes (widens race windows)
        self.deny_consent = False
        self.api_always_401 = False  # a resource that refuses every token
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda *a, **k: generate_token(42),
                lambda *a, **k: generate_token(48),
                lambda client, grant_type: self.access_token_lifetime,
            ),
        )
        self.register_grant(_ClientCredentials)
        self.register_grant(_AuthorizationCode, [S256Only(required=True)])
        self.register_grant(_RefreshToken)
        self.register_grant(_JwtBearer)
        self.register_endpoint(_Revocation)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/authorize"

    def add_client(self, client: Client) -> Client:
        self.clients[client.client_id] = client
        return client

    # -- authlib hooks ---------------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        with self.lock:
            self.tokens.append(
                Token(
                    client_id=request.client.client_id,
                    access_token=token["access_token"],
                    refresh_token=token.get("refresh_token"),
                    scope=token.get("scope", ""),
                    user=request.user,
                    expires_at=time.time() + token["expires_in"],
                )
            )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        payload = json.dumps(body).encode() if isinstance(body, dict) else (body or "").encode()
        return status, payload, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    # -- helpers for tests -----------------------------------------------------------------

    def find_token(self, *, access: str | None = None, refresh: str | None = None) -> Token | None:
        with self.lock:
            for token in self.tokens:
                if (access and token.access_token == access) or (
                    refresh and token.refresh_token == refresh
                ):
                    return token
        return None

    def expire_access_tokens(self) -> None:
        """Invalidate every access token server-side (the client still thinks they are valid)."""
        with self.lock:
            for token in self.tokens:
                token.expires_at = 0


class _ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class _AuthorizationCode(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.codes[code] = AuthCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.client.get_allowed_scope(request.payload.scope),
            user=request.user,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
        item = self.server.codes.get(code)
        if item and item.client_id == client.client_id and time.time() - item.issued_at < 600:
            return item
        return None

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthCode) -> str:
        return authorization_code.user


class _RefreshToken(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        token = self.server.find_token(refresh=refresh_token)
        if token is not None and not token.refresh_revoked:
            return token
        return None

    def authenticate_user(self, refresh_token: Token) -> str | None:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: Token) -> None:
        refresh_token.refresh_revoked = True
        refresh_token.access_revoked = True


class _JwtBearer(JWTBearerGrant):  # type: ignore[misc]
    def resolve_issuer_client(self, issuer: str) -> Client | None:
        return self.server.clients.get(issuer)

    def resolve_client_public_key(self, client: Client) -> RSAKey:
        assert client.public_key is not None
        return client.public_key

    def authenticate_user(self, subject: str) -> str:
        return subject

    def get_audiences(self) -> list[str]:
        return [self.server.token_url]

    def has_granted_permission(self, client: Client, user: str) -> bool:
        return True


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return self.server.find_token(access=token_string) or self.server.find_token(
            refresh=token_string
        )

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        token.access_revoked = True
        token.refresh_revoked = True


def _handler(server: OAuthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _request(self) -> _Request:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            return _Request(
                self.command,
                server.base_url + self.path,
                self.headers,
                dict(parse_qsl(parts.query)),
                dict(parse_qsl(body)),
            )

        def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/authorize":
                self._authorize()
            elif path.startswith("/api/"):
                self._api(path)
            else:
                self._send(404, b"", [])

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            request = self._request()
            if path == "/token":
                grant_type = request.form.get("grant_type", "")
                with server.lock:
                    server.token_requests[grant_type] += 1
                if server.token_delay:
                    time.sleep(server.token_delay)
                with server.lock:
                    self._send(*server.create_token_response(request))
            elif path == "/revoke":
                with server.lock:
                    self._send(*server.create_endpoint_response("revocation", request))
            else:
                self._send(404, b"", [])

        def _authorize(self) -> None:
            request = self._request()
            try:
                grant = server.get_consent_grant(request, end_user=USER)
            except OAuth2Error as error:
                self._send(400, json.dumps({"error": error.error}).encode(), [])
                return
            user = None if server.deny_consent else USER
            with server.lock:
                self._send(
                    *server.create_authorization_response(request, grant_user=user, grant=grant)
                )

        def _api(self, path: str) -> None:
            header = self.headers.get("Authorization", "")
            token = server.find_token(access=header.removeprefix("Bearer ").strip())
            if server.api_always_401 or token is None or token.is_expired() or token.is_revoked():
                status, body = 401, b"{}"
                headers = [("WWW-Authenticate", 'Bearer error="invalid_token"')]
            elif path == "/api/admin" and "admin" not in token.scope.split():
                status, body = 403, b"{}"
                headers = [("WWW-Authenticate", 'Bearer error="insufficient_scope"')]
            else:
                status = 200
                body = json.dumps(
                    {"user": token.user, "client_id": token.client_id, "scope": token.scope}
                ).encode()
                headers = [("Content-Type", "application/json")]
            # Count before answering: the client may check the counter as soon as it has the reply.
            with server.lock:
                server.api_requests[status] += 1
            self._send(status, body, headers)

    return Handler


@contextlib.contextmanager
def running_oauth_server() -> Iterator[OAuthServer]:
    oauth = OAuthServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(oauth))
    httpd.daemon_threads = True
    oauth.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="oauth-server", daemon=True
    )
    thread.start()
    try:
        yield oauth
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
