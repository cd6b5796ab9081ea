"""Schedule slots: when a schedule runs next, and claiming a slot exactly once.

A slot is the nominal time a schedule is due (``SyncSchedule.next_execution``), the same on
every agent. The agent whose timer fires first claims it in one transaction: the schedule row
is locked, the execution created, ``next_execution`` moved to the first slot after *now* (so
slots missed while every agent was down run once, the one stored, never as a burst), and the
slot row inserted under its unique ``(schedule_id, slot_time)`` key, with its outcome; a slot
already there rolls all of it back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from server.agents.dbutil import insert_or_skip
from server.db.models import (
    InstanceStatus,
    IntegrationInstance,
    LogType,
    ScheduleSlot,
    ScheduleType,
    SlotOutcome,
    SyncExecution,
    SyncSchedule,
    TriggerType,
)
from server.events.emit import sync_data
from server.services import activity
from server.services.schedules import cron_trigger
from server.sync.manager import SyncAlreadyActive, create_execution
from server.sync.runtime import instance_locked

log = logging.getLogger(__name__)

RUNNABLE = (InstanceStatus.ACTIVE, InstanceStatus.ERROR)


def following_slot(schedule: SyncSchedule, slot: dt.datetime, now: dt.datetime
                   ) -> dt.datetime | None:
    """The first slot after ``max(slot, now)``; intervals keep their cadence from ``slot``."""
    if schedule.schedule_type == ScheduleType.INTERVAL and schedule.interval_minutes:
        step = dt.timedelta(minutes=schedule.interval_minutes)
        behind = max(now - slot, dt.timedelta(0))
        return slot + step * (behind // step + 1)
    if schedule.schedule_type == ScheduleType.CRON and schedule.cron_expression:
        after = max(now, slot + dt.timedelta(seconds=1))
        fire = cron_trigger(schedule.cron_expression, schedule.timezone).get_next_fire_time(
            None, after)
        return fire.astimezone(dt.UTC) if fire else None
    return None


def first_slot(schedule: SyncSchedule, now: dt.datetime) -> dt.datetime | None:
    """A slot for a time-based schedule that has none yet (created outside the API)."""
    if schedule.schedule_type == ScheduleType.INTERVAL and schedule.interval_minutes:
        return now + dt.timedelta(minutes=schedule.interval_minutes)
    return following_slot(schedule, now - dt.timedelta(seconds=1), now)


def jitter_of(schedule_id: uuid.UUID, slot: dt.datetime, jitter_seconds: int) -> float:
    """Seconds to wait after the slot: spread, but the same on every agent for one slot."""
    if jitter_seconds <= 0:
        return 0.0
    digest = hashlib.sha256(f"{schedule_id}/{slot.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 * jitter_seconds


_SCHEDULES = cast(Table, SyncSchedule.__table__)
#: The claim's bookkeeping, built once (a statement built per claim computed its cache key
#: from its values every time): the next slot, and the last run when one started.
_SKIPPED = (update(_SCHEDULES).where(_SCHEDULES.c.id == bindparam("sid"))
            .values(next_execution=bindparam("next")))
_STARTED = _SKIPPED.values(last_execution=bindparam("last"))


@dataclass(frozen=True)
class SlotClaim:
    """What claiming a slot gave: ``claimed`` only for the one agent that got it."""

    claimed: bool
    reason: str  # started | skipped_active | skipped_inactive | taken | stale | gone
    execution_id: uuid.UUID | None = None
    next_slot: dt.datetime | None = None
    #: The ``sync.started`` payload of the execution (what the start gate would read).
    started_event: dict[str, Any] | None = None
    #: What ``begin`` gave in the claim's transaction (see ``claim_slot``), or None.
    begun: Any = None


#: ``begin`` in a claim's transaction: the execution, its instance and its ``sync.started``
#: payload; returns what to hand to the sync, or None (nothing written: it begins alone).
Begin = Callable[[Session, SyncExecution, IntegrationInstance, dict[str, Any]], Any]


def claim_slot(session: Session, schedule_id: uuid.UUID, slot: dt.datetime, agent_id: str,
               now: dt.datetime, lease: dt.timedelta, begin: Begin | None = None) -> SlotClaim:
    """Claim ``slot`` of the schedule for ``agent_id`` and create its execution; commits.

    ``begin``: the agent's start of the sync (:func:`server.sync.lifecycle.begin_claimed`),
    run once the slot is this agent's, committed with the claim."""
    schedule = session.get(SyncSchedule, schedule_id, with_for_update=True,
                           populate_existing=True)
    if (schedule is None or not schedule.is_active
            or schedule.schedule_type == ScheduleType.EVENT):
        session.rollback()
        return SlotClaim(False, "gone")
    if schedule.next_execution != slot:
        nxt = schedule.next_execution
        session.rollback()
        return SlotClaim(False, "stale", next_slot=nxt)
    # The instance row lock keeps two schedules of one instance from both starting a sync.
    instance = instance_locked(session, schedule.instance_id)  # with its connector's key
    assert instance is not None  # the schedule's foreign key cascades
    execution: SyncExecution | None = None
    execution_id: uuid.UUID | None = None
    started_event: dict[str, Any] | None = None
    if instance.status not in RUNNABLE:
        outcome = SlotOutcome.SKIPPED_INACTIVE
        activity.record(session, "schedule.skip",
                        f"scheduled sync skipped: instance {instance.name!r} is "
                        f"{instance.status.value}", log_type=LogType.WARNING,
                        instance_id=instance.id,
                        details={"schedule_id": str(schedule_id), "slot": slot.isoformat()})
    else:
        try:
            # Owned from the start, so no other agent takes it for an orphan.
            execution = create_execution(
                session, instance, TriggerType.SCHEDULED, schedule_id=schedule_id,
                options={"slot": slot.isoformat()}, agent_id=agent_id,
                lease_expires_at=now + lease)
        except SyncAlreadyActive as exc:
            outcome = SlotOutcome.SKIPPED_ACTIVE
            log.info("schedule %s slot %s skipped: sync %s of the instance is still active",
                     schedule_id, slot.isoformat(), exc.execution_id)
            activity.record(session, "schedule.skip",
                            "scheduled sync skipped: the previous sync is still running",
                            log_type=LogType.WARNING, instance_id=instance.id,
                            sync_id=exc.execution_id,
                            details={"schedule_id": str(schedule_id),
                                     "slot": slot.isoformat()})
        else:
            outcome = SlotOutcome.STARTED
            execution_id = execution.id
            started_event = sync_data(execution, instance)
            started_event["status"] = "running"
    # The scheduler's bookkeeping goes in plain UPDATEs, not ORM attribute changes: a changed
    # SyncSchedule object is a configuration change to the audit hooks, which take the
    # audit chain's one-row lock at commit (every claim of every agent queued on it) only to
    # find that no revision is due (slot times are not part of a schedule's revision).
    next_slot = following_slot(schedule, slot, now)
    session.connection().execute(_STARTED if execution_id is not None else _SKIPPED,
                                 {"sid": schedule_id, "next": next_slot, "last": now})
    # The slot row goes in last, with its outcome: one statement instead of an insert and an
    # update. If another agent holds the slot, everything above is rolled back with it.
    if not insert_or_skip(session, ScheduleSlot.__table__,  # type: ignore[arg-type]
                          {"id": uuid.uuid4(), "schedule_id": schedule_id, "slot_time": slot,
                           "agent_id": agent_id, "claimed_at": now,
                           "outcome": outcome.value, "execution_id": execution_id},
                          ["schedule_id", "slot_time"]):
        session.rollback()
        return SlotClaim(False, "taken")
    begun = None
    if begin is not None and execution is not None and started_event is not None:
        begun = begin(session, execution, instance, started_event)
    session.commit()
    return SlotClaim(True, outcome.value, execution_id, next_slot, started_event, begun)
