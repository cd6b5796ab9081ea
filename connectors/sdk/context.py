"""The instance options the agent hands a connector (they come from the instance, not config)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx

from connectors.sdk.http.client import RetryPolicy
from connectors.sdk.http.guard import AddressPolicy, policy_networks
from connectors.sdk.http.metrics import HttpMetrics
from connectors.sdk.http.ratelimit import TokenBucket

__all__ = ["ConnectorContext"]


@dataclass(frozen=True)
class ConnectorContext:
    """Per-instance options and shared per-instance objects.

    Args:
        instance_id: the IntegrationInstance id, for logs and metrics.
        allow_loopback: let the address guard pass 127.0.0.0/8 and ::1 (an admin's choice for
            systems on the agent's own machine; tests use it for loopback servers).
        blocked_networks: extra CIDRs the guard refuses (from agent settings).
        rate_limit_per_second / rate_limit_burst: the instance's client-side token bucket.
        http_timeout: seconds for connect/read/write/pool.
        verify_tls: verify server certificates (True), or a CA bundle path.
        logger: where the connector logs (secrets are redacted before they reach it).
        metrics: the instance's HTTP metrics; the engine reads them after each operation.
        options: any further instance options, read-only.
        retry: the retry policy of this instance's HTTP clients (None: the SDK default).
        transport: an inner httpx transport for tests; still wrapped by the address guard.
    """

    instance_id: str | None = None
    allow_loopback: bool = False
    blocked_networks: tuple[str, ...] = ()
    rate_limit_per_second: float | None = None
    rate_limit_burst: float | None = None
    http_timeout: float = 30.0
    verify_tls: bool | str = True
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("connectors"))
    metrics: HttpMetrics = field(default_factory=HttpMetrics)
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    retry: RetryPolicy | None = None
    transport: httpx.AsyncBaseTransport | None = None
    _bucket: list[TokenBucket] = field(default_factory=list, repr=False, compare=False)

    @property
    def address_policy(self) -> AddressPolicy:
        return AddressPolicy(
            allow_loopback=self.allow_loopback,
            extra_blocked=policy_networks(self.blocked_networks),
        )

    @property
    def rate_limiter(self) -> TokenBucket | None:
        """The instance's one token bucket (created on first use), or None if unlimited."""
        if self.rate_limit_per_second is None:
            return None
        if not self._bucket:
            self._bucket.append(TokenBucket(self.rate_limit_per_second, self.rate_limit_burst))
        return self._bucket[0]
