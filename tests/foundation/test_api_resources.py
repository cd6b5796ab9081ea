"""Each resource round-trips create / read / update / list / delete on both databases."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from server.db.models import Role
from tests.foundation.conftest import Api


def _instance(api: Api, name: str = "Prod", **extra: Any) -> dict[str, Any]:
    connector_id = extra.pop("connector_id", None) or api.add_connector(f"c-{uuid.uuid4().hex[:6]}")
    body = {"name": name, "connector_id": str(connector_id),
            "configuration": {"base_url": "https://example.test"}, **extra}
    resp = api.post("/instances", body)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_instance_round_trip(api: Api) -> None:
    created = _instance(api, "Prod AWS", connection_url="https://aws.example.test")
    assert created["status"] == "configuring"
    assert created["created_by"] is not None
    got = api.get(f"/instances/{created['id']}").json()
    assert got == created

    resp = api.put(f"/instances/{created['id']}", {"name": "Prod AWS eu",
                                                   "connection_url": None})
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "Prod AWS eu"
    assert resp.json()["connection_url"] is None
    assert resp.json()["configuration"] == created["configuration"]  # left out: kept

    listed = api.get("/instances").json()
    assert [i["id"] for i in listed["items"]] == [created["id"]]

    assert api.delete(f"/instances/{created['id']}").status_code == 204
    assert api.get(f"/instances/{created['id']}").status_code == 404


def test_instance_name_conflict_and_bad_refs(api: Api) -> None:
    first = _instance(api, "One")
    resp = api.post("/instances", {"name": "One", "connector_id": first["connector_id"]})
    assert resp.status_code == 409
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["errors"][0]["field"] == "name"

    resp = api.post("/instances", {"name": "Two", "connector_id": str(uuid.uuid4())})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "connector_id"

    resp = api.put(f"/instances/{first['id']}", {"name": None})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "name"
    assert api.get(f"/instances/{first['id']}").json()["name"] == "One"  # nothing changed


def test_instance_lifecycle_checks_completeness(api: Api) -> None:
    inst = _instance(api, "Lifecycle", configuration={})
    resp = api.post(f"/instances/{inst['id']}/activate")
    assert resp.status_code == 409
    fields = {e["field"] for e in resp.json()["errors"]}
    assert fields == {"configuration.base_url", "auth_config_id"}
    assert api.get(f"/instances/{inst['id']}").json()["status"] == "configuring"

    # Complete it: configuration, then a credential of a supported type.
    api.put(f"/instances/{inst['id']}", {"configuration": {"base_url": "https://x.test"}})
    resp = api.post(f"/instances/{inst['id']}/activate")
    assert [e["field"] for e in resp.json()["errors"]] == ["auth_config_id"]


def test_instance_activate_deactivate_and_status(api: Api) -> None:
    connector = api.add_connector("noauth", auth_methods=[])
    inst = _instance(api, "Runs", connector_id=connector)
    resp = api.post(f"/instances/{inst['id']}/activate")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "active"
    status = api.get(f"/instances/{inst['id']}/status").json()
    assert status["status"] == "active"
    assert status["last_sync"] is None
    assert status["active_schedules"] == 0

    sched = api.post("/schedules", {"instance_id": inst["id"], "schedule_type": "interval",
                                    "interval_minutes": 30}).json()
    status = api.get(f"/instances/{inst['id']}/status").json()
    assert status["active_schedules"] == 1
    assert status["next_sync"] == sched["next_execution"]

    assert api.post(f"/instances/{inst['id']}/deactivate").json()["status"] == "inactive"
    logs = api.get(f"/logs/{inst['id']}", params={"operation": "instance"}).json()["items"]
    assert [entry["operation"] for entry in logs][:2] == ["instance.deactivate",
                                                          "instance.activate"]


def test_mapping_round_trip_and_versions(api: Api) -> None:
    inst = _instance(api)
    body = {"instance_id": inst["id"], "name": "users", "source": "users",
            "target": "identity",
            "field_mappings": [{"source": "login", "target": "username"}]}
    created = api.post("/mappings", body).json()
    assert created["version"] == "1"
    assert api.post("/mappings", body).status_code == 409  # name taken for this instance
    updated = api.put(f"/mappings/{created['id']}",
                      {"field_mappings": [{"source": "email", "target": "email"}]}).json()
    assert updated["version"] == "2"
    assert api.put(f"/mappings/{created['id']}",
                   {"field_mappings": updated["field_mappings"]}).json()["version"] == "2"
    listed = api.get("/mappings", params={"instance_id": inst["id"]}).json()["items"]
    assert [m["id"] for m in listed] == [created["id"]]
    assert api.delete(f"/mappings/{created['id']}").status_code == 204
    assert api.get(f"/mappings/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule_type": "interval"}, "interval_minutes"),
        ({"schedule_type": "cron", "cron_expression": "61 * * * *"}, "cron_expression"),
        ({"schedule_type": "cron", "cron_expression": "* * *"}, "cron_expression"),
        ({"schedule_type": "cron", "cron_expression": "0 2 * * *", "timezone": "Mars/Base"},
         "timezone"),
        ({"schedule_type": "event"}, "event_trigger"),
        ({"schedule_type": "interval", "interval_minutes": 0}, "interval_minutes"),
        ({"schedule_type": "weekly"}, "schedule_type"),
    ],
)
def test_schedule_validation_names_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    inst = _instance(api)
    resp = api.post("/schedules", {"instance_id": inst["id"], **body})
    assert resp.status_code == 422, resp.text
    assert field in [e["field"] for e in resp.json()["errors"]]


def test_schedule_round_trip(api: Api) -> None:
    inst = _instance(api)
    created = api.post("/schedules", {"instance_id": inst["id"], "schedule_type": "cron",
                                      "cron_expression": "0 2 * * *",
                                      "timezone": "Europe/Berlin"}).json()
    assert created["next_execution"] is not None
    assert created["next_execution"][11:13] in ("00", "01")  # 02:00 Berlin in UTC
    paused = api.put(f"/schedules/{created['id']}", {"is_active": False}).json()
    assert paused["next_execution"] is None
    resp = api.put(f"/schedules/{created['id']}", {"schedule_type": "event"})
    assert resp.status_code == 422  # event schedules need event_trigger; nothing stored
    assert api.get(f"/schedules/{created['id']}").json()["schedule_type"] == "cron"
    assert api.delete(f"/schedules/{created['id']}").status_code == 204
    assert api.get(f"/schedules/{created['id']}").status_code == 404


def test_subscription_round_trip(api: Api) -> None:
    inst = _instance(api)
    created = api.post("/event-subscriptions", {
        "instance_id": inst["id"], "event_type": "sync.failed", "action_type": "notification",
        "filter_criteria": {"field": "data.error_count", "op": "gt", "value": 0},
    })
    assert created.status_code == 201, created.text
    sub = created.json()
    assert api.get(f"/event-subscriptions/{sub['id']}").json() == sub
    updated = api.put(f"/event-subscriptions/{sub['id']}", {"is_active": False}).json()
    assert updated["is_active"] is False
    listed = api.get("/event-subscriptions", params={"is_active": "false"}).json()["items"]
    assert [s["id"] for s in listed] == [sub["id"]]
    assert api.delete(f"/event-subscriptions/{sub['id']}").status_code == 204
    assert api.get(f"/event-subscriptions/{sub['id']}").status_code == 404


def test_deleting_an_instance_keeps_its_log(api: Api) -> None:
    inst = _instance(api, "Doomed")
    api.delete(f"/instances/{inst['id']}")
    logs = api.get("/logs", params={"operation": "instance.delete"}).json()["items"]
    assert logs[0]["details"]["name"] == "Doomed"
    assert logs[0]["instance_id"] is None
    assert logs[0]["details"]["principal"] == "test-admin"


def test_every_mutation_is_logged_with_its_principal(api: Api) -> None:
    inst = _instance(api)
    api.put(f"/instances/{inst['id']}", {"name": "Renamed"}, role=Role.OPERATOR)
    entry = api.get("/logs", params={"operation": "instance.update"}).json()["items"][0]
    assert entry["details"]["principal"] == "test-operator"
    assert entry["user_id"] is not None
    assert entry["details"]["fields"] == ["name"]


@pytest.mark.parametrize("bad", ["a\x00b", float("nan")])
def test_unstorable_values_are_refused_with_the_field(api: Api, bad: Any) -> None:
    connector = api.add_connector("nul")
    resp = api.client.post(
        "/api/integration/instances",
        headers={**api.headers(), "content-type": "application/json"},
        content=(b'{"name": "x", "connector_id": "%s", "configuration": {"k": %s}}'
                 % (str(connector).encode(), b'"a\\u0000b"' if isinstance(bad, str) else b"NaN")),
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "configuration"
