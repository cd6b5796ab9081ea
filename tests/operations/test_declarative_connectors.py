"""Declarative (no-code) connectors registered, updated and removed through the API."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api
from tests.support.record_source import Source, serve_source

SPEC: dict[str, Any] = {
    "spec_version": 1,
    "connector": {"key": "acme-directory", "name": "Acme Directory", "version": "1.0.0",
                  "system_type": "Directory"},
    "config": {"base_url": {"type": "string", "title": "Acme URL"}},
    "base_url": "{config.base_url}",
    "streams": [{"name": "users", "path": "/items", "records": "items", "primary_key": "id",
                 "params": {"limit": 50},
                 "paginator": {"type": "cursor", "cursor_path": "next_cursor",
                               "cursor_param": "cursor"}}],
}


def test_register_sync_update_and_remove(api: Api) -> None:
    created = api.post("/connectors", {"spec": SPEC})
    assert created.status_code == 201, created.text
    connector = created.json()
    assert (connector["key"], connector["origin"], connector["is_built_in"]) == (
        "acme-directory", "declarative", False)
    assert connector["available"] is True
    schema = api.get(f"/connectors/{connector['id']}/schema").json()
    assert "base_url" in schema["config_schema"]["properties"]
    assert api.post("/connectors", {"spec": SPEC}).status_code == 409  # key taken

    bad = api.post("/connectors", {"spec": {**SPEC, "streams": [{"name": "x"}]}})
    assert bad.status_code == 422
    assert any(e["field"].startswith("spec.streams") for e in bad.json()["errors"])

    with serve_source(Source(120)) as url:
        instance = api.create_instance("Acme", "acme-directory", {"base_url": url})
        execution = api.sync(instance["id"])
    assert execution["status"] == "completed", execution["error_details"]
    assert execution["stats"]["created"] == 120

    updated = api.put(f"/connectors/{connector['id']}", {"spec": {
        **SPEC, "connector": {**SPEC["connector"], "version": "1.1.0"}}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == "1.1.0"

    in_use = api.delete(f"/connectors/{connector['id']}")
    assert in_use.status_code == 409
    assert [e["message"] for e in in_use.json()["errors"]] == ["Acme"]
    api.delete(f"/instances/{instance['id']}")
    assert api.delete(f"/connectors/{connector['id']}").status_code == 204

    builtin = api.connector_id("github")
    assert api.delete(f"/connectors/{builtin}").status_code == 409
