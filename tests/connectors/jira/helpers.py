"""Helpers shared by the Jira connector tests."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.sandbox.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL, DEFAULT_PAT, JiraSimulator
from connectors.sdk import ConnectorContext, HttpMetrics, RetryPolicy
from connectors.sdk.auth import build_auth


def loopback_context() -> ConnectorContext:
    return ConnectorContext(
        allow_loopback=True,
        retry=RetryPolicy(max_attempts=3, backoff_base=0.01, max_retry_after=5),
        http_timeout=10,
        metrics=HttpMetrics(),
    )


def credentials_for(sim: JiraSimulator) -> httpx.Auth:
    """Cloud: e-mail + API token (Basic); Server / Data Center: personal access token."""
    if sim.cloud:
        auth = build_auth("basic", {"username": DEFAULT_EMAIL, "password": DEFAULT_API_TOKEN})
    else:
        auth = build_auth("bearer", {"token": DEFAULT_PAT})
    assert isinstance(auth, httpx.Auth)
    return auth


async def read_all(
    connector: Any, stream: str, state: Any = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    async for message in connector.read(stream, state):
        if message.type == "record":
            records.append(message.data)
        elif message.type == "state":
            final = message.state
    return records, final
