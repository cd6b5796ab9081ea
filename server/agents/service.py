"""The agent's own row: registration, heartbeats, lease renewal and takeover of orphans.

Every ``heartbeat`` seconds the agent, in one short transaction each: refreshes its row,
renews the leases of the syncs it runs, and takes over executions whose lease lapsed (their
agent stopped heartbeating), which then resume from their last committed checkpoint.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from server import __version__
from server.agents import ordered_pool
from server.agents.claims import FreshClaims, claim_orphans, gate_for, renew_leases
from server.db.models import Agent, AgentState
from server.db.types import utcnow
from server.sync.manager import SyncManager

log = logging.getLogger(__name__)


class AgentIdInUse(Exception):
    """Another live process on this host runs with the same agent id."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AgentService:
    def __init__(
        self, session_factory: sessionmaker[Session], manager: SyncManager, agent_id: str, *,
        heartbeat: float, lease: dt.timedelta,
    ) -> None:
        self.session_factory = session_factory
        self.manager = manager
        self.agent_id = agent_id
        self.heartbeat = heartbeat
        self.lease = lease
        self._task: asyncio.Task[None] | None = None
        self.taken_over: list[uuid.UUID] = []
        #: Executions the scheduler just claimed (their start gate only writes the event).
        self.fresh = FreshClaims()

    async def start(self) -> None:
        ordered_pool.install(asyncio.get_running_loop())  # syncs' steps in launch order
        await asyncio.to_thread(self._register)
        self.install_gate()
        self._launch(await asyncio.to_thread(self._take_over, True))
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="agent-heartbeat")

    def install_gate(self) -> None:
        """From now on the manager runs an execution only once this agent owns it; one the
        scheduler claimed less than half a lease ago is owned already."""
        self.manager.start_gate = gate_for(self.session_factory, self.agent_id, self.lease,
                                           self.fresh)
        within = self.lease.total_seconds() / 2
        self.manager.fresh_start = lambda execution_id: self.fresh.take(execution_id, within)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await asyncio.to_thread(self._goodbye)
        except Exception:  # the database may be gone at shutdown; the heartbeat tells the rest
            log.warning("could not mark agent %s stopped", self.agent_id, exc_info=True)

    # ---- in a worker thread ------------------------------------------------------------------

    def _register(self) -> None:
        now = utcnow()
        host, pid = socket.gethostname(), os.getpid()
        with self.session_factory() as session:
            row = session.get(Agent, self.agent_id, with_for_update=True)
            if row is None:
                session.add(Agent(id=self.agent_id, hostname=host, pid=pid, version=__version__,
                                  started_at=now, heartbeat_at=now, state=AgentState.RUNNING))
            else:
                fresh = now - row.heartbeat_at < self.lease
                if (row.state == AgentState.RUNNING and fresh and row.pid != pid
                        and row.hostname == host and _alive(row.pid)):
                    raise AgentIdInUse(
                        f"agent {self.agent_id} is already running (pid {row.pid}); give each "
                        "agent on a host its own data directory (SIMPLETRUST_DATA_DIR)")
                row.hostname, row.pid, row.version = host, pid, __version__
                row.started_at = row.heartbeat_at = now
                row.state, row.stopped_at, row.running_syncs = AgentState.RUNNING, None, 0
            session.commit()

    def _beat(self) -> list[uuid.UUID]:
        now = utcnow()
        running = self.manager.running()
        with self.session_factory() as session:
            session.execute(update(Agent).where(Agent.id == self.agent_id).values(
                heartbeat_at=now, running_syncs=len(running), state=AgentState.RUNNING))
            session.commit()
            renew_leases(session, self.agent_id, running, now, self.lease,
                         dt.timedelta(seconds=self.heartbeat))
        return self._take_over(False)

    def _take_over(self, own: bool) -> list[uuid.UUID]:
        with self.session_factory() as session:
            taken = claim_orphans(session, self.agent_id, utcnow(), self.lease, own=own)
        mine = set(self.manager.running())
        return [t for t in taken if t not in mine]

    def _goodbye(self) -> None:
        with self.session_factory() as session:
            session.execute(update(Agent).where(Agent.id == self.agent_id).values(
                state=AgentState.STOPPED, stopped_at=utcnow(), running_syncs=0))
            session.commit()

    # ---- on the loop -------------------------------------------------------------------------

    def _launch(self, execution_ids: list[uuid.UUID]) -> None:
        for execution_id in execution_ids:
            log.info("agent %s takes over sync %s (its agent stopped heartbeating)",
                     self.agent_id, execution_id)
            self.taken_over.append(execution_id)
            self.manager.launch(execution_id)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                self._launch(await asyncio.to_thread(self._beat))
            except Exception:
                log.warning("heartbeat of agent %s failed; retrying", self.agent_id,
                            exc_info=True)


def list_agents(session: Session, now: dt.datetime, lease: dt.timedelta) -> list[tuple[Agent, str]]:
    """Agents with their state as seen now: running, stopped, or lost (no heartbeat)."""
    out = []
    for agent in session.scalars(select(Agent).order_by(Agent.started_at.desc())):
        state = agent.state.value
        if agent.state == AgentState.RUNNING and now - agent.heartbeat_at > lease:
            state = "lost"
        out.append((agent, state))
    return out
