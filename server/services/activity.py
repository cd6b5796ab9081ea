"""Operational log entries (IntegrationLog) for what people and the agent did.

Every mutating API call records one entry with its principal, in the same transaction as the
change, so a change and its record are committed or lost together. Each entry is also queued
for the tamper-evident audit trail (:mod:`server.audit`), appended when the transaction commits;
deleting operational log rows (retention) never touches that chain.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from server.audit.recorder import from_activity
from server.db.models import IntegrationLog, LogType, Principal
from server.db.types import utcnow
from server.webhooks.bulk import insert_or_skip_many

_LOGS = cast(Table, IntegrationLog.__table__)
#: Built once; executed with one dict of values (every column).
_INSERT_LOG = insert(_LOGS)


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


def record_now(
    session: Session,
    operation: str,
    message: str,
    *,
    instance_id: uuid.UUID | None = None,
    sync_id: uuid.UUID | None = None,
    log_type: LogType = LogType.INFO,
    details: dict[str, Any] | None = None,
) -> None:
    """:func:`record` for the agent's own work, inserted at once by a plain INSERT: the same
    row and audit entry without an ORM object to flush (a sync's start and end each log one).
    Only for rows the entry refers to that are already in the database."""
    session.connection().execute(_INSERT_LOG, {
        "id": uuid.uuid4(), "operation": operation, "message": message, "log_type": log_type,
        "user_id": None, "instance_id": instance_id, "sync_id": sync_id,
        "details": dict(details or {}), "timestamp": utcnow()})
    from_activity(session, operation, message, principal=None, instance_id=instance_id,
                  sync_id=sync_id, log_type=log_type, details=details)


class Entry(NamedTuple):
    """One log entry of :func:`record_many` (no principal: the agent's own work)."""

    operation: str
    message: str
    instance_id: uuid.UUID | None = None
    log_type: LogType = LogType.INFO
    details: dict[str, Any] | None = None
    sync_id: uuid.UUID | None = None


def record_many(session: Session, entries: list[Entry]) -> None:
    """:func:`record` for many entries of the agent's own work, as one statement.

    The event worker logs each webhook delivery it parses, hundreds per transaction; as ORM
    objects they were a fifth of its time (issue 6). Each entry is still one log row and one
    audit-trail entry.
    """
    now = utcnow()
    rows = [{"id": uuid.uuid4(), "operation": e.operation, "message": e.message,
             "log_type": e.log_type.value, "user_id": None, "instance_id": e.instance_id,
             "sync_id": e.sync_id, "details": dict(e.details or {}), "timestamp": now}
            for e in entries]
    insert_or_skip_many(session.connection(), IntegrationLog.__table__,  # type: ignore[arg-type]
                        rows, [])
    for e in entries:
        from_activity(session, e.operation, e.message, principal=None,
                      instance_id=e.instance_id, sync_id=e.sync_id, log_type=e.log_type,
                      details=e.details)
