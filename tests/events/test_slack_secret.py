"""A notification's Slack URL is a secret: sealed at rest, never returned, logged or exported,
kept by updates that leave it out, re-wrapped by master-key rotation (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import yaml
from sqlalchemy import text

from server.db.engine import make_session_factory
from server.db.models import EventSubscription
from server.vault import MasterKey, Vault, rotate_master_key
from tests.events.receiver import Receiver, serve_receiver
from tests.support.api import Api
from tests.support.record_source import Source, generic_rest_config, serve_source
from tests.webhooks.helpers import wait_for

TOKEN = "tok" + uuid.uuid4().hex


def _subscribe(api: Api, instance_id: str, slack_url: str) -> dict[str, Any]:
    resp = api.post("/event-subscriptions", {
        "instance_id": instance_id, "event_type": "sync.completed",
        "action_type": "notification",
        "action_config": {"message": "done: ${data.instance}", "slack_url": slack_url,
                          "allow_loopback": True, "max_attempts": 1}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _table(api: Api) -> str:
    with api.engine.connect() as conn:
        return str(conn.execute(text("select * from event_subscriptions")).all())


def _posts(api: Api, instance_id: str, slack: Receiver, count: int) -> None:
    api.sync(instance_id)
    wait_for(lambda: len(slack.requests) >= count, timeout=20)
    assert json.loads(slack.requests[count - 1][1]) == {"text": "done: Directory"}


def _nowhere(api: Api, instance_id: str, sub_id: str) -> None:
    """The token is in no API answer, table, log or export."""
    answers = [api.get(f"/event-subscriptions/{sub_id}"), api.get("/event-subscriptions"),
               api.get("/logs", params={"limit": 200}),
               api.get(f"/logs/{instance_id}", params={"limit": 200}),
               api.get("/audit", params={"limit": 200}),
               api.get(f"/event-subscriptions/{sub_id}/deliveries"), api.get("/config/export")]
    for resp in answers:
        assert resp.status_code == 200, resp.text
        assert TOKEN not in resp.text
    assert TOKEN not in _table(api)


def test_slack_url_is_sealed_masked_kept_and_rotated(api: Api) -> None:
    with serve_source(Source(2)) as url, serve_receiver(Receiver()) as slack:
        slack_url = f"{slack.url}/T000/B000/{TOKEN}"
        instance = api.create_instance("Directory", "generic-rest", generic_rest_config(url))
        created = _subscribe(api, instance["id"], slack_url)
        assert TOKEN not in json.dumps(created)
        assert "slack_url" not in created["action_config"]
        assert created["secret_hints"] == {"slack_url": "http://127.0.0.1/…"}
        assert api.get(f"/event-subscriptions/{created['id']}").json()["secret_hints"] == {
            "slack_url": "http://127.0.0.1/…"}
        assert "__sealed__" in _table(api)

        _posts(api, instance["id"], slack, 1)

        # An update that leaves the URL out keeps it (also when the read is echoed back).
        for config in ({"message": "done: ${data.instance}", "allow_loopback": True},
                       {**created["action_config"], **created["secret_hints"]}):
            resp = api.put(f"/event-subscriptions/{created['id']}", {"action_config": config})
            assert resp.status_code == 200, resp.text
            assert resp.json()["secret_hints"] == created["secret_hints"]
        assert api.put(f"/event-subscriptions/{created['id']}",
                       {"is_active": True}).status_code == 200
        _posts(api, instance["id"], slack, 2)

        # Master-key rotation re-wraps it: the new key alone opens it; the worker still posts.
        vault: Vault = api.client.app.state.vault  # type: ignore[attr-defined]
        factory = make_session_factory(api.engine)
        new_key = MasterKey.generate()
        report = rotate_master_key(factory, vault, new_key)
        assert report.new_kid == new_key.kid
        with factory() as session:
            row = session.get(EventSubscription, uuid.UUID(created["id"]))
            assert row is not None
            envelope = row.action_config["__sealed__"]["envelope"]
        assert Vault.from_key(new_key).open(f"subscription-action:{created['id']}",
                                            envelope) == {"slack_url": slack_url}
        _posts(api, instance["id"], slack, 3)
        _nowhere(api, instance["id"], created["id"])

        # null removes it.
        resp = api.put(f"/event-subscriptions/{created['id']}",
                       {"action_config": {"slack_url": None}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["secret_hints"] == {}
        assert "__sealed__" not in _table(api)


def test_a_slack_url_stored_in_clear_is_read_masked_and_sealed_on_write(api: Api) -> None:
    with serve_source(Source(1)) as url, serve_receiver(Receiver()) as slack:
        instance = api.create_instance("Directory", "generic-rest", generic_rest_config(url))
        sub = _subscribe(api, instance["id"], slack.url)
        with make_session_factory(api.engine)() as session:
            row = session.get(EventSubscription, uuid.UUID(sub["id"]))
            assert row is not None
            row.action_config = {"message": "done: ${data.instance}", "allow_loopback": True,
                                 "max_attempts": 1, "slack_url": f"{slack.url}/{TOKEN}"}
            session.commit()
        assert TOKEN in _table(api)
        read = api.get(f"/event-subscriptions/{sub['id']}")
        assert TOKEN not in read.text
        assert read.json()["secret_hints"] == {"slack_url": "http://127.0.0.1/…"}
        _posts(api, instance["id"], slack, 1)
        assert api.put(f"/event-subscriptions/{sub['id']}",
                       {"is_active": True}).status_code == 200
        assert TOKEN not in _table(api)
        _posts(api, instance["id"], slack, 2)


def test_config_export_names_the_secret_and_an_import_reports_it_missing(api: Api) -> None:
    with serve_source(Source(1)) as url, serve_receiver(Receiver()) as slack:
        instance = api.create_instance("Directory", "generic-rest", generic_rest_config(url))
        sub = _subscribe(api, instance["id"], f"{slack.url}/{TOKEN}")
        exported = api.get("/config/export").text
        assert TOKEN not in exported
        doc = yaml.safe_load(exported)
        [entry] = doc["instances"][0]["subscriptions"]
        assert entry["secrets"] == ["slack_url"]
        assert "slack_url" not in entry["action_config"]

        # The value in the file is refused, naming the field.
        entry["action_config"]["slack_url"] = f"{slack.url}/{TOKEN}"
        bad = api.post("/config/import", {"document": yaml.safe_dump(doc)})
        assert bad.status_code == 422
        assert TOKEN not in bad.text
        assert any(e["field"].endswith("action_config.slack_url") for e in bad.json()["errors"])
        del entry["action_config"]["slack_url"]

        # Unchanged, or edited: the stored URL carries over and nothing is missing.
        same = api.post("/config/import", {"document": exported}).json()
        assert same["missing_secrets"] == {}
        entry["action_config"]["message"] = "finished: ${data.instance}"
        edited = api.post("/config/import", {"document": yaml.safe_dump(doc)}).json()
        assert edited["applied"]
        assert edited["missing_secrets"] == {}
        assert api.get(f"/event-subscriptions/{sub['id']}").json()["secret_hints"] == {
            "slack_url": "http://127.0.0.1/…"}

        # Without the agent's copy (deleted), the import reports it missing; the action fails
        # clearly until the URL is set through the API, and the export stays the same.
        assert api.delete(f"/event-subscriptions/{sub['id']}").status_code == 204
        entry["action_config"]["message"] = "done: ${data.instance}"
        result = api.post("/config/import", {"document": yaml.safe_dump(doc)}).json()
        where = "instances[Directory].subscriptions[sync.completed]"
        assert result["applied"]
        assert result["missing_secrets"] == {where: ["slack_url"]}
        assert api.get("/config/export").text == exported
        [new] = api.get("/event-subscriptions").json()["items"]
        api.sync(instance["id"])
        failed = wait_for(lambda: [d for d in api.get(
            f"/event-subscriptions/{new['id']}/deliveries").json()["items"]
            if d["status"] == "failed"], timeout=20)
        assert "slack_url of the subscription is not set" in json.dumps(failed)
        # Bound by the name the import reported it under, like a credential's secrets; a bad
        # value or an unknown name is refused naming the field, never echoing the value.
        bad = api.post("/config/secrets", {"secrets": {
            where: {"slack_url": "not-a-url-" + TOKEN},
            "instances[Nobody].subscriptions[sync.completed]": {"slack_url": slack.url}}})
        assert bad.status_code == 422, bad.text
        assert TOKEN not in bad.text
        assert {"instances[Nobody]" in e["field"] for e in bad.json()["errors"]} == {True}
        bad = api.post("/config/secrets", {"secrets": {where: {"slack_url": "nope-" + TOKEN}}})
        assert bad.status_code == 422, bad.text
        assert TOKEN not in bad.text
        assert any(e["field"].endswith("slack_url") for e in bad.json()["errors"])
        resp = api.post("/config/secrets", {"secrets": {where: {
            "slack_url": f"{slack.url}/{TOKEN}"}}})
        assert resp.status_code == 200, resp.text
        assert TOKEN not in resp.text
        assert api.get(f"/event-subscriptions/{new['id']}").json()["secret_hints"] == {
            "slack_url": "http://127.0.0.1/…"}
        assert api.post("/config/import", {"document": exported}).json()[
            "missing_secrets"] == {}
        _posts(api, instance["id"], slack, 1)
        assert api.get("/config/export").text == exported

        # An import can bind it in the same step, from its secrets.
        assert api.delete(f"/event-subscriptions/{new['id']}").status_code == 204
        result = api.post("/config/import", {"document": exported, "secrets": {
            where: {"slack_url": f"{slack.url}/{TOKEN}"}}}).json()
        assert result["applied"]
        assert result["missing_secrets"] == {}
        [new] = api.get("/event-subscriptions").json()["items"]
        assert new["secret_hints"] == {"slack_url": "http://127.0.0.1/…"}
        _posts(api, instance["id"], slack, 2)
        _nowhere(api, instance["id"], new["id"])
