"""Raw measurements, recorded while syncs run: one row per HTTP attempt, one per sync.

The connector's HTTP client reports every attempt to ``ConnectorContext.metrics``; the
:class:`SampleRecorder` listens there (on the event loop) and hands the rows to the engine,
which writes them in the same transaction as the batch or the sync's end, so a sync that is
resumed neither loses nor repeats its samples.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from connectors.sdk.http.metrics import HttpMetrics, RequestMetric
from server.db.models import MetricSample, SampleKind, SyncExecution, SyncStatus
from server.db.types import utcnow


def category_of(metric: RequestMetric) -> str | None:
    """The error class of one attempt, as the SDK would classify it (None: no error)."""
    status = metric.status
    if metric.error is not None:
        return "transient"
    if metric.throttled or status == 429:
        return "rate_limited"
    if status is None or status < 400:
        return None
    if status in (401, 403):
        return "auth"
    return "remote"


def request_row(instance_id: uuid.UUID, sync_id: uuid.UUID | None,
                metric: RequestMetric) -> dict[str, Any]:
    status = metric.status
    server_failed = status is not None and status >= 500 and not metric.throttled
    return {
        "id": uuid.uuid4(), "instance_id": instance_id, "sync_id": sync_id,
        "kind": SampleKind.REQUEST, "recorded_at": utcnow(),
        "duration_ms": round(metric.latency_s * 1000, 3),
        "ok": metric.error is None and status is not None and status < 400,
        "unavailable": metric.error is not None or server_failed,
        "throttled": metric.throttled, "status_code": status,
        "bytes_sent": metric.bytes_sent, "bytes_received": metric.bytes_received,
        "records": 0, "error_category": category_of(metric),
    }


class SampleRecorder:
    """Collects one sync's HTTP attempts until the engine writes them (see :meth:`take`)."""

    def __init__(self, instance_id: uuid.UUID, sync_id: uuid.UUID | None) -> None:
        self.instance_id = instance_id
        self.sync_id = sync_id
        self._rows: list[dict[str, Any]] = []

    def attach(self, metrics: HttpMetrics) -> None:
        if self.observe not in metrics.listeners:
            metrics.listeners.append(self.observe)

    def observe(self, metric: RequestMetric) -> None:
        self._rows.append(request_row(self.instance_id, self.sync_id, metric))

    def take(self) -> list[dict[str, Any]]:
        """The rows so far (call on the event loop; the list is swapped, not copied)."""
        rows, self._rows = self._rows, []
        return rows


def write(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert sample rows (one per HTTP attempt: a Core insert, the ORM's bulk path costs a
    fifth more per row and these rows need none of it)."""
    if rows:
        session.connection().execute(insert(cast(Table, MetricSample.__table__)), rows)


def sync_row(execution: SyncExecution, error: dict[str, Any] | None) -> dict[str, Any]:
    """The sample of a finished sync: its duration, outcome and records processed."""
    end = execution.end_time or utcnow()
    duration = max(0.0, (end - execution.start_time).total_seconds() * 1000)
    return {
        "id": uuid.uuid4(), "instance_id": execution.instance_id, "sync_id": execution.id,
        "kind": SampleKind.SYNC, "recorded_at": end, "duration_ms": round(duration, 3),
        "ok": execution.status == SyncStatus.COMPLETED, "unavailable": False,
        "throttled": False, "status_code": None, "bytes_sent": 0, "bytes_received": 0,
        "records": execution.records_processed or 0,
        "error_category": (error or {}).get("category")
        if execution.status == SyncStatus.FAILED else None,
    }
