"""The delivery URL's fast paths (issue 6): group commit under concurrency, batched processing,
and the ASGI wrapper that serves deliveries ahead of FastAPI. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from server.db.engine import make_session_factory
from server.db.models import IntegrationLog, OutboxEvent, WebhookDelivery
from server.webhooks.asgi import WebhookFastPath
from server.webhooks.intake import APPLICATION, Answer, WebhookIntake
from tests.support.api import Api
from tests.webhooks.helpers import count, post_raw, signed, standard_endpoint, wait_for


def _instance(api: Api) -> dict[str, Any]:
    return api.create_instance("CI", "generic-rest",
                               {"base_url": "http://127.0.0.1:9", "streams": []},
                               activate=False)


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


def test_concurrent_deliveries_share_commits_and_replays_are_refused_once(api: Api) -> None:
    instance = _instance(api)
    path, secret = standard_endpoint(api, instance["id"])
    key = path.rsplit("/", 1)[1]
    intake: WebhookIntake = api.client.app.state.webhook_intake  # type: ignore[attr-defined]
    distinct = [signed(secret, {"type": "build.done", "data": {"n": i}}) for i in range(60)]
    replayed = signed(secret, {"type": "build.done", "data": {"n": -1}}, msg_id="msg_twice")

    async def burst() -> list[Answer]:
        deliveries = [*distinct, *([replayed] * 8)]
        return await asyncio.gather(*(
            intake.handle(key, {k.lower(): v for k, v in headers.items()}, {}, _once(body))
            for body, headers in deliveries))

    answers = api.client.portal.call(burst)  # type: ignore[union-attr]
    assert [a.status for a in answers[:60]] == [202] * 60
    assert sorted(a.status for a in answers[60:]) == [202] + [409] * 7
    assert count(api, WebhookDelivery) == 61

    # The worker turns each one into one event and one log (and audit) entry.
    wait_for(lambda: count(api, OutboxEvent, OutboxEvent.event_type == "webhook.build.done")
             == 61)
    wait_for(lambda: count(api, IntegrationLog, IntegrationLog.operation == "webhook.delivery")
             == 61)
    with make_session_factory(api.engine)() as session:
        statuses = set(session.scalars(select(WebhookDelivery.status)))
        payloads = [e.payload for e in session.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type == "webhook.build.done"))]
    assert {s.value for s in statuses} == {"processed"}
    assert sorted(p["data"]["n"] for p in payloads) == [-1, *range(60)]
    assert {p["_delivery_id"] for p in payloads} >= {"msg_twice"}


def test_a_body_that_is_not_json_fails_alone(api: Api) -> None:
    instance = _instance(api)
    path, secret = standard_endpoint(api, instance["id"])
    good_body, good = signed(secret, {"type": "ok"})
    bad_body = b"{not json"
    now = datetime.now(UTC)
    bad = {"content-type": "application/json", "webhook-id": "msg_bad",
           "webhook-timestamp": str(int(now.timestamp())),
           "webhook-signature": Webhook(secret).sign("msg_bad", now, bad_body.decode())}
    assert post_raw(api, path, bad_body, bad).status_code == 202
    assert post_raw(api, path, good_body, good).status_code == 202
    # Processed in the same batch or not, the broken one fails and the other one goes on.
    wait_for(lambda: count(api, IntegrationLog, IntegrationLog.operation == "webhook.delivery")
             == 2)
    assert count(api, OutboxEvent, OutboxEvent.event_type == "webhook.ok") == 1
    with make_session_factory(api.engine)() as session:
        failed = session.scalar(select(WebhookDelivery).where(
            WebhookDelivery.delivery_id == "msg_bad"))
        assert failed is not None
        assert (failed.status.value, failed.error) == ("failed", "the body is not valid JSON")
        assert (failed.events, failed.claimed_by) == (0, None)


def test_fast_path_answers_like_the_api_route_and_passes_the_rest_on(api: Api) -> None:
    instance = _instance(api)
    path, secret = standard_endpoint(api, instance["id"])
    app = api.client.app
    fast = WebhookFastPath(app, app.state.webhook_intake)  # type: ignore[attr-defined]
    body, headers = signed(secret, {"type": "deploy.finished"})
    forged = body.replace(b"deploy", b"revert")
    unknown = "/api/integration/webhook/" + "x" * 43

    async def through_fast_path() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=fast)
        async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
            return [
                await client.post("/api/integration" + path, content=body, headers=headers),
                await client.post("/api/integration" + path, content=body, headers=headers),
                await client.post("/api/integration" + path, content=forged, headers=headers),
                await client.post(unknown, content=body, headers=headers),
                await client.post("/api/integration" + path, content=body,
                                  headers={**headers, "content-type": "text/plain"}),
                await client.get("/api/integration/health"),
                await client.get("/api/integration" + path),
            ]

    ok, replay, bad, nokey, text, health, get = api.client.portal.call(  # type: ignore[union-attr]
        through_fast_path)
    assert ok.status_code == 202
    assert ok.json()["delivery_id"] == headers["webhook-id"]
    assert replay.status_code == 409
    assert (bad.status_code, nokey.status_code, text.status_code) == (401, 401, 415)
    assert bad.json() == nokey.json()
    assert bad.headers["content-type"] == "application/problem+json"
    # The same answers as the API route (no wrapper) gives.
    routed = post_raw(api, path, forged, headers)
    assert (routed.status_code, routed.json()) == (401, bad.json())
    assert post_raw(api, path, body, headers).json() == replay.json()
    assert health.status_code == 200  # everything else reaches the app
    assert get.status_code == 405
    wait_for(lambda: count(api, OutboxEvent,
                           OutboxEvent.event_type == "webhook.deploy.finished") == 1)


class _Broken:
    async def asgi(self, scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("database gone")


@pytest.mark.parametrize(("path", "method", "served"), [
    ("/api/integration/webhook/k", "POST", "intake"),
    ("/api/integration/webhook/k/more", "POST", "app"),
    ("/api/integration/webhook/", "POST", "app"),
    ("/api/integration/webhook/k", "GET", "app"),
    ("/api/integration/health", "POST", "app"),
])
def test_fast_path_routing_and_failure(path: str, method: str, served: str) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append("app")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    fast = WebhookFastPath(app, _Broken())  # type: ignore[arg-type]

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=fast)
        async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
            return await client.request(method, path, content=b"{}")

    resp = asyncio.run(call())
    if served == "app":
        assert (seen, resp.status_code) == (["app"], 204)
    else:  # the intake failed: a problem+json 500, as the API's last-resort handler answers
        assert seen == []
        assert resp.status_code == 500
        assert resp.headers["content-type"] == "application/problem+json"
        assert json.loads(resp.content)["title"] == "Internal error"


def test_a_writer_connection_the_server_dropped_is_replaced(api: Api, backend: str,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """PostgreSQL: the intake's own connections are checked after idling, so a database that
    restarted (here: the writer's backend terminated) costs no delivery."""
    if backend != "postgresql":
        pytest.skip("the intake writes through its own connections on PostgreSQL only")
    instance = _instance(api)
    path, secret = standard_endpoint(api, instance["id"])
    intake: WebhookIntake = api.client.app.state.webhook_intake  # type: ignore[attr-defined]
    monkeypatch.setattr(intake.writer, "IDLE_PING_SECONDS", 0.0)
    assert post_raw(api, path, *signed(secret, {"type": "one"})).status_code == 202
    with api.engine.connect() as conn:
        killed = conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            f"current_database() AND application_name = '{APPLICATION}'").scalars().all()
    assert killed == [True]
    assert post_raw(api, path, *signed(secret, {"type": "two"})).status_code == 202
    assert count(api, WebhookDelivery) == 2
