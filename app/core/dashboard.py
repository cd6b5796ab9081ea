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


def merge_health(instances: Iterable[dict[str, Any]], health: Mapping[str, Any]) -> None:
    """Put the agent's verdict on each instance row: ``health``, ``health_score`` and
    ``health_reason`` from ``GET /health``'s detail; rows it does not cover (an older agent,
    an instance created since) keep :func:`health_of`'s reading of the row itself."""
    detail = {str(h.get("instance_id")): h for h in health.get("instance_health") or []}
    for row in instances:
        verdict = detail.get(str(row.get("id")))
        if verdict is None:
            row["health"] = health_of(row)
            continue
        row["health"] = verdict.get("health") or health_of(row)
        row["health_score"] = verdict.get("score")
        row["health_reason"] = verdict.get("reason")


def health_counts(instances: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Instances per health state: the row's ``health`` (see :func:`merge_health`) or,
    without one, :func:`health_of`."""
    counts = {"healthy": 0, "degraded": 0, "failing": 0, "paused": 0}
    for instance in instances:
        state = instance.get("health")
        counts[state if state in counts else health_of(instance)] += 1
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


def alert_rows(
    alerts: Iterable[Mapping[str, Any]], instances: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The agent's active alerts (``GET /alerts?status=active``) as alert-panel rows.

    The agent decides what is an alert (consecutive failures, an instance in error, hung or
    stale syncs, expiring credentials, throttling spikes, version problems) and resolves them
    itself; the console only orders them: critical first, unacknowledged first, newest first.
    """
    names = {str(i.get("id")): str(i.get("name")) for i in instances}
    rows = []
    for alert in alerts:
        critical = alert.get("severity") == "critical"
        rows.append({
            "id": alert.get("id"),
            "level": "error" if critical else "warning",
            "subject": names.get(str(alert.get("instance_id")), "Agent"),
            "message": str(alert.get("title") or alert.get("kind")),
            "detail": str(alert.get("message") or ""),
            "hint": alert.get("hint"),
            "status": alert.get("status"),
            "last_seen_at": alert.get("last_seen_at"),
        })
    rows.sort(key=lambda r: str(r["last_seen_at"] or ""), reverse=True)
    rows.sort(key=lambda r: (r["level"] != "error", r["status"] != "open"))
    return rows
