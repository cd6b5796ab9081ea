"""Sync worker processes: the agent's scheduled syncs spread over several interpreters.

One agent process is one interpreter: under a fleet of syncs its HTTP clients and database
steps share one core however many the machine has (issue 6: 200 rate-limited syncs kept one
core busy and the other partly idle). On PostgreSQL the agent therefore starts
``sync_workers - 1`` child processes (:class:`SyncWorkers`) that each run what makes a sync
happen, and nothing else: a scheduler, heartbeats with lease renewal and orphan takeover,
and a :class:`~server.sync.manager.SyncManager`. No API, no webhooks, no event actions: those
stay in the agent's own process, which is worker 0.

Each worker is an agent of its own in the database (id ``<agent id>/w<n>``, stable across
restarts so a restarted worker resumes its syncs at once), so the guarantees of several
agents hold unchanged: a slot is claimed exactly once (the claim is a transaction on the
schedule row), an execution runs under one lease. To spread the work, every schedule has a
home worker (:func:`server.scheduler.service.home_of`): that one fires at the slot, the
others only ``FALLBACK_SECONDS`` later, when the home worker has normally claimed it and they
find the slot taken (a dead worker's slots still run, a little late).

:class:`SyncWorkers` supervises the children as the webhook parser's child is supervised
(:mod:`server.events.parser_process`): restarted when one dies, stopped with the agent (their
stdin closes), and after ``GIVE_UP`` failed starts in a row the agent's own scheduler takes
their schedules back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from server.children import ChildProcess, read_start, start_line, stdin_closed
from server.config import Settings

log = logging.getLogger(__name__)

def worker_agent_id(agent_id: str, index: int) -> str:
    """The agent id worker ``index`` registers under (worker 0 is the agent itself)."""
    return agent_id if index == 0 else f"{agent_id}/w{index}"


class SyncWorkers:
    """Starts and supervises workers 1..count-1 from the agent (:mod:`server.children`)."""

    def __init__(self, settings: Settings, count: int,
                 on_give_up: Callable[[int], None] | None = None) -> None:
        self.count = count
        self._children = [
            ChildProcess("server.agents.workers", f"sync worker {index}",
                         start_line(settings, index=index, count=count),
                         fallback="its schedules run in the agent's process",
                         on_give_up=(functools.partial(on_give_up, index)
                                     if on_give_up is not None else None))
            for index in range(1, count)]

    def start(self) -> None:
        for child in self._children:
            child.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Close every child's stdin (each stops its syncs, releasing their leases, and
        exits), then wait for them."""
        for child in self._children:
            child.close()
        deadline = time.monotonic() + timeout
        for child in self._children:
            child.wait(max(0.1, deadline - time.monotonic()))

    @property
    def pids(self) -> list[int]:
        return [pid for child in self._children if (pid := child.pid) is not None]


# ---- the child ---------------------------------------------------------------------------


def main() -> None:
    """The child: read the start line, then run scheduled syncs until stdin closes."""
    start = read_start()
    if start is not None:
        settings, extra = start
        asyncio.run(_run(settings, int(extra["index"]), int(extra["count"])))


async def _run(settings: Settings, index: int, count: int) -> None:
    from server.db.engine import make_engine  # noqa: PLC0415

    engine = make_engine(settings.database_url)
    try:
        await _serve(settings, engine, index, count)
    finally:
        engine.dispose()


async def _serve(settings: Settings, engine: Engine, index: int, count: int) -> None:
    """Heartbeats, scheduler and syncs of worker ``index`` until stdin closes or SIGTERM."""
    from server.agents.service import AgentService  # noqa: PLC0415
    from server.db.engine import make_session_factory  # noqa: PLC0415
    from server.events.emit import install_status_hook  # noqa: PLC0415
    from server.monitoring.config import MonitoringConfig  # noqa: PLC0415
    from server.monitoring.recovery import RecoveryPolicy  # noqa: PLC0415
    from server.scheduler.service import SchedulerService  # noqa: PLC0415
    from server.services.registry import Registry  # noqa: PLC0415
    from server.sync.manager import SyncManager  # noqa: PLC0415
    from server.vault import Vault  # noqa: PLC0415

    factory = make_session_factory(engine)
    install_status_hook()
    agent_id = worker_agent_id(settings.agent_id, index)
    lease = dt.timedelta(seconds=settings.sync_lease_seconds)
    registry = Registry(settings)
    with factory() as session:  # discovered now, not by the first syncs' threads at once
        registry.result(session)
    manager = SyncManager(factory, registry, Vault.load(settings.data_dir, create=False),
                          max_parallel=settings.max_parallel_syncs, agent_id=agent_id)
    health = MonitoringConfig.of(settings)
    manager.engine.lease = lease
    manager.engine.monitoring = health
    manager.engine.recovery = RecoveryPolicy.of(health)
    agents = AgentService(factory, manager, agent_id, heartbeat=settings.agent_heartbeat_seconds,
                          lease=lease)
    scheduler = SchedulerService(factory, manager, agent_id, lease=lease,
                                 refresh_seconds=max(settings.agent_heartbeat_seconds, 1.0),
                                 worker=index, workers=count)
    scheduler.fresh = agents.fresh
    closed = stdin_closed()
    started = False
    try:
        await agents.start()  # registers, then resumes this worker's orphaned syncs
        await scheduler.start()
        started = True
        await closed.wait()
    finally:
        if started:
            await scheduler.stop()
        await manager.shutdown()  # releases leases: the next start resumes at once
        if started:
            await agents.stop()


if __name__ == "__main__":
    main()
