"""Inbound webhooks through the agent's public door, on SQLite and PostgreSQL.

Deliveries are signed by the independent ``standardwebhooks`` package (and by hand in
GitHub's format); every refusal is checked to leave nothing stored and nothing processed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.db.engine import make_session_factory
from server.db.models import OutboxEvent, Role, WebhookDelivery, WebhookEndpoint
from tests.support.api import Api
from tests.webhooks.helpers import count, post_raw, signed, standard_endpoint, wait_for


def _instance(api: Api, name: str = "CI") -> dict[str, Any]:
    return api.create_instance(name, "generic-rest",
                               {"base_url": "http://127.0.0.1:9", "streams": []},
                               activate=False)


def _events(api: Api, event_type: str) -> list[dict[str, Any]]:
    return [e for e in api.get("/events", params={"type": event_type}).json()["items"]]


def test_standard_webhook_is_stored_then_processed_into_an_event(api: Api) -> None:
    instance = _instance(api)
    path, secret = standard_endpoint(api, instance["id"])
    body, headers = signed(secret, {"type": "pipeline.completed",
                                    "data": {"pipeline": "deploy", "status": "success"}})
    resp = post_raw(api, path, body, headers)
    assert resp.status_code == 202, resp.text
    assert resp.json()["delivery_id"] == headers["webhook-id"]
    event = wait_for(lambda: _events(api, "webhook.pipeline.completed"))[0]
    assert event["instance_id"] == instance["id"]
    assert event["data"]["data"] == {"pipeline": "deploy", "status": "success"}
    deliveries = api.get(f"/instances/{instance['id']}/webhook/deliveries").json()["items"]
    assert [(d["status"], d["events"]) for d in deliveries] == [("processed", 1)]
    log = api.get(f"/logs/{instance['id']}", params={"operation": "webhook.delivery"})
    assert "processed: 1 event(s)" in log.text


def test_rejections_store_and_process_nothing(api: Api) -> None:
    instance = _instance(api)
    path, secret = standard_endpoint(api, instance["id"])
    payload = {"type": "pipeline.completed", "data": {"n": 1}}
    now = datetime.now(UTC)

    body, headers = signed(secret, payload)
    altered = post_raw(api, path, body.replace(b"1", b"2"), headers)
    stale = post_raw(api, path, *signed(secret, payload, when=now - timedelta(minutes=10)))
    future = post_raw(api, path, *signed(secret, payload, when=now + timedelta(minutes=10)))
    wrong_secret = post_raw(api, path, *signed("whsec_" + "QUJD" * 8, payload))
    unknown = post_raw(api, "/webhook/" + "x" * 43, *signed(secret, payload))
    unsigned = post_raw(api, path, json.dumps(payload).encode(),
                        {"content-type": "application/json"})
    for resp in (altered, stale, future, wrong_secret, unknown, unsigned):
        assert resp.status_code == 401, resp.text
    # The same answer for an unknown key and a bad signature: nothing to tell them apart.
    assert unknown.json() == altered.json() == wrong_secret.json()
    assert unknown.headers["content-type"] == altered.headers["content-type"]

    text = post_raw(api, path, body, {**headers, "content-type": "text/plain"})
    assert text.status_code == 415
    limit = api.client.app.state.settings.webhook_max_body_bytes  # type: ignore[attr-defined]
    big_body, big_headers = signed(secret, {"type": "x", "pad": "a" * limit})
    too_big = post_raw(api, path, big_body, big_headers)
    assert too_big.status_code == 413
    # A sender that streams without Content-Length is counted as it reads.
    chunked = api.client.post("/api/integration" + path, headers=big_headers,
                              content=iter([big_body[:1000], big_body[1000:]]))
    assert "content-length" not in {k.lower() for k in chunked.request.headers}
    assert chunked.status_code == 413

    assert count(api, WebhookDelivery) == 0  # nothing stored …
    accepted = post_raw(api, path, body, headers)
    assert accepted.status_code == 202
    replay = post_raw(api, path, body, headers)
    assert replay.status_code == 409
    wait_for(lambda: _events(api, "webhook.pipeline.completed"))
    api.client.app.state.event_worker.wake()  # type: ignore[attr-defined]
    assert count(api, WebhookDelivery) == 1  # … but the one genuine delivery, once
    assert count(api, OutboxEvent, OutboxEvent.event_type.like("webhook.%")) == 1


def test_secrets_rotate_and_are_sealed_at_rest(api: Api) -> None:
    instance = _instance(api)
    path, old = standard_endpoint(api, instance["id"])
    # Rotation: the sender signs with the new secret; both are accepted for a while.
    resp = api.put(f"/instances/{instance['id']}/webhook",
                   {"scheme": "standard_webhooks", "generate_secret": True, "secrets": [old]})
    new = resp.json()["new_secret"]
    assert resp.json()["secret_count"] == 2
    assert post_raw(api, path, *signed(new, {"type": "a"})).status_code == 202
    assert post_raw(api, path, *signed(old, {"type": "b"})).status_code == 202
    with make_session_factory(api.engine)() as session:
        stored = session.scalar(select(WebhookEndpoint))
        assert stored is not None
        assert new not in json.dumps(stored.secrets)
        assert old not in json.dumps(stored.secrets)
    assert new not in api.get(f"/instances/{instance['id']}/webhook").text
    # A new key: the old URL answers like any unknown key.
    rotated = api.post(f"/instances/{instance['id']}/webhook-key").json()
    assert rotated["url"].split("/api/integration", 1)[1] != path
    assert post_raw(api, path, *signed(new, {"type": "c"})).status_code == 401
    new_path = rotated["url"].split("/api/integration", 1)[1]
    assert post_raw(api, new_path, *signed(new, {"type": "c"})).status_code == 202


def test_shared_secret_header(api: Api) -> None:
    instance = _instance(api)
    resp = api.put(f"/instances/{instance['id']}/webhook",
                   {"scheme": "shared_secret", "secrets": ["s3cret-value-0123456789"],
                    "header_name": "X-Token"})
    assert resp.status_code == 200, resp.text
    path = resp.json()["url"].split("/api/integration", 1)[1]
    body = json.dumps({"type": "alert.fired"}).encode()
    good = post_raw(api, path, body, {"content-type": "application/json",
                                      "x-token": "s3cret-value-0123456789",
                                      "x-delivery-id": "d-1"})
    bad = post_raw(api, path, body, {"content-type": "application/json",
                                     "x-token": "s3cret-value-0123456780",
                                     "x-delivery-id": "d-2"})
    assert (good.status_code, bad.status_code) == (202, 401)
    wait_for(lambda: _events(api, "webhook.alert.fired"))
    problems = api.put(f"/instances/{instance['id']}/webhook",
                       {"scheme": "standard_webhooks", "secrets": ["short"]}).json()
    assert problems["errors"] == [{"field": "secrets.0", "message": "must start with whsec_"}]


def test_github_signature_is_verified_by_the_connector(api: Api) -> None:
    secret = "gh-webhook-secret-42"
    instance = api.create_instance("GitHub", "github", {"organization": "acme",
                                                        "webhook_secret": secret},
                                   activate=False)
    resp = api.put(f"/instances/{instance['id']}/webhook", {"scheme": "connector"})
    assert resp.status_code == 200, resp.text
    path = resp.json()["url"].split("/api/integration", 1)[1]
    body = json.dumps({"action": "completed", "repository": {"full_name": "acme/app"},
                       "workflow_run": {"id": 7, "conclusion": "success",
                                        "updated_at": "2026-11-26T10:00:00Z"},
                       "sender": {"login": "octo"}}).encode()

    def headers(key: str, delivery: str) -> dict[str, str]:
        digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        return {"content-type": "application/json", "x-github-event": "workflow_run",
                "x-github-delivery": delivery, "x-hub-signature-256": f"sha256={digest}"}

    assert post_raw(api, path, body, headers("wrong", "g-1")).status_code == 401
    assert post_raw(api, path, body, headers(secret, "g-2")).status_code == 202
    assert post_raw(api, path, body, headers(secret, "g-2")).status_code == 409
    event = wait_for(lambda: _events(api, "github.workflow_run.completed"))[0]
    assert event["data"]["repository"] == "acme/app"
    assert event["data"]["object"]["conclusion"] == "success"
    assert count(api, WebhookDelivery) == 1


@pytest.mark.parametrize("role", ["auditor"])
def test_readers_do_not_see_the_url(api: Api, role: str) -> None:
    instance = _instance(api)
    standard_endpoint(api, instance["id"])
    seen = api.get(f"/instances/{instance['id']}/webhook", role=Role(role)).json()
    assert seen["url"] is None
    assert seen["secret_count"] == 1
    assert api.post(f"/instances/{instance['id']}/webhook-key",
                    role=Role(role)).status_code == 403
