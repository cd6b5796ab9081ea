"""OAuth 2.0 flows against a real authorization server (authlib) on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from connectors.sdk.auth import (
    AuthFailure,
    CredentialError,
    MemoryTokenStore,
    OAuth2Auth,
    OAuth2AuthorizationCodeFields,
    TokenSet,
    arevoke_token,
    build_auth,
    check_credential,
    complete_authorization,
    parse_fields,
    sign_in_loopback,
    start_authorization,
)

from .oauth_server import USER, Client, OAuthServer

SECRET = "canary-client-secret-7d1e4b"


def _service_client(server: OAuthServer, **kw: object) -> dict[str, object]:
    server.add_client(Client("svc", SECRET, ("client_credentials",), **kw))  # type: ignore[arg-type]
    return {
        "token_url": server.token_url,
        "client_id": "svc",
        "client_secret": SECRET,
        "scope": "read",
    }


def _desktop_fields(server: OAuthServer) -> dict[str, object]:
    server.add_client(Client("desktop", None, ("authorization_code", "refresh_token")))
    return {
        "authorize_url": server.authorize_url,
        "token_url": server.token_url,
        "client_id": "desktop",
        "scope": "read write",
    }


class Browser:
    """Stands in for the system browser: follows the authorize redirect to the loopback."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[httpx.Response]] = []

    async def open(self, url: str) -> None:
        async def visit() -> httpx.Response:
            async with httpx.AsyncClient(follow_redirects=True) as browser:
                return await browser.get(url)

        self.tasks.append(asyncio.get_running_loop().create_task(visit()))

    async def pages(self) -> list[httpx.Response]:
        return list(await asyncio.gather(*self.tasks))


async def _sign_in(server: OAuthServer) -> tuple[dict[str, object], MemoryTokenStore]:
    fields = _desktop_fields(server)
    store = MemoryTokenStore()
    browser = Browser()
    await sign_in_loopback(fields, open_browser=browser.open, token_store=store, wait_seconds=10)
    await browser.pages()
    return fields, store


# -- client credentials ------------------------------------------------------------------------


async def test_client_credentials_token_then_api(oauth_server: OAuthServer) -> None:
    auth = build_auth("oauth2_client_credentials", _service_client(oauth_server))
    async with httpx.AsyncClient(auth=auth) as http:
        first = await http.get(f"{oauth_server.base_url}/api/me")
        second = await http.get(f"{oauth_server.base_url}/api/me")
    assert first.status_code == second.status_code == 200
    assert first.json() == {"user": None, "client_id": "svc", "scope": "read"}
    assert oauth_server.token_requests == {"client_credentials": 1}


def test_client_credentials_sync_with_client_secret_post(oauth_server: OAuthServer) -> None:
    fields = {**_service_client(oauth_server), "client_auth_method": "client_secret_post"}
    with httpx.Client(auth=build_auth("oauth2_client_credentials", fields)) as http:
        assert http.get(f"{oauth_server.base_url}/api/me").status_code == 200


async def test_check_says_why(oauth_server: OAuthServer, unused_tcp_port: int) -> None:
    good = _service_client(oauth_server)
    kind = "oauth2_client_credentials"

    ok = await check_credential(kind, good, probe_url=f"{oauth_server.base_url}/api/me")
    assert ok.ok, ok
    assert ok.granted_scope == ("read",)

    bad = await check_credential(kind, {**good, "client_secret": "wrong-secret-value"})
    assert (bad.status, bad.failure) == ("failed", AuthFailure.BAD_CREDENTIALS)
    assert "invalid_client" in bad.message
    assert bad.hint is not None
    assert "client id and secret" in bad.hint

    down = await check_credential(
        kind, {**good, "token_url": f"http://127.0.0.1:{unused_tcp_port}/token"}
    )
    assert down.failure == AuthFailure.UNREACHABLE
    assert "could not be reached" in down.message

    # The server silently drops a scope the client may not have: the check notices.
    narrow = await check_credential(kind, {**good, "scope": "read admin"})
    assert narrow.failure == AuthFailure.MISSING_SCOPE
    assert narrow.missing_scope == ("admin",)

    unknown = await check_credential(kind, {**good, "scope": "bogus"})
    assert unknown.failure == AuthFailure.MISSING_SCOPE
    assert "invalid_scope" in unknown.message

    forbidden = await check_credential(kind, good, probe_url=f"{oauth_server.base_url}/api/admin")
    assert forbidden.failure == AuthFailure.MISSING_SCOPE
    assert "403" in forbidden.message

    for result in (ok, bad, down, narrow, unknown, forbidden):
        assert SECRET not in json.dumps(result.to_dict())


@pytest.fixture
def unused_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- authorization code + PKCE through the loopback redirect -------------------------------------


async def test_auth_code_pkce_through_loopback(oauth_server: OAuthServer) -> None:
    fields = _desktop_fields(oauth_server)
    store = MemoryTokenStore()
    browser = Browser()

    token = await sign_in_loopback(
        fields, open_browser=browser.open, token_store=store, wait_seconds=10
    )
    pages = await browser.pages()

    assert token.refresh_token
    assert store.load() == token
    assert pages[0].status_code == 200
    assert "Signed in" in pages[0].text
    assert str(pages[0].history[0].url).startswith(oauth_server.authorize_url)
    auth = build_auth("oauth2_authorization_code", fields, token_store=store)
    async with httpx.AsyncClient(auth=auth) as http:
        me = await http.get(f"{oauth_server.base_url}/api/me")
    assert me.json()["user"] == USER
    assert oauth_server.token_requests == {"authorization_code": 1}


async def test_loopback_refuses_a_forged_state(oauth_server: OAuthServer) -> None:
    fields = _desktop_fields(oauth_server)

    browser = Browser()

    async def forger(url: str) -> None:
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        await browser.open(f"{redirect}?{urlencode({'code': 'x', 'state': 'forged'})}")

    with pytest.raises(CredentialError) as info:
        await sign_in_loopback(fields, open_browser=forger, wait_seconds=10)
    assert info.value.failure == AuthFailure.STATE_MISMATCH
    assert "Sign-in failed" in (await browser.pages())[0].text
    assert oauth_server.token_requests == {}


async def test_loopback_declined_consent_and_timeout(oauth_server: OAuthServer) -> None:
    fields = _desktop_fields(oauth_server)
    oauth_server.deny_consent = True
    browser = Browser()
    with pytest.raises(CredentialError) as info:
        await sign_in_loopback(fields, open_browser=browser.open, wait_seconds=10)
    assert info.value.failure == AuthFailure.DENIED
    pages = await browser.pages()
    assert "Sign-in failed" in pages[0].text

    with pytest.raises(CredentialError) as info:
        await sign_in_loopback(fields, open_browser=lambda url: None, wait_seconds=0.3)
    assert info.value.failure == AuthFailure.TIMEOUT


# -- refresh -----------------------------------------------------------------------------------


async def test_expired_access_token_is_refreshed_before_use(oauth_server: OAuthServer) -> None:
    oauth_server.access_token_lifetime = 1
    fields, store = await _sign_in(oauth_server)
    auth = build_auth("oauth2_authorization_code", fields, token_store=store, skew=0)
    await asyncio.sleep(1.1)  # really expired, on both sides

    async with httpx.AsyncClient(auth=auth) as http:
        response = await http.get(f"{oauth_server.base_url}/api/me")

    assert response.status_code == 200
    assert oauth_server.token_requests["refresh_token"] == 1
    assert oauth_server.api_requests == {200: 1}  # proactive: no 401 first


async def test_401_refreshes_once_and_retries(oauth_server: OAuthServer) -> None:
    fields, store = await _sign_in(oauth_server)
    auth = build_auth("oauth2_authorization_code", fields, token_store=store)
    oauth_server.expire_access_tokens()  # server-side only: the client believes it is valid

    async with httpx.AsyncClient(auth=auth) as http:
        assert (await http.get(f"{oauth_server.base_url}/api/me")).status_code == 200
        assert oauth_server.api_requests == {401: 1, 200: 1}

        # A resource that refuses every token: one refresh, one retry, then the 401 stands.
        oauth_server.api_always_401 = True
        assert (await http.get(f"{oauth_server.base_url}/api/me")).status_code == 401
    assert oauth_server.token_requests["refresh_token"] == 2
    assert oauth_server.api_requests[401] == 3


async def test_refresh_token_rotation_is_saved(oauth_server: OAuthServer) -> None:
    fields, store = await _sign_in(oauth_server)
    first = store.load()
    assert first is not None
    auth = build_auth("oauth2_authorization_code", fields, token_store=store)
    assert isinstance(auth, OAuth2Auth)

    second = await auth.aget_token(force=True)
    assert second.refresh_token not in (None, first.refresh_token)
    assert store.load() == second
    assert store.saves == 2  # sign-in, refresh

    # The old refresh token is dead at the server; the saved one works.
    async with httpx.AsyncClient() as http:
        old = await http.post(
            oauth_server.token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": first.refresh_token,
                "client_id": "desktop",
            },
        )
    assert old.json()["error"] == "invalid_grant"
    third = await auth.aget_token(force=True)
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


async def test_revoked_refresh_token_fails_once_with_a_hint(oauth_server: OAuthServer) -> None:
    fields, store = await _sign_in(oauth_server)
    token = store.load()
    assert token is not None
    async with httpx.AsyncClient() as http:
        revoked = await http.post(
            f"{oauth_server.base_url}/revoke",
            data={"token": token.refresh_token, "client_id": "desktop"},
        )
    assert revoked.status_code == 200
    store.save(dataclasses.replace(token, expires_at=time.time() - 5))
    oauth_server.token_delay = 0.1
    auth = build_auth("oauth2_authorization_code", fields, token_store=store)

    async with httpx.AsyncClient(auth=auth) as http:
        results = await asyncio.gather(
            *(http.get(f"{oauth_server.base_url}/api/me") for _ in range(10)),
            return_exceptions=True,
        )
        later = await asyncio.gather(
            http.get(f"{oauth_server.base_url}/api/me"), return_exceptions=True
        )

    for result in [*results, *later]:
        assert isinstance(result, CredentialError), result
        assert result.failure == AuthFailure.REVOKED
        assert result.hint is not None
        assert "Sign in again" in result.hint
        assert result.action.value == "fail"
    assert oauth_server.token_requests["refresh_token"] == 1  # no retry storm
    assert oauth_server.api_requests == {}

    # Signing in again (into the same store) heals the same auth object.
    browser = Browser()
    await sign_in_loopback(fields, open_browser=browser.open, token_store=store, wait_seconds=10)
    await browser.pages()
    async with httpx.AsyncClient(auth=auth) as http:
        assert (await http.get(f"{oauth_server.base_url}/api/me")).status_code == 200


# -- single flight -----------------------------------------------------------------------------


async def test_ten_concurrent_expired_requests_cause_one_refresh(
    oauth_server: OAuthServer,
) -> None:
    fields, store = await _sign_in(oauth_server)
    token = store.load()
    assert token is not None
    store.save(dataclasses.replace(token, expires_at=time.time() - 5))
    oauth_server.expire_access_tokens()
    oauth_server.token_delay = 0.2  # the refresh is slow: everyone piles up behind it
    auth = build_auth("oauth2_authorization_code", fields, token_store=store)

    async with httpx.AsyncClient(auth=auth) as http:
        responses = await asyncio.gather(
            *(http.get(f"{oauth_server.base_url}/api/me") for _ in range(10))
        )

    assert [r.status_code for r in responses] == [200] * 10
    assert oauth_server.token_requests["refresh_token"] == 1


async def test_ten_concurrent_401s_cause_one_refresh(oauth_server: OAuthServer) -> None:
    fields, store = await _sign_in(oauth_server)
    auth = build_auth("oauth2_authorization_code", fields, token_store=store)
    oauth_server.expire_access_tokens()
    oauth_server.token_delay = 0.2

    async with httpx.AsyncClient(auth=auth) as http:
        responses = await asyncio.gather(
            *(http.get(f"{oauth_server.base_url}/api/me") for _ in range(10))
        )

    assert [r.status_code for r in responses] == [200] * 10
    assert oauth_server.api_requests[401] == 10
    assert oauth_server.token_requests["refresh_token"] == 1


def test_ten_threads_share_one_refresh(oauth_server: OAuthServer) -> None:
    fields = _service_client(oauth_server)
    oauth_server.token_delay = 0.2
    auth = build_auth("oauth2_client_credentials", fields)
    with httpx.Client(auth=auth) as http, ThreadPoolExecutor(10) as pool:
        codes = list(
            pool.map(lambda _: http.get(f"{oauth_server.base_url}/api/me").status_code, range(10))
        )
    assert codes == [200] * 10
    assert oauth_server.token_requests == {"client_credentials": 1}


# -- JWT bearer (service account) --------------------------------------------------------------


def _service_account(server: OAuthServer, *, register: bool = True) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    email = "sync@project.iam.example.com"
    if register:
        server.add_client(
            Client(email, None, (JWT_GRANT,), public_key=RSAKey.import_key(key.public_key()))
        )
    return {
        "type": "service_account",
        "project_id": "project",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": server.token_url,
    }


JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


async def test_jwt_bearer_with_a_service_account_key(oauth_server: OAuthServer) -> None:
    key_json = json.dumps(_service_account(oauth_server))
    fields = {"service_account_key": key_json, "scope": "read", "subject": "bob"}
    auth = build_auth("jwt_bearer", fields)
    async with httpx.AsyncClient(auth=auth) as http:
        me = await http.get(f"{oauth_server.base_url}/api/me")
    assert me.json() == {
        "user": "bob",
        "client_id": "sync@project.iam.example.com",
        "scope": "read",
    }
    assert oauth_server.token_requests == {JWT_GRANT: 1}

    # Another key for the same account is refused: bad credentials, not "unreachable".
    registered = _service_account(oauth_server, register=False)
    other = {**json.loads(key_json), "private_key": registered["private_key"]}
    result = await check_credential("jwt_bearer", {"service_account_key": json.dumps(other)})
    assert result.failure == AuthFailure.BAD_CREDENTIALS
    assert "invalid_grant" in result.message


async def test_token_store_failure_stops_use_of_the_token(oauth_server: OAuthServer) -> None:
    class BrokenStore(MemoryTokenStore):
        def save(self, token: TokenSet) -> None:
            raise OSError("disk full")

    auth = build_auth(
        "oauth2_client_credentials", _service_client(oauth_server), token_store=BrokenStore()
    )
    async with httpx.AsyncClient(auth=auth) as http:
        with pytest.raises(CredentialError) as info:
            await http.get(f"{oauth_server.base_url}/api/me")
    assert info.value.failure == AuthFailure.STORAGE
    assert oauth_server.api_requests == {}


# -- the agent's redirect endpoint (sync) and sign-out ----------------------------------------


def test_agent_redirect_flow_and_sign_out(oauth_server: OAuthServer) -> None:
    """The agent builds the URL, the browser comes back to its endpoint with code and state."""
    fields = {
        **_desktop_fields(oauth_server),
        "revocation_url": f"{oauth_server.base_url}/revoke",
    }
    parsed = parse_fields("oauth2_authorization_code", fields)
    assert isinstance(parsed, OAuth2AuthorizationCodeFields)
    pending = start_authorization(parsed, "http://127.0.0.1:8765/api/oauth/callback")
    query = parse_qs(urlsplit(pending.url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == [pending.state]

    with httpx.Client() as browser:
        redirect = browser.get(pending.url)
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["Location"])
    assert location.path == "/api/oauth/callback"
    params = {k: v[0] for k, v in parse_qs(location.query).items()}

    store = MemoryTokenStore()
    token = complete_authorization(parsed, pending, params, token_store=store)
    assert store.load() == token
    # The code is single-use, and the verifier is bound to it.
    with pytest.raises(CredentialError) as info:
        complete_authorization(parsed, pending, params)
    assert info.value.failure == AuthFailure.DENIED

    asyncio.run(arevoke_token(parsed, token))
    auth = build_auth("oauth2_authorization_code", parsed, token_store=store)
    with httpx.Client(auth=auth) as http, pytest.raises(CredentialError) as info:
        http.get(f"{oauth_server.base_url}/api/me")
    # The access token died with the grant: 401, one refresh attempt, refused as revoked.
    assert info.value.failure == AuthFailure.REVOKED
    assert oauth_server.api_requests == {401: 1}
