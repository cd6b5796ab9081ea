"""Events and subscriptions end to end on SQLite and PostgreSQL: sync events, outbound signed
webhooks with retries and a delivery log, notifications, CI webhooks starting syncs."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from standardwebhooks.webhooks import Webhook

from server.db.models import EventAction, SyncExecution, TriggerType
from tests.events.receiver import Receiver, serve_receiver
from tests.support.api import Api
from tests.support.record_source import Source, generic_rest_config, serve_source
from tests.webhooks.helpers import count, post_raw, signed, standard_endpoint, wait_for


def _subscribe(api: Api, instance_id: str, event_type: str, action_type: str,
               config: dict[str, Any], criteria: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    resp = api.post("/event-subscriptions", {
        "instance_id": instance_id, "event_type": event_type, "action_type": action_type,
        "action_config": config, "filter_criteria": criteria or {}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_invalid_subscriptions_are_refused_naming_the_field(api: Api) -> None:
    instance = api.create_instance("X", "generic-rest", generic_rest_config("http://127.0.0.1:9"))
    bad = api.post("/event-subscriptions", {
        "instance_id": instance["id"], "event_type": "sync.failed", "action_type": "webhook",
        "action_config": {"url": "ftp://nope", "max_attempts": 99},
        "filter_criteria": {"field": "data.n", "op": "gt", "value": "ten"}})
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"filter_criteria.value", "action_config.url",
                      "action_config.max_attempts"}
    sub = _subscribe(api, instance["id"], "sync.failed", "notification", {})
    update = api.put(f"/event-subscriptions/{sub['id']}",
                     {"filter_criteria": {"or": [{"field": "x", "op": "regex",
                                                  "value": "(a*)*"}]}})
    assert update.status_code == 422
    assert update.json()["errors"][0]["field"] == "filter_criteria.or.0.value"


def test_event_types_have_schemas(api: Api) -> None:
    types = {t["type"]: t for t in api.get("/events/types").json()}
    for name in ("sync.started", "sync.completed", "sync.failed", "record.created",
                 "record.updated", "record.deleted", "instance.status_changed",
                 "credential.expiring", "github.*"):
        assert name in types, name
    assert "execution_id" in types["sync.completed"]["data_schema"]["required"]


def test_outbound_webhook_retries_until_delivered_once(api: Api) -> None:
    """The receiver fails three times; the fourth attempt lands; the log shows all four."""
    with serve_source(Source(30)) as url, serve_receiver(Receiver(fail_first=3)) as receiver:
        instance = api.create_instance("Directory", "generic-rest", generic_rest_config(url))
        sub = _subscribe(api, instance["id"], "sync.completed", "webhook",
                         {"url": receiver.url, "allow_loopback": True, "backoff_seconds": 0.2},
                         {"field": "data.stats.created", "op": "gte", "value": 30})
        secrets = api.get(f"/event-subscriptions/{sub['id']}/signing-secret").json()["secrets"]
        execution = api.sync(instance["id"])
        assert execution["status"] == "completed"
        log = wait_for(lambda: [a for a in api.get(
            f"/event-subscriptions/{sub['id']}/deliveries").json()["items"]
            if a["status"] == "succeeded"], timeout=20)
    assert len(log) == 1
    assert [(a["attempt"], a["ok"], a["status_code"]) for a in log[0]["attempt_log"]] == [
        (1, False, 500), (2, False, 500), (3, False, 500), (4, True, 200)]
    assert [r[2] for r in receiver.requests] == [500, 500, 500, 200]
    assert len(receiver.answered(200)) == 1
    headers, body, _ = receiver.answered(200)[0]
    # One message id across retries (receivers de-duplicate on it); the signature verifies
    # with the independent implementation.
    assert len({r[0]["webhook-id"] for r in receiver.requests}) == 1
    event = Webhook(secrets[0]).verify(body, headers)
    assert event["type"] == "sync.completed"
    assert event["data"]["execution_id"] == execution["id"]
    assert event["data"]["stats"]["created"] == 30


def test_receiver_that_never_recovers_fails_for_good(api: Api) -> None:
    with serve_source(Source(5)) as url, \
            serve_receiver(Receiver(fail_first=100, status_on_failure=503)) as receiver:
        instance = api.create_instance("Directory", "generic-rest", generic_rest_config(url))
        sub = _subscribe(api, instance["id"], "sync.*", "webhook",
                         {"url": receiver.url, "allow_loopback": True, "backoff_seconds": 0.1,
                          "max_attempts": 2})
        api.sync(instance["id"])

        def both_failed() -> list[dict[str, Any]] | None:
            items = [a for a in api.get(f"/event-subscriptions/{sub['id']}/deliveries")
                     .json()["items"] if a["status"] == "failed"]
            return items if len(items) == 2 else None

        failed = wait_for(both_failed, timeout=20)
    # sync.started and sync.completed both match sync.*; each was tried twice.
    assert len(failed) == 2
    assert all(a["attempts"] == 2 and "503" in a["last_error"] for a in failed)
    errors = api.get(f"/logs/{instance['id']}", params={"log_type": "error"}).text
    assert "failed for good after 2 attempt(s)" in errors


def test_loopback_is_refused_unless_allowed(api: Api) -> None:
    with serve_source(Source(3)) as url, serve_receiver(Receiver()) as receiver:
        instance = api.create_instance("Directory", "generic-rest", generic_rest_config(url))
        sub = _subscribe(api, instance["id"], "sync.completed", "webhook",
                         {"url": receiver.url, "max_attempts": 1})
        api.sync(instance["id"])
        failed = wait_for(lambda: api.get(
            f"/event-subscriptions/{sub['id']}/deliveries").json()["items"], timeout=20)
        wait_for(lambda: failed[0]["status"] == "failed" or api.get(
            f"/event-subscriptions/{sub['id']}/deliveries").json()["items"][0]["status"]
            == "failed")
    assert receiver.requests == []


def test_notification_logs_and_posts_to_slack(api: Api) -> None:
    with serve_source(Source(3, broken=set())) as url, serve_receiver(Receiver()) as slack:
        instance = api.create_instance("Directory", "generic-rest", generic_rest_config(url))
        _subscribe(api, instance["id"], "record.created", "notification",
                   {"message": "${data.count} new records in ${data.instance}",
                    "slack_url": slack.url, "allow_loopback": True})
        api.sync(instance["id"])
        wait_for(lambda: slack.requests, timeout=20)
    assert json.loads(slack.requests[0][1]) == {"text": "3 new records in Directory"}
    log = api.get(f"/logs/{instance['id']}", params={"operation": "event.notify"}).json()
    assert log["items"][0]["message"] == "3 new records in Directory"


def test_email_without_smtp_fails_clearly(api: Api) -> None:
    with serve_source(Source(1)) as url:
        instance = api.create_instance("Directory", "generic-rest", generic_rest_config(url))
        sub = _subscribe(api, instance["id"], "sync.completed", "notification",
                         {"email": {"to": ["secops@example.com"]}, "max_attempts": 1})
        api.sync(instance["id"])
        item = wait_for(lambda: [a for a in api.get(
            f"/event-subscriptions/{sub['id']}/deliveries").json()["items"]
            if a["status"] == "failed"], timeout=20)[0]
    assert "SIMPLETRUST_SMTP_HOST" in item["last_error"]


def test_ci_pipeline_webhook_starts_the_subscribed_sync_within_seconds(api: Api) -> None:
    with serve_source(Source(20)) as url:
        target = api.create_instance("Cloud", "generic-rest", generic_rest_config(url))
        ci = api.create_instance("CI", "generic-rest", generic_rest_config(url))
        path, secret = standard_endpoint(api, ci["id"])
        _subscribe(api, ci["id"], "webhook.pipeline.completed", "sync",
                   {"instance_id": target["id"]},
                   {"field": "data.data.branch", "op": "equals", "value": "main"})
        ignored = post_raw(api, path, *signed(secret, {"type": "pipeline.completed",
                                                       "data": {"branch": "dev"}}))
        started = time.monotonic()
        sent = post_raw(api, path, *signed(secret, {"type": "pipeline.completed",
                                                    "data": {"branch": "main"}}))
        assert (ignored.status_code, sent.status_code) == (202, 202)
        execution = wait_for(lambda: api.get("/sync-executions", params={
            "instance_id": target["id"]}).json()["items"], timeout=10)[0]
        assert time.monotonic() - started < 5
        assert execution["trigger_type"] == "event"
        done = api.wait(execution["id"], timeout=30)
    assert done["status"] == "completed"
    assert done["stats"]["created"] == 20
    # Only the main-branch delivery matched; the dev one started nothing.
    assert count(api, SyncExecution, SyncExecution.instance_id == uuid.UUID(target["id"])) == 1


def test_event_schedule_fires_from_a_matching_event_once(api: Api) -> None:
    with serve_source(Source(10)) as url:
        target = api.create_instance("Cloud", "generic-rest", generic_rest_config(url))
        ci = api.create_instance("CI", "generic-rest", generic_rest_config(url))
        path, secret = standard_endpoint(api, ci["id"])
        schedule = api.post("/schedules", {"instance_id": target["id"],
                                           "schedule_type": "event",
                                           "event_trigger": "webhook.deploy.*"}).json()
        assert post_raw(api, path, *signed(secret, {"type": "deploy.finished"})).status_code \
            == 202
        execution = wait_for(lambda: api.get("/sync-executions", params={
            "instance_id": target["id"]}).json()["items"], timeout=10)[0]
        api.wait(execution["id"])
        # Dispatching again (another agent, a crash and retry) adds no second action.
        worker = api.client.app.state.event_worker  # type: ignore[attr-defined]
        worker.wake()
        time.sleep(0.5)
    assert execution["trigger_type"] == TriggerType.EVENT.value
    assert execution["schedule_id"] == schedule["id"]
    assert count(api, EventAction, EventAction.schedule_id == uuid.UUID(schedule["id"])) == 1
    assert count(api, SyncExecution, SyncExecution.instance_id == uuid.UUID(target["id"])) == 1
    assert api.get(f"/schedules/{schedule['id']}").json()["last_execution"] is not None


def test_status_changes_become_events(api: Api) -> None:
    instance = api.create_instance("X", "generic-rest", generic_rest_config("http://127.0.0.1:9"))
    api.post(f"/instances/{instance['id']}/deactivate")
    events = wait_for(lambda: api.get("/events", params={
        "type": "instance.status_changed"}).json()["items"])
    assert [(e["data"]["from"], e["data"]["to"]) for e in reversed(events)][-2:] == [
        ("configuring", "active"), ("active", "inactive")]
