"""Outbox processing steps, each one short transaction safe to run on several agents at once.

``dispatch`` fans pending events out into actions; ``claim_actions`` hands due actions to one
agent (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a claim lease everywhere); ``settle`` records
an attempt and its outcome. The unique keys (event dedupe key; event + target) make every
step repeatable: at least once, never twice for the same event and target.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import uuid
from typing import Any, NamedTuple

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from server.agents.dbutil import insert_or_skip
from server.db.models import (
    EventAction,
    EventActionAttempt,
    EventActionStatus,
    EventSubscription,
    LogType,
    OutboxEvent,
    OutboxStatus,
    ScheduleType,
    SyncSchedule,
)
from server.db.types import utcnow
from server.events import filters
from server.services import activity

log = logging.getLogger(__name__)

CLAIM = dt.timedelta(minutes=5)
MAX_BACKOFF = 3600.0


def envelope(event: OutboxEvent) -> dict[str, Any]:
    return {"id": str(event.id), "type": event.event_type,
            "instance_id": str(event.instance_id) if event.instance_id else None,
            "occurred_at": event.occurred_at.isoformat(), "data": event.payload}


def type_matches(pattern: str | None, event_type: str) -> bool:
    return bool(pattern) and fnmatch.fnmatchcase(event_type, pattern or "")


def _own_sync_event(event: OutboxEvent, instance_id: uuid.UUID) -> bool:
    """A sync's own events never start another sync of that instance (no feedback loops)."""
    return (event.instance_id == instance_id
            and event.event_type.split(".", 1)[0] in ("sync", "record"))


class Dispatched(NamedTuple):
    events: int
    actions: int  # new actions queued (the events' other targets had them already)


def dispatch(session: Session, *, limit: int = 200) -> int:
    """Fan pending events out to matching subscriptions and event schedules; commits.

    Returns how many events were dispatched."""
    return dispatch_events(session, limit=limit).events


def dispatch_events(session: Session, *, limit: int = 200) -> Dispatched:
    """:func:`dispatch`, saying also how many actions it queued."""
    subscriptions = list(session.scalars(select(EventSubscription).where(
        EventSubscription.is_active.is_(True))))
    schedules = list(session.scalars(select(SyncSchedule).where(
        SyncSchedule.is_active.is_(True), SyncSchedule.schedule_type == ScheduleType.EVENT)))
    pending = (select(OutboxEvent).where(OutboxEvent.status == OutboxStatus.PENDING)
               .order_by(OutboxEvent.created_at).limit(limit).with_for_update(skip_locked=True))
    now = utcnow()
    if not (subscriptions or schedules):
        # Nothing listens: mark them dispatched without loading them (their payloads were
        # most of this step's time under webhook load, issue 6).
        ids = list(session.scalars(pending.with_only_columns(OutboxEvent.id)))
        if ids:
            _mark_dispatched(session, ids, now)
        session.commit()
        return Dispatched(len(ids), 0)
    events = list(session.scalars(pending))
    if not events:
        session.rollback()
        return Dispatched(0, 0)
    actions = 0
    for event in events:
        doc = envelope(event)
        for sub in subscriptions:
            if sub.instance_id != event.instance_id or not type_matches(sub.event_type,
                                                                        event.event_type):
                continue
            target_instance = (sub.action_config or {}).get("instance_id") or sub.instance_id
            if (sub.action_type.value == "sync"
                    and _own_sync_event(event, uuid.UUID(str(target_instance)))):
                continue
            try:
                matched = filters.match(sub.filter_criteria or {}, doc)
            except (KeyError, TypeError, ValueError):
                log.warning("subscription %s has invalid filter criteria; skipped", sub.id)
                continue
            if matched:
                actions += _add_action(session, event, f"subscription:{sub.id}",
                                       sub.action_type.value, now, subscription_id=sub.id)
        for schedule in schedules:
            if (type_matches(schedule.event_trigger, event.event_type)
                    and not _own_sync_event(event, schedule.instance_id)):
                actions += _add_action(session, event, f"schedule:{schedule.id}", "sync", now,
                                       schedule_id=schedule.id)
    _mark_dispatched(session, [e.id for e in events], now)
    session.commit()
    return Dispatched(len(events), actions)


def _mark_dispatched(session: Session, ids: list[uuid.UUID], now: dt.datetime) -> None:
    # One statement for the batch (the events are locked): per-object ORM updates were a
    # large part of the worker's time under webhook load.
    session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids))
                    .values(status=OutboxStatus.DISPATCHED, dispatched_at=now)
                    .execution_options(synchronize_session=False))


def _add_action(session: Session, event: OutboxEvent, target: str, action_type: str,
                now: dt.datetime, **refs: Any) -> bool:
    return insert_or_skip(session, EventAction.__table__, {  # type: ignore[arg-type]
        "id": uuid.uuid4(), "event_id": event.id, "target": target, "action_type": action_type,
        "status": EventActionStatus.PENDING.value, "attempts": 0, "next_attempt_at": now,
        "created_at": now, "result": {}, **refs}, ["event_id", "target"])


def claim_actions(session: Session, agent_id: str, *, limit: int = 20) -> list[uuid.UUID]:
    """Due actions for this agent; each is held for ``CLAIM`` (re-claimable after a crash)."""
    now = utcnow()
    rows = list(session.scalars(
        select(EventAction).where(
            EventAction.status == EventActionStatus.PENDING,
            EventAction.next_attempt_at <= now,
            or_(EventAction.claimed_until.is_(None), EventAction.claimed_until < now))
        .order_by(EventAction.next_attempt_at).limit(limit).with_for_update(skip_locked=True)))
    for row in rows:
        row.claimed_by, row.claimed_until = agent_id, now + CLAIM
    ids = [r.id for r in rows]
    session.commit()
    return ids


def backoff(base: float, attempt: int) -> float:
    """Seconds before the next attempt after ``attempt`` failures: doubling, capped."""
    return float(min(base * 2 ** (attempt - 1), MAX_BACKOFF))


def settle(session: Session, action: EventAction, *, agent_id: str, ok: bool,
           started: dt.datetime, max_attempts: int, backoff_seconds: float,
           status_code: int | None = None, error: str | None = None,
           result: dict[str, Any] | None = None, permanent: bool = False,
           instance_id: uuid.UUID | None = None, describe: str = "") -> None:
    """Record one attempt and what follows: done, retry later, or failed for good."""
    now = utcnow()
    action.attempts += 1
    session.add(EventActionAttempt(
        id=uuid.uuid4(), action_id=action.id, attempt=action.attempts, agent_id=agent_id,
        started_at=started, duration_ms=int((now - started).total_seconds() * 1000), ok=ok,
        status_code=status_code, error=(error or None) and error[:2000]))
    action.claimed_by, action.claimed_until = None, None
    details = {"action_id": str(action.id), "event_id": str(action.event_id),
               "target": action.target, "attempt": action.attempts,
               **({"status_code": status_code} if status_code is not None else {}),
               **({"error": error[:500]} if error else {})}
    if ok:
        action.status, action.finished_at = EventActionStatus.SUCCEEDED, now
        action.result, action.last_error = result or {}, None
        activity.record(session, f"event.{action.action_type}",
                        f"{describe or action.action_type} done (attempt {action.attempts})",
                        instance_id=instance_id, log_type=LogType.SUCCESS, details=details)
    elif permanent or action.attempts >= max_attempts:
        action.status, action.finished_at, action.last_error = (
            EventActionStatus.FAILED, now, error)
        activity.record(session, f"event.{action.action_type}",
                        f"{describe or action.action_type} failed for good after "
                        f"{action.attempts} attempt(s): {error}", instance_id=instance_id,
                        log_type=LogType.ERROR, details=details)
    else:
        wait = backoff(backoff_seconds, action.attempts)
        action.last_error = error
        action.next_attempt_at = now + dt.timedelta(seconds=wait)
        activity.record(session, f"event.{action.action_type}",
                        f"{describe or action.action_type} attempt {action.attempts} failed: "
                        f"{error}; next in {wait:.1f}s", instance_id=instance_id,
                        log_type=LogType.WARNING, details=details)
    session.commit()
