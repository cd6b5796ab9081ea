"""The conformance kit, then what is specific to Pinewood: increments, scopes, write, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fake_pinewood import TOKEN, WEBHOOK_SECRET, FakePinewood
from pinewood_connector import PinewoodConnector

from connectors.sdk import (
    CheckName,
    ConnectorContext,
    InvalidInputError,
    RecordMessage,
    StateMessage,
    WebhookRequest,
    WebhookVerificationError,
)
from connectors.sdk.testing import conformance_tests

TestConformance = conformance_tests(
    PinewoodConnector, config="config", credentials="credentials",
    secrets=[TOKEN, WEBHOOK_SECRET],
)


@pytest.fixture
async def connector(
    config: dict[str, Any], credentials: Any, loopback_context: ConnectorContext
) -> AsyncIterator[PinewoodConnector]:
    async with PinewoodConnector(config, credentials=credentials, context=loopback_context) as c:
        yield c


async def read_all(connector: PinewoodConnector, state: Any = None) -> tuple[list[int], Any]:
    messages = [m async for m in connector.read("issues", state)]
    final = messages[-1]
    assert isinstance(final, StateMessage)
    return [m.data["id"] for m in messages if isinstance(m, RecordMessage)], final.state


async def test_a_second_read_returns_only_the_changed_issue(
    connector: PinewoodConnector, pinewood: FakePinewood
) -> None:
    ids, state = await read_all(connector)
    assert ids == [1, 2, 3, 4, 5, 6, 7]
    pinewood.touch(3, "2024-06-09T12:00:00Z")
    ids, state = await read_all(connector, state)
    assert ids == [3]
    assert state["cursor"] == "2024-06-09T12:00:00Z"


async def test_a_token_without_the_read_scope_fails_the_permissions_step(
    connector: PinewoodConnector, pinewood: FakePinewood
) -> None:
    pinewood.scopes = ["issues:write"]
    result = await connector.check()
    item = result.item(CheckName.PERMISSIONS)
    assert item is not None
    assert (result.reachable, result.authenticated, result.permissions) == (True, True, False)
    assert item.hint == "Create a Pinewood token with the 'issues:read' scope."


async def test_create_issue_validates_its_input_and_creates_the_issue(
    connector: PinewoodConnector, pinewood: FakePinewood
) -> None:
    with pytest.raises(InvalidInputError, match="title"):
        await connector.write("create_issue", {"title": "", "priority": "high"})
    result = await connector.write("create_issue", {"title": "Rotate keys", "priority": "high"})
    assert result.output == {"id": 8, "status": "open"}
    assert pinewood.issues[-1]["title"] == "Rotate keys"


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> WebhookRequest:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return WebhookRequest(body=body, headers={"X-Pinewood-Signature": f"sha256={digest}"})


async def test_a_signed_webhook_becomes_an_event_and_a_forged_one_is_refused(
    connector: PinewoodConnector,
) -> None:
    body = json.dumps({"event": "issue.updated", "delivery_id": "d-1",
                       "issue": {"id": 3, "updated_at": "2024-06-09T12:00:00Z"}}).encode()
    (event,) = await connector.handle_webhook(signed(body))
    assert (event.type, event.id, event.payload["id"]) == ("issue.updated", "d-1", 3)
    with pytest.raises(WebhookVerificationError):
        await connector.handle_webhook(signed(body, "not-the-secret"))
