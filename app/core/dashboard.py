"""Figures for the home dashboard, computed from plain API rows (Qt-free, unit-testable)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.formatting import parse_timestamp


def health_of(instance: Mapping[str, Any]) -> str:
    """healthy / degraded / failing / paused for one instance row (merged with its status).

    failing: the instance is in error or its last sync failed; degraded: active but the last
    sync had record errors; paused: inactive or still being configured.
    """
    status = instance.get("status")
    if status == "error" or instance.get("last_sync_status") == "failed":
        return "failing"
    if status != "active":
        return "paused"
    if (instance.get("last_sync_errors") or 0) > 0:
        return "degraded"
    return "healthy"


def health_counts(instances: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = {"healthy": 0, "degraded": 0, "failing": 0, "paused": 0}
    for instance in instances:
        counts[health_of(instance)] += 1
    return counts


@dataclass
class DailySyncs:
    """Per-day sync figures, oldest day first, every day present (zeros included)."""

    days: list[dt.date] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    records: list[int] = field(default_factory=list)

    @property
    def error_rate(self) -> list[float]:
        """Failed syncs as a percentage of finished syncs, per day."""
        return [
            100.0 * f / (c + f) if (c + f) else 0.0
            for c, f in zip(self.completed, self.failed, strict=True)
        ]


def daily_syncs(
    executions: Iterable[Mapping[str, Any]], days: int = 14, today: dt.date | None = None
) -> DailySyncs:
    """Bucket executions by the (UTC) day they started."""
    last = today or dt.datetime.now(dt.UTC).date()
    span = [last - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    index = {day: i for i, day in enumerate(span)}
    out = DailySyncs(span, [0] * days, [0] * days, [0] * days)
    for run in executions:
        started = parse_timestamp(run.get("start_time") or run.get("created_at"))
        if started is None:
            continue
        i = index.get(started.astimezone(dt.UTC).date())
        if i is None:
            continue
        if run.get("status") == "failed":
            out.failed[i] += 1
        elif run.get("status") == "completed":
            out.completed[i] += 1
        out.records[i] += int(run.get("records_processed") or 0)
    return out


def alerts(
    instances: Iterable[Mapping[str, Any]], credentials: Iterable[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """What needs attention, worst first: failing instances, then expiring credentials."""
    instances = list(instances)
    found: list[dict[str, str]] = []
    for instance in instances:
        if health_of(instance) == "failing":
            why = instance.get("error_message") or f"last sync {instance.get('last_sync_status')}"
            found.append(
                {"level": "error", "subject": str(instance.get("name")), "message": str(why)}
            )
    for cred in credentials:
        if cred.get("expires_soon"):
            found.append(
                {
                    "level": "warning",
                    "subject": str(cred.get("name")),
                    "message": f"credential expires {cred.get('expiration') or 'soon'}",
                }
            )
    for instance in instances:
        if health_of(instance) == "degraded":
            found.append(
                {
                    "level": "warning",
                    "subject": str(instance.get("name")),
                    "message": f"{instance.get('last_sync_errors')} record errors in the last sync",
                }
            )
    return found
