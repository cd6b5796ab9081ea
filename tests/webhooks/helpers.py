"""Shared by the issue-6 tests: webhook settings, signed deliveries, waiting for the worker."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from server.db.engine import make_session_factory
from tests.support.api import Api

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 15.0, every: float = 0.05) -> T:
    """Poll until ``check()`` is truthy; returns it (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(every)


def count(api: Api, model: Any, *where: Any) -> int:
    with make_session_factory(api.engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def standard_endpoint(api: Api, instance_id: str) -> tuple[str, str]:
    """Give the instance a Standard Webhooks endpoint; returns (path, secret)."""
    resp = api.put(f"/instances/{instance_id}/webhook",
                   {"scheme": "standard_webhooks", "generate_secret": True})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return body["url"].split("/api/integration", 1)[1], body["new_secret"]


def signed(secret: str, payload: dict[str, Any], *, msg_id: str | None = None,
           when: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    """A body and headers signed by the independent ``standardwebhooks`` package."""
    body = json.dumps(payload).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    when = when or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, when, body.decode())
    return body, {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
                  "webhook-signature": signature, "content-type": "application/json"}


def post_raw(api: Api, path: str, body: bytes, headers: dict[str, str]) -> Any:
    """POST without a bearer token (the public webhook door)."""
    return api.client.post("/api/integration" + path, content=body, headers=headers)
