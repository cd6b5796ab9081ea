"""Operational log entries (IntegrationLog) for what people and the agent did.

Every mutating API call records one entry with its principal, in the same transaction as the
change, so a change and its record are committed or lost together. Each entry is also queued
for the tamper-evident audit trail (:mod:`server.audit`), appended when the transaction commits;
deleting operational log rows (retention) never touches that chain.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from server.audit.recorder import from_activity
from server.db.models import IntegrationLog, LogType, Principal


def record(
    session: Session,
    operation: str,
    message: str,
    *,
    principal: Principal | None = None,
    instance_id: uuid.UUID | None = None,
    sync_id: uuid.UUID | None = None,
    log_type: LogType = LogType.INFO,
    details: dict[str, Any] | None = None,
) -> IntegrationLog:
    entry = IntegrationLog(
        id=uuid.uuid4(), operation=operation, message=message, log_type=log_type,
        user_id=principal.id if principal else None, instance_id=instance_id, sync_id=sync_id,
        details={**(details or {}), **({"principal": principal.name} if principal else {})},
    )
    session.add(entry)
    from_activity(session, operation, message, principal=principal, instance_id=instance_id,
                  sync_id=sync_id, log_type=log_type, details=details)
    return entry
