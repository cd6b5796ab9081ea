"""Writing events into the outbox, in the transaction of whatever caused them.

``emit`` inserts under a unique ``dedupe_key`` and skips a repeat, so a cause processed twice
(a sync resumed by another agent, a delivery re-parsed after a crash) gives one event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from server.agents.dbutil import insert_or_skip
from server.db.models import (
    IntegrationInstance,
    OutboxEvent,
    OutboxStatus,
    SyncExecution,
    SyncStatus,
)
from server.db.types import utcnow
from server.webhooks.bulk import insert_or_skip_many


def event_row(event_type: str, data: dict[str, Any], *, dedupe_key: str,
              instance_id: uuid.UUID | None = None, occurred_at: dt.datetime | None = None,
              now: dt.datetime | None = None) -> dict[str, Any]:
    """The outbox row of one event (for :func:`emit_many`)."""
    now = now or utcnow()
    return {"id": uuid.uuid4(), "event_type": event_type[:200], "instance_id": instance_id,
            "payload": data, "occurred_at": occurred_at or now,
            "dedupe_key": dedupe_key[:300], "status": OutboxStatus.PENDING.value,
            "created_at": now}


def emit(session: Session, event_type: str, data: dict[str, Any], *, dedupe_key: str,
         instance_id: uuid.UUID | None = None, occurred_at: dt.datetime | None = None) -> bool:
    """Add an event to the outbox (committed with the caller's transaction); False: a repeat."""
    return insert_or_skip(session, OutboxEvent.__table__, event_row(  # type: ignore[arg-type]
        event_type, data, dedupe_key=dedupe_key, instance_id=instance_id,
        occurred_at=occurred_at), ["dedupe_key"])


def emit_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add many events (rows of :func:`event_row`) in one statement; repeats are skipped."""
    insert_or_skip_many(session.connection(), OutboxEvent.__table__,  # type: ignore[arg-type]
                        rows, ["dedupe_key"])


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def sync_data(execution: SyncExecution, instance: IntegrationInstance | None) -> dict[str, Any]:
    return {
        "execution_id": str(execution.id), "instance_id": str(execution.instance_id),
        "instance": instance.name if instance else None,
        "connector": instance.connector.key if instance else None,
        "trigger": execution.trigger_type.value, "status": execution.status.value,
        "schedule_id": str(execution.schedule_id) if execution.schedule_id else None,
        "started_at": _iso(execution.start_time), "ended_at": _iso(execution.end_time),
        "stats": dict(execution.stats or {}),
        "error": execution.error_details if execution.status == SyncStatus.FAILED else None,
    }


def emit_sync_started(session: Session, execution: SyncExecution,
                      instance: IntegrationInstance | None) -> None:
    data = sync_data(execution, instance)
    data["status"] = "running"
    emit(session, "sync.started", data, dedupe_key=f"sync.started:{execution.id}",
         instance_id=execution.instance_id)


def emit_sync_finished(session: Session, execution: SyncExecution,
                       instance: IntegrationInstance | None) -> None:
    """``sync.<status>`` plus one ``record.<change>`` summary per kind of change."""
    emit_many(session, sync_finished_rows(execution, instance))  # one statement: 2-4 events


def sync_finished_rows(execution: SyncExecution, instance: IntegrationInstance | None, *,
                       now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The outbox rows of :func:`emit_sync_finished` (for syncs ending together)."""
    data = sync_data(execution, instance)
    now = now or utcnow()
    rows = [event_row(f"sync.{execution.status.value}", data,
                      dedupe_key=f"sync.finished:{execution.id}",
                      instance_id=execution.instance_id, now=now)]
    stats = execution.stats or {}
    for change in ("created", "updated", "deleted"):
        count = int(stats.get(change) or 0)
        if count <= 0:
            continue
        by_entity: dict[str, int] = {}
        for stream in (stats.get("streams") or {}).values():
            n = int(stream.get(change) or 0)
            if n:
                entity = str(stream.get("entity_type") or "unknown")
                by_entity[entity] = by_entity.get(entity, 0) + n
        rows.append(event_row(f"record.{change}", {
            "execution_id": str(execution.id), "instance_id": str(execution.instance_id),
            "instance": data["instance"], "count": count, "by_entity_type": by_entity,
        }, dedupe_key=f"record.{change}:{execution.id}", instance_id=execution.instance_id,
            now=now))
    return rows


def _status_changes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in list(session.dirty):
        if not isinstance(obj, IntegrationInstance):
            continue
        history = inspect(obj).attrs.status.history
        if not history.added or not history.deleted or history.added[0] == history.deleted[0]:
            continue
        before, after = history.deleted[0], history.added[0]
        session.add(OutboxEvent(
            id=uuid.uuid4(), event_type="instance.status_changed", instance_id=obj.id,
            payload={"instance_id": str(obj.id), "instance": obj.name,
                     "from": str(before), "to": str(after),
                     "error_message": obj.error_message},
            dedupe_key=f"instance.status_changed:{obj.id}:{uuid.uuid4()}",
            status=OutboxStatus.PENDING))


def install_status_hook() -> None:
    """Emit ``instance.status_changed`` from every session that changes a status (idempotent)."""
    if not event.contains(Session, "before_flush", _status_changes):
        event.listen(Session, "before_flush", _status_changes)
