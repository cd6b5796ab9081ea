"""Connection test, data preview, stream discovery and write actions through the API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from connectors.sandbox import jira as jira_sim
from connectors.sandbox.server import serve
from server.db.models import MetricSample, SampleKind
from tests.support.api import Api
from tests.support.record_source import IDENTITY_MAPPING, Source, generic_rest_config, serve_source


def test_connection_test_preview_and_streams(api: Api) -> None:
    with serve_source(Source(30, broken={1})) as url:
        instance = api.create_instance("Preview", "generic-rest", generic_rest_config(url))
        api.post("/mappings", {"instance_id": instance["id"], **IDENTITY_MAPPING})
        result = api.post(f"/instances/{instance['id']}/test").json()
        assert result["ok"] is True, result
        assert {i["name"] for i in result["items"]} >= {"reachable", "authenticated"}
        assert api.get(f"/instances/{instance['id']}").json()["last_connected"] is not None

        streams = api.get(f"/instances/{instance['id']}/streams").json()
        assert [s["name"] for s in streams] == ["users"]
        assert "email" in streams[0]["json_schema"]["properties"]

        preview = api.post(f"/instances/{instance['id']}/preview", {"limit": 3}).json()
        assert [r["id"] for r in preview["records"]] == ["u0000000", "u0000001", "u0000002"]
        assert preview["entity_type"] == "identity"
        assert preview["mapped"][0]["username"] == "user0"
        assert preview["mapped"][1] is None  # the broken record: its error is shown instead
        assert preview["mapping_errors"][1][0]["field"] == "email"
        # Nothing was stored by a preview.
        assert api.get("/records", params={"instance_id": instance["id"]}).json()["items"] == []

    failed = api.post(f"/instances/{instance['id']}/test").json()  # the source is gone now
    assert failed["ok"] is False
    reachable = next(i for i in failed["items"] if i["name"] == "reachable")
    assert reachable["status"] == "failed"
    assert reachable["hint"]

    # Their HTTP attempts are in the instance's metrics, like a sync's (no sync id).
    with api.engine.connect() as conn:
        attempts = conn.execute(
            select(MetricSample.ok, MetricSample.unavailable).where(
                MetricSample.instance_id == uuid.UUID(instance["id"]),
                MetricSample.kind == SampleKind.REQUEST, MetricSample.sync_id.is_(None))).all()
    assert sum(1 for ok, _ in attempts if ok) >= 3  # test, streams, preview
    assert any(unavailable for _, unavailable in attempts)  # the failed test


@pytest.fixture
def jira(api: Api) -> Any:
    sim = jira_sim.JiraSimulator(deployment="cloud")
    with serve(sim) as running:
        cred = api.post("/auth-configs", {"name": "jira bot", "auth_type": "basic", "credentials": {
            "username": jira_sim.DEFAULT_EMAIL, "password": jira_sim.DEFAULT_API_TOKEN}}).json()
        instance = api.create_instance("Jira", "jira", {"base_url": running.url},
                                       auth_config_id=cred["id"])
        yield sim, instance


def test_write_action_is_idempotent_with_a_key(api: Api, jira: Any) -> None:
    sim, instance = jira
    before = len(sim.issues)
    payload = {"input": {"project_key": "SEC", "summary": "MFA disabled for user42",
                         "description": "Found by the AWS check aws.iam.user_mfa"}}
    headers = {**api.headers(), "Idempotency-Key": "finding-42"}
    path = f"/api/integration/instances/{instance['id']}/actions/create_issue"
    first = api.client.post(path, json=payload, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["replayed"] is False
    again = api.client.post(path, json=payload, headers=headers)
    assert again.json()["replayed"] is True
    assert again.json()["result"] == first.json()["result"]
    assert len(sim.issues) == before + 1

    other = api.client.post(path, json={"input": {**payload["input"], "summary": "x"}},
                            headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"

    bad = api.post(f"/instances/{instance['id']}/actions/create_issue", {"input": {}})
    assert bad.status_code == 422
    assert any(e["field"].startswith("input.") for e in bad.json()["errors"])
    unknown = api.post(f"/instances/{instance['id']}/actions/launch_rocket", {"input": {}})
    assert unknown.status_code == 409
    logged = api.get(f"/logs/{instance['id']}", params={"operation": "action"}).json()["items"]
    assert {e["operation"] for e in logged} >= {"action.run", "action.failed"}
