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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

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
from server.sync.manager import ACTIVE, execution_values
from server.sync.runtime import instances_locked
from server.webhooks.bulk import insert_or_skip_many

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
_INSERT_EXECUTIONS = insert(cast(Table, SyncExecution.__table__))


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


#: ``begin`` in a claim's transaction: the claimed executions, each with its instance and
#: ``sync.started`` payload; returns for each what to hand to its sync, or None (nothing
#: written: it begins alone). :func:`server.sync.lifecycle.begin_claimed`.
Begin = Callable[[Session, list[tuple[SyncExecution, IntegrationInstance, dict[str, Any]]]],
                 list[Any]]


@dataclass(frozen=True)
class Due:
    """A slot to claim; ``begin``: its sync may begin in the claim (a place is free)."""

    schedule_id: uuid.UUID
    slot: dt.datetime
    begin: bool = True


_LOCK_SCHEDULES = (select(SyncSchedule)
                   .where(SyncSchedule.id.in_(bindparam("ids", expanding=True)))
                   .order_by(SyncSchedule.id)
                   .with_for_update()
                   .execution_options(populate_existing=True))
_ACTIVE_OF = (select(SyncExecution.instance_id, SyncExecution.id)
              .where(SyncExecution.instance_id.in_(bindparam("ids", expanding=True)),
                     SyncExecution.status.in_(ACTIVE)))


def claim_slot(session: Session, schedule_id: uuid.UUID, slot: dt.datetime, agent_id: str,
               now: dt.datetime, lease: dt.timedelta, begin: Begin | None = None) -> SlotClaim:
    """Claim ``slot`` of the schedule for ``agent_id`` and create its execution; commits.
    :func:`claim_slots` of one slot."""
    return claim_slots(session, [Due(schedule_id, slot)], agent_id, now, lease, begin)[0]


def claim_slots(session: Session, due: Sequence[Due], agent_id: str, now: dt.datetime,
                lease: dt.timedelta, begin: Begin | None = None) -> list[SlotClaim]:
    """Claim the ``due`` slots for ``agent_id`` in one transaction and create their
    executions; commits. One claim per slot, in order.

    Slots due at one time (a fleet scheduled together) are claimed together: each step is
    one statement for all of them and the audit chain is appended once, where claiming
    one by one made ~15 round trips and one append per slot, each append holding the
    chain's one-row lock that every claim of every agent queues on (issue 6: 200 slots
    were claimed at ~95 a second). Schedule rows, then instance rows, are locked in id order
    so that agents claiming overlapping sets wait for each other instead of deadlocking.

    ``begin``: the agent's start of the syncs (:func:`server.sync.lifecycle.begin_claimed`),
    run for the slots marked ``begin`` once they are this agent's, committed with the claim.
    """
    claims: dict[int, SlotClaim] = {}
    live = _lock_live(session, due, claims)
    if not live:
        session.rollback()
        return [claims[n] for n in range(len(due))]
    plan = _Plan(session, due, live, agent_id, now, lease)
    if not plan.write(session):
        # The schedule locks make a slot already taken all but impossible (its claim moved
        # ``next_execution``). If one is, all of the above is rolled back and the slots are
        # claimed one by one, each alone in its transaction, so only the taken one is lost.
        session.rollback()
        for n, _ in live:
            claims[n] = (SlotClaim(False, "taken") if len(live) == 1 else
                         claim_slots(session, [due[n]], agent_id, now, lease, begin)[0])
        return [claims[n] for n in range(len(due))]
    claims.update(plan.begin_and_commit(session, begin))
    return [claims[n] for n in range(len(due))]


def _lock_live(session: Session, due: Sequence[Due], claims: dict[int, SlotClaim]
               ) -> list[tuple[int, SyncSchedule]]:
    """Lock the slots' schedule rows; the slots still due (index, schedule), the others'
    claims put in ``claims``."""
    first: dict[uuid.UUID, int] = {}
    for n, item in enumerate(due):
        if item.schedule_id in first:  # one slot of a schedule per claim: the rest later
            claims[n] = SlotClaim(False, "taken")
        else:
            first[item.schedule_id] = n
    schedules = {s.id: s for s in session.scalars(_LOCK_SCHEDULES, {"ids": sorted(first)})}
    live: list[tuple[int, SyncSchedule]] = []
    for schedule_id, n in first.items():
        schedule = schedules.get(schedule_id)
        if (schedule is None or not schedule.is_active
                or schedule.schedule_type == ScheduleType.EVENT):
            claims[n] = SlotClaim(False, "gone")
        elif schedule.next_execution != due[n].slot:
            claims[n] = SlotClaim(False, "stale", next_slot=schedule.next_execution)
        else:
            live.append((n, schedule))
    return live


class _Plan:
    """What claiming the live slots writes: decided from locked rows before anything is."""

    def __init__(self, session: Session, due: Sequence[Due],
                 live: list[tuple[int, SyncSchedule]], agent_id: str, now: dt.datetime,
                 lease: dt.timedelta) -> None:
        self.due, self.now = due, now
        # The instance row locks keep two schedules of one instance from both starting.
        self.instances = instances_locked(session, {s.instance_id for _, s in live})
        session.flush()  # the check below reads the database: what the caller added goes first
        self.active: dict[uuid.UUID, uuid.UUID] = {
            instance_id: execution_id for instance_id, execution_id in
            session.connection().execute(_ACTIVE_OF, {"ids": list(self.instances)})}
        self.slot_rows: list[dict[str, Any]] = []
        self.execution_rows: list[dict[str, Any]] = []
        #: By index of ``due``: (outcome, execution id, next slot, schedule, instance).
        self.outcomes: dict[int, tuple[SlotOutcome, uuid.UUID | None, dt.datetime | None,
                                       SyncSchedule, IntegrationInstance]] = {}
        for n, schedule in live:
            self._decide(n, schedule, agent_id, lease)

    def _decide(self, n: int, schedule: SyncSchedule, agent_id: str,
                lease: dt.timedelta) -> None:
        slot = self.due[n].slot
        instance = self.instances[schedule.instance_id]  # the foreign key cascades
        execution_id: uuid.UUID | None = None
        if instance.status not in RUNNABLE:
            outcome = SlotOutcome.SKIPPED_INACTIVE
        elif instance.id in self.active:
            outcome = SlotOutcome.SKIPPED_ACTIVE
        else:
            outcome = SlotOutcome.STARTED
            execution_id = uuid.uuid4()
            # Owned from the start, so no other agent takes it for an orphan.
            self.execution_rows.append(execution_values(
                execution_id, instance.id, TriggerType.SCHEDULED, schedule_id=schedule.id,
                options={"slot": slot.isoformat()}, agent_id=agent_id,
                lease_expires_at=self.now + lease))
            self.active[instance.id] = execution_id
        next_slot = following_slot(schedule, slot, self.now)
        self.outcomes[n] = (outcome, execution_id, next_slot, schedule, instance)
        self.slot_rows.append({
            "id": uuid.uuid4(), "schedule_id": schedule.id, "slot_time": slot,
            "agent_id": agent_id, "claimed_at": self.now, "outcome": outcome.value,
            "execution_id": execution_id})

    def write(self, session: Session) -> bool:
        """Executions, schedule bookkeeping, then the slot rows; False: a slot was taken."""
        connection = session.connection()
        if self.execution_rows:
            connection.execute(_INSERT_EXECUTIONS, self.execution_rows)
        # The scheduler's bookkeeping goes in plain UPDATEs, not ORM attribute changes: a
        # changed SyncSchedule object is a configuration change to the audit hooks, which
        # take the audit chain's one-row lock at commit only to find that no revision is due
        # (slot times are not part of a schedule's revision).
        started = [{"sid": s.id, "next": nxt, "last": self.now}
                   for o, _, nxt, s, _ in self.outcomes.values() if o == SlotOutcome.STARTED]
        others = [{"sid": s.id, "next": nxt}
                  for o, _, nxt, s, _ in self.outcomes.values() if o != SlotOutcome.STARTED]
        if started:
            connection.execute(_STARTED, started)
        if others:
            connection.execute(_SKIPPED, others)
        # The slot rows go in last, with their outcomes: one statement for all.
        inserted = insert_or_skip_many(
            connection, ScheduleSlot.__table__,  # type: ignore[arg-type]
            self.slot_rows, ["schedule_id", "slot_time"], returning="schedule_id")
        return len(inserted) == len(self.slot_rows)

    def begin_and_commit(self, session: Session, begin: Begin | None) -> dict[int, SlotClaim]:
        """Log the skipped slots, begin the started syncs (``begin``), commit; the claims."""
        events: dict[uuid.UUID, dict[str, Any]] = {}
        beginning: list[tuple[SyncExecution, IntegrationInstance, dict[str, Any]]] = []
        by_execution = {e: n for n, (_, e, _, _, _) in self.outcomes.items() if e is not None}
        for values in self.execution_rows:
            execution = SyncExecution(**values)
            make_transient_to_detached(execution)
            session.add(execution)
            instance = self.instances[execution.instance_id]
            events[execution.id] = event = sync_data(execution, instance)
            event["status"] = "running"
            if begin is not None and self.due[by_execution[execution.id]].begin:
                beginning.append((execution, instance, event))
        for n, (outcome, _, _, schedule, instance) in self.outcomes.items():
            if outcome != SlotOutcome.STARTED:
                _log_skip(session, instance, schedule.id, self.due[n].slot, outcome,
                          self.active.get(instance.id))
        begun: dict[uuid.UUID, Any] = {}
        if begin is not None and beginning:
            begun = dict(zip((e.id for e, _, _ in beginning), begin(session, beginning),
                             strict=True))
        session.commit()
        return {n: SlotClaim(True, outcome.value, execution_id, next_slot,
                             events.get(execution_id) if execution_id else None,
                             begun.get(execution_id) if execution_id else None)
                for n, (outcome, execution_id, next_slot, _, _) in self.outcomes.items()}


def _log_skip(session: Session, instance: IntegrationInstance, schedule_id: uuid.UUID,
              slot: dt.datetime, outcome: SlotOutcome, running: uuid.UUID | None) -> None:
    details = {"schedule_id": str(schedule_id), "slot": slot.isoformat()}
    if outcome == SlotOutcome.SKIPPED_INACTIVE:
        activity.record(session, "schedule.skip",
                        f"scheduled sync skipped: instance {instance.name!r} is "
                        f"{instance.status.value}", log_type=LogType.WARNING,
                        instance_id=instance.id, details=details)
        return
    log.info("schedule %s slot %s skipped: sync %s of the instance is still active",
             schedule_id, slot.isoformat(), running)
    activity.record(session, "schedule.skip",
                    "scheduled sync skipped: the previous sync is still running",
                    log_type=LogType.WARNING, instance_id=instance.id, sync_id=running,
                    details=details)
