"""Credentials through the API: secrets are write-only, encrypted, kept on partial updates."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from server.db.models import Role
from tests.foundation.conftest import Api

SECRET = "canary-" + uuid.uuid4().hex  # unique, so finding it anywhere is proof of a leak


def _create(api: Api, name: str = "GitHub PAT", **extra: object) -> dict:  # type: ignore[type-arg]
    body = {"name": name, "auth_type": "api_key",
            "credentials": {"api_key": SECRET, "name": "Authorization", "prefix": "token "},
            **extra}
    resp = api.post("/auth-configs", body)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_secret_is_write_only_and_encrypted(api: Api) -> None:
    created = _create(api)
    assert SECRET not in str(created)
    assert created["credentials"] == {"location": "header", "name": "Authorization",
                                      "prefix": "token "}
    assert created["secret_hints"] == {"api_key": "••••" + SECRET[-4:]}
    for resp in (api.get(f"/auth-configs/{created['id']}"), api.get("/auth-configs"),
                 api.get("/logs")):
        assert SECRET not in resp.text
    with api.engine.connect() as conn:
        stored = conn.execute(text("select credentials, oauth_config from "
                                   "authentication_configs")).one()
    assert SECRET not in str(stored)


def test_put_without_secret_keeps_it(api: Api) -> None:
    created = _create(api)
    resp = api.put(f"/auth-configs/{created['id']}",
                   {"credentials": {"name": "X-Api-Key", "prefix": ""}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["credentials"]["name"] == "X-Api-Key"
    assert resp.json()["secret_hints"] == created["secret_hints"]
    resp = api.put(f"/auth-configs/{created['id']}",
                   {"credentials": {"api_key": "another-long-secret-9876"}})
    assert resp.json()["secret_hints"] == {"api_key": "••••9876"}
    assert resp.json()["credentials"]["name"] == "X-Api-Key"


def test_invalid_fields_name_the_field_without_echoing(api: Api) -> None:
    resp = api.post("/auth-configs", {"name": "bad", "auth_type": "basic",
                                      "credentials": {"password": SECRET, "colour": "red"}})
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.json()["errors"]}
    assert fields == {"credentials.username", "credentials.colour"}
    assert SECRET not in resp.text
    # Changing the type needs a complete set of fields; nothing is stored otherwise.
    created = _create(api)
    resp = api.put(f"/auth-configs/{created['id']}", {"auth_type": "basic"})
    assert resp.status_code == 422
    assert api.get(f"/auth-configs/{created['id']}").json()["auth_type"] == "api_key"


def test_one_credential_serves_many_and_delete_in_use_is_409(api: Api) -> None:
    cred = _create(api)
    connector = api.add_connector("shared")
    for name in ("Org A", "Org B"):
        api.post("/instances", {"name": name, "connector_id": str(connector),
                                "auth_config_id": cred["id"]})
    got = api.get(f"/auth-configs/{cred['id']}").json()
    assert [u["name"] for u in got["used_by"]] == ["Org A", "Org B"]
    resp = api.delete(f"/auth-configs/{cred['id']}")
    assert resp.status_code == 409
    assert [e["message"] for e in resp.json()["errors"]] == ["Org A", "Org B"]
    assert api.get(f"/auth-configs/{cred['id']}").status_code == 200


def test_round_trip_and_expiry_window(api: Api) -> None:
    soon = _create(api, "soon", expiration="2000-01-01T00:00:00Z")
    assert soon["expires_soon"] is True
    later = _create(api, "later", expiration="2999-01-01T00:00:00Z")
    assert later["expires_soon"] is False
    names = [c["name"] for c in api.get("/auth-configs", params={"sort": "expiration"})
             .json()["items"]]
    assert names == ["soon", "later"]
    assert api.post("/auth-configs", {"name": "soon", "auth_type": "bearer",
                                      "credentials": {"token": "x" * 20}}).status_code == 409
    assert api.delete(f"/auth-configs/{soon['id']}", role=Role.AUDITOR).status_code == 403
    assert api.delete(f"/auth-configs/{soon['id']}").status_code == 204
    assert api.get(f"/auth-configs/{soon['id']}").status_code == 404
