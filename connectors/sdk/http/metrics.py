"""Per-request metrics of a connector instance's HTTP traffic, for the monitoring service.

The client records one :class:`RequestMetric` per attempt; :class:`HttpMetrics` keeps running
totals and hands each metric to listeners (the engine aggregates them into ConnectorMetrics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HttpMetrics", "RequestMetric"]


@dataclass(frozen=True)
class RequestMetric:
    """One HTTP attempt. ``status`` is None when no response came (network error)."""

    method: str
    host: str
    path: str
    status: int | None
    latency_s: float
    bytes_sent: int
    bytes_received: int
    attempt: int
    throttled: bool = False
    error: str | None = None


@dataclass
class HttpMetrics:
    """Running totals; safe to share between the clients of one instance (one event loop)."""

    requests: int = 0
    errors: int = 0
    retries: int = 0
    throttled: int = 0  # 429 (or 503 + Retry-After) answers: the server throttled us
    throttle_pauses: int = 0  # times we paused because rate-limit headers said quota was spent
    throttle_wait_s: float = 0.0  # seconds spent waiting on the server's rate limits
    bytes_sent: int = 0
    bytes_received: int = 0
    latency_total_s: float = 0.0
    latency_max_s: float = 0.0
    status_counts: Counter[int] = field(default_factory=Counter)
    listeners: list[Callable[[RequestMetric], None]] = field(default_factory=list, repr=False)

    def record(self, metric: RequestMetric) -> None:
        self.requests += 1
        self.bytes_sent += metric.bytes_sent
        self.bytes_received += metric.bytes_received
        self.latency_total_s += metric.latency_s
        self.latency_max_s = max(self.latency_max_s, metric.latency_s)
        if metric.status is not None:
            self.status_counts[metric.status] += 1
        if metric.error is not None or (metric.status is not None and metric.status >= 400):
            self.errors += 1
        if metric.throttled:
            self.throttled += 1
        for listener in self.listeners:
            listener(metric)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able totals (the monitoring service's view)."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "retries": self.retries,
            "throttled": self.throttled,
            "throttle_pauses": self.throttle_pauses,
            "throttle_wait_s": round(self.throttle_wait_s, 3),
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "latency_avg_ms": round(1000 * self.latency_total_s / self.requests, 2)
            if self.requests
            else None,
            "latency_max_ms": round(1000 * self.latency_max_s, 2),
            "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
        }
