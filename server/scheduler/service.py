"""The agent's scheduler: one APScheduler timer per due slot, the claim in the database.

APScheduler's ``AsyncIOScheduler`` (owned by the agent's lifespan) holds a one-shot job per
active interval or cron schedule, set for its next slot (``next_execution``) plus the
schedule's jitter. When it fires, :func:`~server.scheduler.slots.claim_slots` decides in the
database whether this agent runs the slot (the slots that fire together are claimed in one
transaction); either way the job is re-planned from the row.
Changes come in two ways: the local API calls :meth:`SchedulerService.schedule_changed` at
once, and a periodic refresh picks up what other agents' APIs changed.

Several sync workers (:mod:`server.agents.workers`): every schedule has a home worker
(:func:`home_of`) whose timer fires at the slot; the others' fire ``FALLBACK_SECONDS`` later
and normally find the slot taken, so the claims, and the syncs, are spread over the workers
and a dead worker's slots still run.

Misfires: a slot whose time passed while no agent ran stays in ``next_execution``; the job
runs it at start (``misfire_grace_time=None``) and the claim moves ``next_execution`` past
now, so downtime gives one run, not a burst.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from server.agents import ordered_pool
from server.agents.claims import FreshClaims
from server.db.models import IntegrationInstance, ScheduleType, SyncExecution, SyncSchedule
from server.db.types import utcnow
from server.scheduler.slots import Due, SlotClaim, claim_slots, first_slot, jitter_of
from server.sync import lifecycle
from server.sync.manager import SyncManager

log = logging.getLogger(__name__)

REFRESH_JOB = "schedules-refresh"
#: How long after a slot the workers other than its home worker try to claim it.
FALLBACK_SECONDS = 5.0
#: Slots claimed in one transaction at most (a tick's slots come in batches of this size).
CLAIM_BATCH = 250


def home_of(schedule_id: uuid.UUID, workers: int) -> int:
    """The sync worker that claims the schedule's slots on time (the same on every worker)."""
    return schedule_id.int % workers if workers > 1 else 0


@dataclass(frozen=True)
class Plan:
    schedule_id: uuid.UUID
    slot: dt.datetime
    jitter_seconds: int


class SchedulerService:
    def __init__(
        self, session_factory: sessionmaker[Session], manager: SyncManager, agent_id: str, *,
        lease: dt.timedelta, refresh_seconds: float = 10.0, worker: int = 0, workers: int = 1,
    ) -> None:
        self.session_factory = session_factory
        self.manager = manager
        self.agent_id = agent_id
        self.lease = lease
        self.refresh_seconds = refresh_seconds
        self.workers = workers
        #: The workers whose schedules this one claims on time (its own; a given-up one's).
        self.homes = {worker}
        self.scheduler = AsyncIOScheduler(timezone=dt.UTC, job_defaults={
            "misfire_grace_time": None, "coalesce": True, "max_instances": 1})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._planned: dict[uuid.UUID, dt.datetime] = {}
        self._jitter: dict[uuid.UUID, int] = {}
        #: Claims this agent made (for tests and the agents listing).
        self.claims: list[SlotClaim] = []
        self.extra_jobs: list[tuple[Any, float, str]] = []
        #: Where started claims are handed to the start gate (see FreshClaims).
        self.fresh: FreshClaims | None = None
        #: Slots that fired, waiting for their claim (see _claim_due), and its task.
        self._due: list[tuple[Due, asyncio.Future[SlotClaim]]] = []
        self._claimer: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.scheduler.start()
        self.scheduler.add_job(self.refresh, "interval", seconds=self.refresh_seconds,
                               id=REFRESH_JOB, next_run_time=dt.datetime.now(dt.UTC))
        for func, seconds, job_id in self.extra_jobs:
            self.scheduler.add_job(func, "interval", seconds=seconds, id=job_id,
                                   next_run_time=dt.datetime.now(dt.UTC))

    def every(self, func: Any, seconds: float, job_id: str) -> None:
        """Run ``func`` (a coroutine function) every ``seconds`` once started."""
        self.extra_jobs.append((func, seconds, job_id))
        if self.scheduler.running:
            self.scheduler.add_job(func, "interval", seconds=seconds, id=job_id,
                                   next_run_time=dt.datetime.now(dt.UTC))

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    # ---- planning ----------------------------------------------------------------------------

    def schedule_changed(self, schedule_id: uuid.UUID) -> None:
        """The API changed (or deleted) a schedule: re-plan it now. Callable from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(
            lambda: loop.create_task(self.replan(schedule_id), name=f"replan-{schedule_id}"))

    async def replan(self, schedule_id: uuid.UUID) -> None:
        plans = await asyncio.to_thread(self._load, schedule_id)
        self._apply(plans, only=schedule_id)

    async def refresh(self) -> None:
        """Bring the jobs in line with the database (schedules other agents changed)."""
        try:
            plans = await asyncio.to_thread(self._load, None)
        except Exception:
            log.exception("could not read the schedules; keeping the current plan")
            return
        self._apply(plans, only=None)

    def _load(self, only: uuid.UUID | None) -> list[Plan]:
        """The plan of every active timed schedule (or of ``only``). Runs every refresh, so
        it reads three columns, not every schedule as an ORM object (200 of them every
        second in the rate-limit benchmark); a schedule without a slot is loaded whole."""
        now = utcnow()
        with self.session_factory() as session:
            stmt = (select(SyncSchedule.id, SyncSchedule.next_execution,
                           SyncSchedule.jitter_seconds)
                    .where(SyncSchedule.is_active.is_(True),
                           SyncSchedule.schedule_type != ScheduleType.EVENT))
            if only is not None:
                stmt = stmt.where(SyncSchedule.id == only)
            plans = []
            for schedule_id, stored, jitter in session.execute(stmt).all():
                slot = stored
                if slot is None:
                    schedule = session.get(SyncSchedule, schedule_id)
                    slot = self._initialise(session, schedule, now) if schedule else None
                if slot is not None:
                    plans.append(Plan(schedule_id, slot, jitter or 0))
            return plans

    def _initialise(self, session: Session, schedule: SyncSchedule, now: dt.datetime
                    ) -> dt.datetime | None:
        """Give a schedule its first slot; the first agent to write it wins."""
        slot = first_slot(schedule, now)
        if slot is None:
            return None
        session.execute(update(SyncSchedule).where(
            SyncSchedule.id == schedule.id, SyncSchedule.next_execution.is_(None)
        ).values(next_execution=slot).execution_options(synchronize_session=False))
        session.commit()
        return session.scalar(select(SyncSchedule.next_execution).where(
            SyncSchedule.id == schedule.id))

    def _apply(self, plans: list[Plan], only: uuid.UUID | None) -> None:
        if not self.scheduler.running:
            return
        wanted = {p.schedule_id: p for p in plans}
        known = [only] if only is not None else list(self._planned)
        for schedule_id in known:
            if schedule_id not in wanted:
                self._unplan(schedule_id)
        for plan in plans:
            if self._planned.get(plan.schedule_id) != plan.slot:
                self._plan(plan)

    def adopt(self, worker: int) -> None:
        """Claim worker ``worker``'s schedules on time from now on (it could not be started).
        Callable from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def replan_all() -> None:
            self.homes.add(worker)
            self._planned.clear()  # every job is planned again at the next refresh
            loop.create_task(self.refresh(), name="schedules-adopt")
        loop.call_soon_threadsafe(replan_all)

    def _plan(self, plan: Plan) -> None:
        delay = jitter_of(plan.schedule_id, plan.slot, plan.jitter_seconds)
        if home_of(plan.schedule_id, self.workers) not in self.homes:
            delay += FALLBACK_SECONDS
        run_at = plan.slot + dt.timedelta(seconds=delay)
        self.scheduler.add_job(self._fire, DateTrigger(run_date=run_at),
                               args=(plan.schedule_id, plan.slot), id=str(plan.schedule_id),
                               replace_existing=True, name=f"schedule {plan.schedule_id}")
        self._planned[plan.schedule_id] = plan.slot
        self._jitter[plan.schedule_id] = plan.jitter_seconds

    def _unplan(self, schedule_id: uuid.UUID) -> None:
        self._planned.pop(schedule_id, None)
        self._jitter.pop(schedule_id, None)
        if self.scheduler.get_job(str(schedule_id)) is not None:
            self.scheduler.remove_job(str(schedule_id))

    def planned(self) -> dict[uuid.UUID, dt.datetime]:
        return dict(self._planned)

    # ---- firing ------------------------------------------------------------------------------

    async def _fire(self, schedule_id: uuid.UUID, slot: dt.datetime) -> None:
        self._planned.pop(schedule_id, None)
        # The claim queues for a thread by the time its slot fired, and so do the steps of
        # the sync it launches (server.agents.ordered_pool): slots due together go through
        # claim, begin and first request one after the other, not each step for all first.
        ordered_pool.launched_at.set(time.monotonic())
        # The sync begins in the claim's transaction (one transaction, not two with a trip
        # through the thread pool between) if it will start at once, for an agent (``fresh``:
        # the syncs its scheduler claims are owned, see server.agents.claims).
        reserved = self.fresh is not None and self.manager.reserve_start()
        waiter: asyncio.Future[SlotClaim] = asyncio.get_running_loop().create_future()
        self._due.append((Due(schedule_id, slot, reserved), waiter))
        if self._claimer is None:
            self._claimer = asyncio.create_task(self._claim_due(), name="schedule-claims")
        try:
            claim = await waiter
        except Exception:
            log.exception("claiming slot %s of schedule %s failed; retrying at the next refresh",
                          slot.isoformat(), schedule_id)
            return
        finally:
            if reserved:  # launched below (_claimed) in this same step of the loop, or not
                self.manager.release_start()
        if not self._claimed(schedule_id, slot, claim):
            await self.replan(schedule_id)

    async def _claim_due(self) -> None:
        """Claim the slots that fired, those that fired together in one transaction
        (:func:`~server.scheduler.slots.claim_slots`); slots firing meanwhile form the next
        batch. Started by the first slot to fire, in the loop step after the timers of one
        tick were all run, so a tick's slots go together."""
        try:
            while self._due:
                batch, self._due = self._due[:CLAIM_BATCH], self._due[CLAIM_BATCH:]
                try:
                    claims = await asyncio.to_thread(self._claim, [d for d, _ in batch])
                except Exception as exc:  # noqa: BLE001 - each waiter logs it
                    for _, waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                for (_, waiter), claim in zip(batch, claims, strict=True):
                    if not waiter.done():
                        waiter.set_result(claim)
        finally:
            self._claimer = None

    def _claimed(self, schedule_id: uuid.UUID, slot: dt.datetime, claim: SlotClaim) -> bool:
        """Start the sync, then plan the schedule's next slot from the claim; False when the
        row must be read again to know it.

        The claim read the row under its lock, so its next slot is current: re-planning from
        it saves a read per slot (200 schedules due together made 200 extra trips through
        the thread pool the syncs' own database work waits in). A slot another agent took
        says nothing about the next one: that row is read again.
        """
        if claim.claimed:
            self.claims.append(claim)
            if claim.execution_id is not None:
                if claim.begun is not None:
                    lifecycle.hand_over(claim.execution_id, claim.begun)
                if self.fresh is not None and claim.started_event is not None:
                    self.fresh.add(claim.execution_id, claim.started_event)
                self.manager.launch(claim.execution_id)
                log.info("schedule %s: slot %s runs as sync %s", schedule_id,
                         slot.isoformat(), claim.execution_id)
        if claim.reason == "gone" or (claim.claimed and claim.next_slot is None):
            self._unplan(schedule_id)
        elif claim.next_slot is not None and schedule_id not in self._planned:
            self._plan(Plan(schedule_id, claim.next_slot, self._jitter.get(schedule_id, 0)))
        elif schedule_id not in self._planned:  # taken by another agent: read the row
            return False
        return True

    def _claim(self, due: list[Due]) -> list[SlotClaim]:
        with self.session_factory() as session:
            try:
                return claim_slots(session, due, self.agent_id, utcnow(), self.lease,
                                   self._begin_claimed)
            except DBAPIError:
                if len(due) == 1:
                    raise
                # E.g. a deadlock with another agent's claim: each slot alone, as it fell.
                log.warning("claiming %d slots together failed; claiming them one by one",
                            len(due), exc_info=True)
                session.rollback()
                return [claim_slots(session, [d], self.agent_id, utcnow(), self.lease,
                                    self._begin_claimed)[0] for d in due]

    def _begin_claimed(
        self, session: Session,
        claimed: list[tuple[SyncExecution, IntegrationInstance, dict[str, Any]]],
    ) -> list[lifecycle.Begun | None]:
        return lifecycle.begin_claimed(self.manager.engine, session, claimed)


def notify_schedule_changed(app: FastAPI, schedule_id: uuid.UUID) -> None:
    """For the schedules API: tell this agent's scheduler (if running) about a change."""
    service: SchedulerService | None = getattr(app.state, "scheduler", None)
    if service is not None:
        service.schedule_changed(schedule_id)
