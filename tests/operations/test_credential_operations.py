"""Credentials through the API: test, refresh, and the canary that proves no secret leaks."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from server.api.app import create_app
from server.config import load_settings
from tests.auth.oauth_server import Client, running_oauth_server
from tests.support.api import Api

CANARY = "cnry" + uuid.uuid4().hex


def _fields(auth_type: str, token_url: str = "http://127.0.0.1:9/token") -> dict[str, Any]:
    """A complete set of fields for each method, every secret carrying the canary."""
    secret = f"{CANARY}-{auth_type}"
    return {
        "api_key": {"api_key": secret, "name": "X-Api-Key"},
        "basic": {"username": "svc", "password": secret},
        "bearer": {"token": secret},
        "oauth2_client_credentials": {"token_url": token_url, "client_id": "svc",
                                      "client_secret": secret},
        "oauth2_authorization_code": {"token_url": token_url, "client_id": "desk",
                                      "authorize_url": "http://127.0.0.1:9/authorize",
                                      "client_secret": secret, "refresh_token": secret + "r"},
        "jwt_bearer": {"token_url": token_url, "issuer": "svc@example", "audience": token_url,
                       "private_key": f"-----BEGIN PRIVATE KEY-----\n{secret}\n"
                                      "-----END PRIVATE KEY-----"},
        "certificate": {"certificate_pem": "-----BEGIN CERTIFICATE-----\nAA\n-----END "
                        "CERTIFICATE-----", "private_key_pem": f"-----BEGIN PRIVATE KEY-----\n"
                        f"{secret}\n-----END PRIVATE KEY-----", "private_key_password": secret},
        "aws": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": secret,
                "session_token": secret + "s"},
        "ldap_bind": {"bind_dn": "cn=svc,dc=example,dc=org", "password": secret},
    }[auth_type]


AUTH_TYPES = ["api_key", "basic", "bearer", "oauth2_client_credentials",
              "oauth2_authorization_code", "jwt_bearer", "certificate", "aws", "ldap_bind"]


def test_test_and_refresh_against_a_real_oauth_server(api: Api) -> None:
    with running_oauth_server() as server:
        server.add_client(Client("svc", "s3cret-value-123", ("client_credentials",)))
        good = api.post("/auth-configs", {"name": "cc", "auth_type": "oauth2_client_credentials",
                                          "credentials": {"token_url": server.token_url,
                                                          "client_id": "svc",
                                                          "client_secret": "s3cret-value-123"}})
        assert good.status_code == 201, good.text
        result = api.post(f"/auth-configs/{good.json()['id']}/test").json()
        assert result["ok"] is True, result
        before = server.token_requests["client_credentials"]
        refreshed = api.post(f"/auth-configs/{good.json()['id']}/refresh").json()
        assert refreshed["refreshed"] is True
        assert refreshed["expires_at"] is not None
        assert server.token_requests["client_credentials"] == before + 1
        assert api.get(f"/auth-configs/{good.json()['id']}").json()["last_used"] is not None

        bad = api.post("/auth-configs", {"name": "bad", "auth_type": "oauth2_client_credentials",
                                         "credentials": {"token_url": server.token_url,
                                                         "client_id": "svc",
                                                         "client_secret": "wrong-secret-999"}})
        result = api.post(f"/auth-configs/{bad.json()['id']}/test").json()
        assert result["ok"] is False
        assert result["result"]["failure"] == "bad_credentials"
        assert result["result"]["hint"]
    basic = api.post("/auth-configs", {"name": "b", "auth_type": "basic",
                                       "credentials": {"username": "u", "password": "p" * 12}})
    resp = api.post(f"/auth-configs/{basic.json()['id']}/refresh")
    assert resp.status_code == 409


def test_secrets_never_leak(api: Api, backend: str, db_url: str,
                            caplog: pytest.LogCaptureFixture) -> None:
    """Canary: a unique secret in every credential type appears in no response, no log line
    (at DEBUG), no error, and not in the database in plain text (a pg_dump on PostgreSQL)."""
    caplog.set_level(logging.DEBUG)
    responses: list[str] = []
    for auth_type in AUTH_TYPES:
        resp = api.post("/auth-configs", {"name": f"canary {auth_type}", "auth_type": auth_type,
                                          "credentials": _fields(auth_type)})
        assert resp.status_code == 201, (auth_type, resp.text)
        cid = resp.json()["id"]
        responses += [resp.text, api.get(f"/auth-configs/{cid}").text]
        responses.append(api.put(f"/auth-configs/{cid}", {"credentials": {"x": CANARY}}).text)
        responses.append(api.post(f"/auth-configs/{cid}/test").text)
    responses += [api.get("/auth-configs").text, api.get("/logs", params={"limit": 500}).text]
    for body in responses:
        assert CANARY not in body
    assert CANARY not in caplog.text
    with api.engine.connect() as conn:
        for table in ("authentication_configs", "integration_logs"):
            assert CANARY not in str(conn.execute(text(f"select * from {table}")).all())
    if backend == "postgresql":
        pg_dump = shutil.which("pg_dump")
        assert pg_dump, "pg_dump is needed for the canary check"
        url = make_url(db_url)
        dump = subprocess.run(
            [pg_dump, "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U",
             url.username or "postgres", url.database or ""],
            capture_output=True, text=True, check=True, timeout=120,
            env={**os.environ, "PGPASSWORD": url.password or ""})
        assert "authentication_configs" in dump.stdout
        assert CANARY not in dump.stdout


def _start_web_sign_in(api: Api, server: Any, name: str) -> tuple[dict[str, Any],
                                                                  dict[str, Any]]:
    """A web-client credential on ``server`` and its started browser sign-in, as the browser
    reaches the agent: on 127.0.0.1 (the server accepts loopback redirects only, RFC 8252)."""
    server.add_client(Client("webapp", None, ("authorization_code", "refresh_token")))
    cred = api.post("/auth-configs", {
        "name": name, "auth_type": "oauth2_authorization_code",
        "credentials": {"token_url": server.token_url, "authorize_url": server.authorize_url,
                        "client_id": "webapp", "scope": "read"}}).json()
    start = api.client.post(
        f"http://127.0.0.1/api/integration/auth-configs/{cred['id']}/oauth/start",
        headers=api.headers()).json()
    return cred, start


def test_browser_sign_in_through_the_agent_redirect(api: Api) -> None:
    """Authorization code + PKCE with the agent's own redirect endpoint (sign-in from a
    browser); httpx plays the browser against a real OAuth server on loopback."""
    import httpx  # noqa: PLC0415

    with running_oauth_server() as server:
        cred, start = _start_web_sign_in(api, server, "web sign-in")
        assert start["redirect_uri"] == "http://127.0.0.1/api/integration/oauth/callback"
        consent = httpx.get(start["authorization_url"], follow_redirects=False)
        assert consent.status_code == 302
        back = consent.headers["location"]
        assert back.startswith(start["redirect_uri"])
        forged = api.client.get(back.replace("state=", "state=x"))
        assert forged.status_code == 400
        done = api.client.get(back)
        assert done.status_code == 200, done.text
        assert "Signed in" in done.text
        assert api.client.get(back).status_code == 400  # one-shot
        refreshed = api.post(f"/auth-configs/{cred['id']}/refresh").json()
        assert refreshed["refreshed"] is True  # the stored refresh token works
        assert server.token_requests["refresh_token"] == 1


def test_browser_sign_in_started_on_one_agent_completes_on_another(
    api: Api, engine: Engine, db_url: str, tmp_path: Any
) -> None:
    """Behind a load balancer the provider's redirect may reach another agent: the pending
    sign-in lives in the shared database (sealed, the state only as a hash), works once."""
    import httpx  # noqa: PLC0415

    vault = api.client.app.state.vault  # type: ignore[attr-defined]
    other_app = create_app(load_settings(database_url=db_url, data_dir=tmp_path / "agent-b"),
                           engine, vault=vault)
    with running_oauth_server() as server, TestClient(other_app) as other:
        cred, start = _start_web_sign_in(api, server, "balanced sign-in")
        state = httpx.URL(start["authorization_url"]).params["state"]
        with engine.connect() as conn:
            stored = str(conn.execute(text("select * from oauth_sign_ins")).all())
        assert state not in stored
        assert "webapp" not in stored  # nothing of the sign-in in clear text
        back = httpx.get(start["authorization_url"], follow_redirects=False).headers["location"]
        done = other.get(back)  # agent B answers the redirect agent A started
        assert done.status_code == 200, done.text
        assert api.client.get(back).status_code == 400  # used up, on every agent
        assert other.get(back).status_code == 400
        assert api.post(f"/auth-configs/{cred['id']}/refresh").json()["refreshed"] is True
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from oauth_sign_ins")).scalar() == 0
