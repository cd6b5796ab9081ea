"""Jira webhooks with a secret: X-Hub-Signature verified, the event parsed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.builtin.jira import JiraConnector
from connectors.sandbox.jira import JiraSimulator
from connectors.sdk import ConnectorContext, WebhookRequest, WebhookVerificationError
from tests.sdk.servers import Reply, Server, serve

SECRET = "jira-webhook-secret-0123"


@pytest.fixture
def receiver() -> Iterator[Server]:
    with serve(lambda seen: Reply(200, {})) as server:
        yield server


def delivered(receiver: Server) -> WebhookRequest:
    seen = receiver.seen[-1]
    return WebhookRequest(body=seen.body, headers=seen.headers)


async def test_signed_issue_update_is_verified_and_parsed(
    jira_config: dict[str, Any], jira_auth: Any, context: ConnectorContext,
    sim: JiraSimulator, receiver: Server,
) -> None:
    sent = sim.deliver_webhook(receiver.url, "jira:issue_updated", key="SEC-3", secret=SECRET)
    async with JiraConnector({**jira_config, "webhook_secret": SECRET}, credentials=jira_auth,
                             context=context) as connector:
        events = await connector.handle_webhook(delivered(receiver))
        assert [e.type for e in events] == ["jira.issue_updated"]
        assert events[0].payload["issue_key"] == "SEC-3"
        assert events[0].id == sent["identifier"]
        sim.deliver_webhook(receiver.url, "jira:issue_updated", secret="other-secret-999")
        with pytest.raises(WebhookVerificationError):
            await connector.handle_webhook(delivered(receiver))
