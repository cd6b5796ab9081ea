"""Starting, limiting, cancelling and recovering syncs inside the agent process.

Each instance runs one sync at a time (a pending or running execution blocks a new one, and
the database refuses two running rows); at most ``max_parallel`` syncs run at once. When the
agent starts, executions left running by a previous process whose lease expired are resumed
from their checkpoints.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from server.agents import ordered_pool
from server.db.models import (
    IntegrationInstance,
    SyncExecution,
    SyncStatus,
    TriggerType,
)
from server.db.types import utcnow
from server.services.registry import Registry
from server.sync.engine import DEFAULT_BATCH, Progress, SyncEngine
from server.vault import Vault

log = logging.getLogger(__name__)

ACTIVE = (SyncStatus.PENDING, SyncStatus.RUNNING)


_EXECUTIONS = cast(Table, SyncExecution.__table__)
_ACTIVE = (select(SyncExecution.id)
           .where(SyncExecution.instance_id == bindparam("iid"), SyncExecution.status.in_(ACTIVE))
           .limit(1))
_INSERT = insert(_EXECUTIONS)


class SyncAlreadyActive(Exception):
    def __init__(self, execution_id: uuid.UUID) -> None:
        super().__init__(f"a sync of this instance is already {execution_id}")
        self.execution_id = execution_id


def create_execution(
    session: Session, instance: IntegrationInstance, trigger: TriggerType, *,
    initiated_by: uuid.UUID | None = None, schedule_id: uuid.UUID | None = None,
    options: dict[str, Any] | None = None, agent_id: str | None = None,
    lease_expires_at: dt.datetime | None = None,
) -> SyncExecution:
    """A pending execution, refused while another of the instance is pending or running.

    ``agent_id`` and ``lease_expires_at``: owned from the start (a scheduler's claim), written
    with the row rather than by a second UPDATE.
    """
    session.flush()  # the check below reads the database: what the caller added goes first
    active = session.connection().scalar(_ACTIVE, {"iid": instance.id})
    if active is not None:
        raise SyncAlreadyActive(active)
    values = execution_values(uuid.uuid4(), instance.id, trigger, initiated_by=initiated_by,
                              schedule_id=schedule_id, options=options, agent_id=agent_id,
                              lease_expires_at=lease_expires_at)
    # A plain INSERT of every column, then the object as that row: an ORM add made a
    # unit-of-work flush of its own (200 claims of a fleet due together, issue 6).
    session.connection().execute(_INSERT, values)
    execution = SyncExecution(**values)
    make_transient_to_detached(execution)
    session.add(execution)
    return execution


def execution_values(
    execution_id: uuid.UUID, instance_id: uuid.UUID, trigger: TriggerType, *,
    initiated_by: uuid.UUID | None = None, schedule_id: uuid.UUID | None = None,
    options: dict[str, Any] | None = None, agent_id: str | None = None,
    lease_expires_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Every column of a new pending execution (for a plain INSERT: the model's defaults are
    not applied)."""
    now = utcnow()
    return {
        "id": execution_id, "instance_id": instance_id, "schedule_id": schedule_id,
        "trigger_type": trigger, "status": SyncStatus.PENDING, "start_time": now,
        "end_time": None, "records_processed": None, "success_count": None,
        "error_count": None, "error_details": None, "initiated_by": initiated_by,
        "created_at": now, "stats": {}, "mapping_versions": {}, "options": options or {},
        "cancel_requested": False, "agent_id": agent_id, "lease_expires_at": lease_expires_at,
    }


class SyncManager:
    def __init__(
        self, session_factory: sessionmaker[Session], registry: Registry, vault: Vault, *,
        max_parallel: int = 4, agent_id: str = "local", batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.session_factory = session_factory
        self.engine = SyncEngine(session_factory, registry, vault, agent_id=agent_id,
                                 batch_size=batch_size)
        self.max_parallel = max_parallel
        self._slots = asyncio.Semaphore(max_parallel)
        #: Places reserved by claims that begin their sync (see reserve_start).
        self._reserved = 0
        self._reserve_lock = threading.Lock()
        self._tasks: dict[uuid.UUID, asyncio.Task[SyncStatus]] = {}
        #: Several agents (server.agents): run an execution only if this agent can own it.
        self.start_gate: Callable[[uuid.UUID], bool] | None = None
        #: The ``sync.started`` payload of an execution this agent's scheduler just claimed
        #: (then owned: no gate, the event goes in with the sync's first transaction), or None.
        self.fresh_start: Callable[[uuid.UUID], dict[str, Any] | None] | None = None

    def launch(self, execution_id: uuid.UUID, progress: Progress | None = None
               ) -> asyncio.Task[SyncStatus]:
        """Run a (pending or interrupted) execution in the background on the running loop."""
        # Launched by ordered work (a slot's claim), it keeps that work's place in the line.
        since = ordered_pool.launched_at.get()
        task = asyncio.get_running_loop().create_task(
            self._run(execution_id, progress, time.monotonic() if since is None else since),
            name=f"sync-{execution_id}")
        self._tasks[execution_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(execution_id, None))
        return task

    async def _run(self, execution_id: uuid.UUID, progress: Progress | None,
                   launched: float) -> SyncStatus:
        # The agent's thread pool takes this sync's database steps in launch order
        # (server.agents.ordered_pool); other pools ignore it.
        ordered_pool.launched_at.set(launched)
        async with self._slots:
            fresh = self.fresh_start(execution_id) if self.fresh_start is not None else None
            if fresh is None:  # a claimed one is owned and leased: begin writes its event
                gate = self.start_gate
                if gate is not None and not await asyncio.to_thread(gate, execution_id):
                    log.info("sync %s is owned by another agent; not starting it", execution_id)
                    return SyncStatus.RUNNING
            return await self.engine.run(execution_id, progress, started=fresh)

    def reserve_start(self) -> bool:
        """Reserve a place for a sync to be launched, if one launched now would start at once
        (not wait for a running one to end): only then may its slot's claim begin it (it is
        ``running`` from then on). Callable from any thread; :meth:`release_start` after
        launching it (or not)."""
        with self._reserve_lock:
            if len(self._tasks) + self._reserved >= self.max_parallel:
                return False
            self._reserved += 1
            return True

    def release_start(self) -> None:
        with self._reserve_lock:
            self._reserved -= 1

    def running(self) -> list[uuid.UUID]:
        return list(self._tasks)

    async def wait(self, execution_id: uuid.UUID) -> SyncStatus | None:
        task = self._tasks.get(execution_id)
        return await task if task else None

    def request_cancel(self, execution_id: uuid.UUID) -> bool:
        """Ask a sync to stop at its next batch boundary (committed work is kept)."""
        with self.session_factory() as session:
            execution = session.get(SyncExecution, execution_id)
            if execution is None or execution.status not in ACTIVE:
                return False
            if execution.status == SyncStatus.PENDING and execution_id not in self._tasks:
                execution.status = SyncStatus.CANCELLED
                execution.end_time = utcnow()
            else:
                execution.cancel_requested = True
            session.commit()
            return True

    def recover(self) -> list[uuid.UUID]:
        """Resume executions this agent left unfinished (it was killed), those whose owner's
        lease expired, and pending ones."""
        now = utcnow()
        with self.session_factory() as session:
            orphans = list(session.scalars(select(SyncExecution.id).where(
                SyncExecution.status.in_(ACTIVE),
                (SyncExecution.lease_expires_at.is_(None))
                | (SyncExecution.lease_expires_at < now)
                | (SyncExecution.agent_id == self.engine.agent_id))))
        for execution_id in orphans:
            if execution_id not in self._tasks:
                log.info("resuming sync %s left by a stopped agent", execution_id)
                self.launch(execution_id)
        return orphans

    async def shutdown(self) -> None:
        """Stop running syncs at once; their checkpoints let the next start resume them."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Release the leases so the next agent start resumes without waiting.
        with self.session_factory() as session:
            for execution_id in [t.get_name().removeprefix("sync-") for t in tasks]:
                execution = session.get(SyncExecution, uuid.UUID(execution_id))
                if execution is not None and execution.status == SyncStatus.RUNNING:
                    execution.lease_expires_at = utcnow()
            session.commit()
