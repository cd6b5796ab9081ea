"""Helpers shared by the Splunk connector tests."""

from __future__ import annotations

from typing import Any

from connectors.sdk import ConnectorContext, HttpMetrics, RetryPolicy


def loopback_context() -> ConnectorContext:
    return ConnectorContext(
        allow_loopback=True,
        retry=RetryPolicy(max_attempts=3, backoff_base=0.01, max_retry_after=5),
        http_timeout=10,
        metrics=HttpMetrics(),
    )


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
