"""The one call the sync engine makes when a sync ends (inside its final transaction)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from server.db.models import IntegrationInstance, SyncExecution, SyncStatus
from server.monitoring import alerts, recovery, samples
from server.monitoring.config import MonitoringConfig

log = logging.getLogger(__name__)


def sync_finished(session: Session, execution: SyncExecution,
                  instance: IntegrationInstance | None, error: dict[str, Any] | None,
                  request_rows: list[dict[str, Any]], config: MonitoringConfig) -> None:
    """Samples, circuit breaker, tasks and alerts for a sync that just ended."""
    if execution.status in (SyncStatus.COMPLETED, SyncStatus.FAILED):
        request_rows = [*request_rows, samples.sync_row(execution, error)]
    samples.write(session, request_rows)  # one COPY for the requests and the sync
    if instance is None:
        return
    recovery.after_sync(session, execution, instance, error, config)
    alerts.evaluate_instance(session, instance, config)


def syncs_completed(session: Session,
                    ended: list[tuple[SyncExecution, IntegrationInstance,
                                      list[dict[str, Any]]]],
                    config: MonitoringConfig) -> None:
    """:func:`sync_finished` for syncs that completed together (with their request rows):
    one COPY of every sample, then each instance's breaker, tasks and alerts."""
    rows: list[dict[str, Any]] = []
    for execution, _, request_rows in ended:
        rows += request_rows
        rows.append(samples.sync_row(execution, None))
    samples.write(session, rows)
    for execution, instance, _ in ended:
        recovery.after_sync(session, execution, instance, None, config)
        alerts.evaluate_instance(session, instance, config)
