"""Signed webhook deliveries from the simulator: verified in constant time, parsed to events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.builtin.github import GitHubConnector
from connectors.sandbox.github import GitHubSimulator
from connectors.sdk import ConnectorContext, WebhookRequest, WebhookVerificationError
from tests.sdk.servers import Reply, Server, serve

SECRET = "whsec-test-0123456789"


@pytest.fixture
def receiver() -> Iterator[Server]:
    """An HTTP endpoint standing in for the agent's webhook route."""
    with serve(lambda seen: Reply(202, {"accepted": True})) as server:
        yield server


def delivered(receiver: Server) -> WebhookRequest:
    seen = receiver.seen[-1]
    return WebhookRequest(body=seen.body, headers=seen.headers)


@pytest.fixture
async def hooked(
    github_config: dict[str, Any], github_pat_auth: Any, context: ConnectorContext
) -> Any:
    async with GitHubConnector(
        {**github_config, "webhook_secret": SECRET}, credentials=github_pat_auth, context=context
    ) as connector:
        yield connector


@pytest.mark.parametrize(
    ("event", "kind", "object_key"),
    [
        ("push", "github.push", "id"),
        ("pull_request", "github.pull_request.opened", "number"),
        ("workflow_run", "github.workflow_run.completed", "conclusion"),
        ("dependabot_alert", "github.dependabot_alert.created", "security_advisory"),
        ("code_scanning_alert", "github.code_scanning_alert.appeared_in_branch", "rule"),
    ],
)
async def test_signed_delivery_verifies_and_parses_into_an_event(
    sim: GitHubSimulator, receiver: Server, hooked: GitHubConnector,
    event: str, kind: str, object_key: str,
) -> None:
    sent = sim.deliver_webhook(receiver.url + "/api/integration/webhook/github", event,
                               secret=SECRET)
    assert sent["status"] == 202
    request = delivered(receiver)
    assert (request.header("X-Hub-Signature-256") or "").startswith("sha256=")
    events = await hooked.handle_webhook(request)
    assert len(events) == 1
    parsed = events[0]
    assert parsed.type == kind
    assert parsed.id == sent["delivery"]
    assert parsed.payload["repository"] == "acme-corp/payments-api"
    assert parsed.payload["organization"] == "acme-corp"
    assert object_key in parsed.payload["object"]
    assert parsed.occurred_at


async def test_bad_signature_is_refused(
    sim: GitHubSimulator, receiver: Server, hooked: GitHubConnector
) -> None:
    sim.deliver_webhook(receiver.url, "push", secret="some-other-secret")
    with pytest.raises(WebhookVerificationError) as raised:
        await hooked.handle_webhook(delivered(receiver))
    assert "some-other-secret" not in str(raised.value)
    assert SECRET not in str(raised.value)


async def test_tampered_body_is_refused(
    sim: GitHubSimulator, receiver: Server, hooked: GitHubConnector
) -> None:
    sim.deliver_webhook(receiver.url, "push", secret=SECRET)
    original = delivered(receiver)
    tampered = WebhookRequest(body=original.body.replace(b"main", b"prod"),
                              headers=original.headers)
    with pytest.raises(WebhookVerificationError):
        await hooked.handle_webhook(tampered)


async def test_missing_signature_is_refused(
    sim: GitHubSimulator, receiver: Server, hooked: GitHubConnector
) -> None:
    sim.deliver_webhook(receiver.url, "push", secret=SECRET)
    original = delivered(receiver)
    headers = {k: v for k, v in original.headers.items() if "signature" not in k.lower()}
    with pytest.raises(WebhookVerificationError, match="no signature"):
        await hooked.handle_webhook(WebhookRequest(body=original.body, headers=headers))


async def test_without_a_configured_secret_every_delivery_is_refused(
    sim: GitHubSimulator, receiver: Server, connector: GitHubConnector
) -> None:
    sim.deliver_webhook(receiver.url, "push", secret=SECRET)
    with pytest.raises(WebhookVerificationError, match="No webhook secret"):
        await connector.handle_webhook(delivered(receiver))


async def test_simulated_event_over_the_control_api_reaches_the_receiver(
    sim: GitHubSimulator, receiver: Server, hooked: GitHubConnector, github_config: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=github_config["base_url"]) as client:
        answer = await client.post("/_sim/events", json={
            "url": receiver.url, "event": "workflow_run", "secret": SECRET})
    assert answer.status_code == 201
    assert answer.json()["status"] == 202
    events = await hooked.handle_webhook(delivered(receiver))
    assert events[0].type == "github.workflow_run.completed"


async def test_unknown_events_are_accepted_and_ignored(
    sim: GitHubSimulator, receiver: Server, hooked: GitHubConnector
) -> None:
    sim.deliver_webhook(receiver.url, "star", secret=SECRET, payload={"action": "created"})
    assert await hooked.handle_webhook(delivered(receiver)) == []
