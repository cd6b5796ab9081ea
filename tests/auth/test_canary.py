"""Canary: unique secrets pushed through every flow never reach the logs, even at DEBUG.

No redaction filter is installed here: this proves our code never logs secrets or tokens in
the first place (the filter is the second line of defence, tested in test_redact.py).
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import httpx
import pytest

from connectors.sdk.auth import (
    CredentialError,
    MemoryTokenStore,
    build_auth,
    check_credential,
)
from server.db.engine import make_engine, make_session_factory
from server.db.models import AuthenticationConfig, AuthType, Base
from server.vault import MasterKey, Vault, WrongMasterKey, rotate_master_key

from .oauth_server import Client, OAuthServer
from .test_oauth import _service_account, _sign_in

CANARY = f"canary-{uuid.uuid4().hex}"


@pytest.mark.usefixtures("fail_keyring")
async def test_no_secret_or_token_in_debug_logs(
    oauth_server: OAuthServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    oauth_server.add_client(Client("svc", CANARY, ("client_credentials",)))
    cc = {"token_url": oauth_server.token_url, "client_id": "svc", "client_secret": CANARY}
    sa = _service_account(oauth_server)

    async with httpx.AsyncClient(auth=build_auth("oauth2_client_credentials", cc)) as http:
        await http.get(f"{oauth_server.base_url}/api/me")
    await check_credential("oauth2_client_credentials", {**cc, "client_secret": CANARY + "x"})
    fields, store = await _sign_in(oauth_server)
    auth = build_auth("oauth2_authorization_code", fields, token_store=store)
    oauth_server.expire_access_tokens()
    async with httpx.AsyncClient(auth=auth) as http:
        await http.get(f"{oauth_server.base_url}/api/me")
    async with httpx.AsyncClient(
        auth=build_auth("jwt_bearer", {"service_account_key": json.dumps(sa)})
    ) as http:
        await http.get(f"{oauth_server.base_url}/api/me")
    never_signed_in = build_auth(
        "oauth2_authorization_code", fields, token_store=MemoryTokenStore()
    )
    with pytest.raises(CredentialError):
        await never_signed_in.aget_token()

    # The vault and a rotation, with the same canary inside the sealed secrets.
    master = MasterKey.generate()
    vault = Vault.load(
        tmp_path / "data", create=True, environ={"SIMPLETRUST_MASTER_KEY": master.to_text()}
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'agent.db'}")
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    with sessions() as session:
        record_id = uuid.uuid4()
        session.add(
            AuthenticationConfig(
                id=record_id,
                name="c",
                auth_type=AuthType.BASIC,
                credentials=vault.seal(str(record_id), {"password": CANARY}),
            )
        )
        session.commit()
    new = MasterKey.generate()
    rotate_master_key(
        sessions,
        Vault.load(
            tmp_path / "data",
            create=False,
            environ={
                "SIMPLETRUST_MASTER_KEY": master.to_text(),
                "SIMPLETRUST_NEW_MASTER_KEY": new.to_text(),
            },
        ),
        new,
    )
    with pytest.raises(WrongMasterKey):
        Vault.load(
            tmp_path / "data",
            create=False,
            environ={"SIMPLETRUST_MASTER_KEY": MasterKey.generate().to_text()},
        )
    raw = (tmp_path / "agent.db").read_bytes()
    engine.dispose()

    issued = [t.access_token for t in oauth_server.tokens] + [
        t.refresh_token for t in oauth_server.tokens if t.refresh_token
    ]
    assert len(issued) >= 4
    # Client side only: the test's authorization server (authlib) logs what it issues.
    text = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith("authlib")
    )
    assert "HTTP Request" in text  # DEBUG logging really ran
    for secret in [
        CANARY,
        sa["private_key"].splitlines()[1],
        master.to_text(),
        new.to_text(),
        *issued,
    ]:
        assert secret not in text
    assert CANARY.encode() not in raw  # and the database holds ciphertext only
