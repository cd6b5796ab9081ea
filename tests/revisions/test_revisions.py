"""Revision history on both databases: every change kept with author and time, diffs, and
rollbacks that are new revisions; a mapping rolled back is what the next sync runs."""

from __future__ import annotations

from typing import Any

from server.db.models import Role
from tests.support.api import Api
from tests.support.record_source import (
    IDENTITY_MAPPING,
    Source,
    generic_rest_config,
    serve_source,
)


def _with_separator(separator: str) -> list[dict[str, Any]]:
    fields = [dict(f) for f in IDENTITY_MAPPING["field_mappings"]]
    for f in fields:
        if f["target"] == "display_name":
            f["steps"] = [{"function": "concat", "params": {"separator": separator}}]
    return fields


def test_a_mapping_rolled_back_is_used_by_the_next_sync(api: Api) -> None:
    source = Source(30)
    with serve_source(source) as url:
        inst = api.create_instance("Directory", "generic-rest", generic_rest_config(url))
        mapping = api.post("/mappings", {"instance_id": inst["id"], **IDENTITY_MAPPING}).json()
        first = api.sync(inst["id"])
        used = first["mapping_versions"]["users"]
        assert used["version"] == 1

        assert api.put(f"/mappings/{mapping['id']}",
                       {"field_mappings": _with_separator(" / ")}).status_code == 200
        second = api.sync(inst["id"])
        assert second["mapping_versions"]["users"]["version"] == 2
        assert second["stats"]["updated"] == 30

        diff = api.get(f"/mappings/{mapping['id']}/revisions/diff").json()
        assert (diff["from_revision"], diff["to_revision"]) == (1, 2)
        paths = {c["path"] for c in diff["changes"]}
        assert "field_mappings[3].steps[0].params.separator" in paths

        assert api.post(f"/mappings/{mapping['id']}/revisions/1/rollback",
                        role=Role.AUDITOR).status_code == 403
        rolled = api.post(f"/mappings/{mapping['id']}/revisions/1/rollback")
        assert rolled.status_code == 200, rolled.text
        revision = rolled.json()["revision"]
        assert (revision["revision"], revision["operation"], revision["restored_from"]) == (
            3, "rollback", 1)
        original = api.get(f"/mappings/{mapping['id']}/revisions/1").json()["snapshot"]
        restored = revision["snapshot"]
        assert restored["field_mappings"] == original["field_mappings"]
        assert (restored["version"], original["version"]) == ("3", "1")
        assert revision["author"] == "test-admin"

        third = api.sync(inst["id"])
    ran = third["mapping_versions"]["users"]
    # The execution records the rollback's revision: its mapping version and exact content.
    assert ran["version"] == int(revision["snapshot"]["version"]) == 3
    assert ran["fingerprint"] == revision["snapshot"]["fingerprint"]
    assert third["stats"]["updated"] == 30
    record = api.all("/records", instance_id=inst["id"], entity_type="identity")[0]
    assert " / " not in record["data"]["display_name"]
    audit = api.get("/audit", role=Role.AUDITOR, params={"action": "mapping.rollback"}).json()
    entry = audit["items"][0]
    assert entry["after_hash"] == revision["content_hash"]
    assert entry["details"]["restored_from"] == 1


def test_every_kind_keeps_revisions_with_diffs_and_rollbacks(api: Api) -> None:
    connector = api.add_connector("acme", auth_methods=["bearer", "api_key"])
    cred = api.post("/auth-configs", {"name": "acme-token", "auth_type": "bearer",
                                      "credentials": {"token": "secret-one-111"}}).json()
    api.put(f"/auth-configs/{cred['id']}", {"name": "acme-token-2"})
    api.put(f"/auth-configs/{cred['id']}", {"credentials": {"token": "secret-two-222"}})
    revs = api.get(f"/auth-configs/{cred['id']}/revisions").json()
    assert [r["operation"] for r in revs] == ["create", "update"]  # secrets: metadata only
    assert "secret-" not in str(revs)
    back = api.post(f"/auth-configs/{cred['id']}/revisions/1/rollback").json()
    assert back["changed"] == ["name"]
    assert api.get(f"/auth-configs/{cred['id']}").json()["name"] == "acme-token"
    api.put(f"/auth-configs/{cred['id']}", {"auth_type": "api_key",
                                            "credentials": {"api_key": "k-333"}})
    refused = api.post(f"/auth-configs/{cred['id']}/revisions/1/rollback")
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["field"] == "auth_type"

    inst = api.post("/instances", {"name": "Acme", "connector_id": str(connector),
                                   "configuration": {"base_url": "https://a.example"}}).json()
    sched = api.post("/schedules", {"instance_id": inst["id"], "schedule_type": "cron",
                                    "cron_expression": "0 2 * * *"}).json()
    api.put(f"/schedules/{sched['id']}", {"cron_expression": "30 4 * * 1"})
    back = api.post(f"/schedules/{sched['id']}/revisions/1/rollback").json()
    assert back["revision"]["operation"] == "rollback"
    schedule = api.get(f"/schedules/{sched['id']}").json()
    assert schedule["cron_expression"] == "0 2 * * *"
    assert schedule["next_execution"] is not None

    sub = api.post("/event-subscriptions", {"instance_id": inst["id"],
                                            "event_type": "sync.failed",
                                            "action_type": "sync"}).json()
    api.put(f"/event-subscriptions/{sub['id']}", {"is_active": False})
    diff = api.get(f"/event-subscriptions/{sub['id']}/revisions/diff",
                   params={"from_revision": 1, "to_revision": 2}).json()
    assert diff["changes"] == [{"path": "is_active", "change": "changed", "before": True,
                                "after": False}]
    same = api.post(f"/event-subscriptions/{sub['id']}/revisions/2/rollback").json()
    assert same["changed"] == []  # already so: no new revision
    assert same["revision"]["revision"] == 2

    # Deleting an instance keeps its history and that of its schedules and subscriptions.
    assert api.delete(f"/instances/{inst['id']}").status_code == 204
    gone = api.get(f"/instances/{inst['id']}/revisions").json()
    assert gone[-1]["operation"] == "delete"
    assert api.get(f"/schedules/{sched['id']}/revisions").json()[-1]["operation"] == "delete"
    assert api.post(f"/instances/{inst['id']}/revisions/1/rollback").status_code == 404
    last = gone[-1]["revision"]
    assert api.get(f"/instances/{inst['id']}/revisions/{last + 5}").status_code == 404
    assert api.get(f"/instances/{inst['id']}/revisions", role=Role.AUDITOR).status_code == 200
