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

:class:`SyncWorkers` supervises the children like the webhook parser's child
(:mod:`server.events.parser_process`): restarted when one dies, stopped with the agent (their
stdin closes), and after ``GIVE_UP`` failed starts in a row the agent's own scheduler takes
their schedules back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from server.config import Settings

log = logging.getLogger(__name__)

#: Restarts wait this long, doubling up to ``MAX_DELAY``.
RESTART_DELAY = 1.0
MAX_DELAY = 30.0
#: A child that exits within ``QUICK_EXIT`` seconds of its start failed to start; after
#: ``GIVE_UP`` such starts in a row the agent stops restarting it.
QUICK_EXIT = 10.0
GIVE_UP = 3


def worker_agent_id(agent_id: str, index: int) -> str:
    """The agent id worker ``index`` registers under (worker 0 is the agent itself)."""
    return agent_id if index == 0 else f"{agent_id}/w{index}"


class SyncWorkers:
    """Starts and supervises workers 1..count-1 (one thread each) from the agent."""

    def __init__(self, settings: Settings, count: int,
                 on_give_up: Callable[[int], None] | None = None) -> None:
        self.settings = settings
        self.count = count
        self.on_give_up = on_give_up
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(1, self.count):
            thread = threading.Thread(target=self._supervise, args=(index,),
                                      name=f"sync-worker-{index}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Close every child's stdin (each stops its syncs, releasing their leases, and
        exits), then wait for them."""
        self._stopping.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            _close(proc)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("sync worker %s did not stop in %.0f s; killed", proc.pid, timeout)
                proc.kill()
                proc.wait()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs.values() if p.poll() is None]

    def _supervise(self, index: int) -> None:
        delay, quick = RESTART_DELAY, 0
        while not self._stopping.is_set():
            started = time.monotonic()
            code = self._run_once(index)
            if self._stopping.is_set():
                return
            quick = quick + 1 if time.monotonic() - started < QUICK_EXIT else 0
            if quick >= GIVE_UP:
                log.error("sync worker %d failed to start %d times (exit status %s); its "
                          "schedules run in the agent's process", index, quick, code)
                if self.on_give_up is not None:
                    self.on_give_up(index)
                return
            log.error("sync worker %d exited with status %s; restarting it in %.0f s",
                      index, code, delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, MAX_DELAY) if quick else RESTART_DELAY

    def _run_once(self, index: int) -> int:
        proc = subprocess.Popen([sys.executable, "-m", "server.agents.workers"],
                                stdin=subprocess.PIPE, close_fds=True)
        assert proc.stdin is not None
        with self._lock:
            self._procs[index] = proc
        try:
            proc.stdin.write(_start_line(self.settings, index, self.count))
            proc.stdin.flush()
        except OSError:
            pass  # it died at once: its exit status says why
        if self._stopping.is_set():  # stop() ran while we were starting it
            _close(proc)
        code = proc.wait()
        _close(proc)
        with self._lock:
            self._procs.pop(index, None)
        return code


def _close(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def _start_line(settings: Settings, index: int, count: int) -> bytes:
    """What a worker needs: the agent's settings (no SMTP password: it sends no mail)."""
    data = settings.model_dump(mode="json", exclude={"smtp_password"})
    return json.dumps({"settings": data, "index": index, "count": count}).encode() + b"\n"


# ---- the child ---------------------------------------------------------------------------


def main() -> None:
    """The child: read the start line, then run scheduled syncs until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the agent, which stops us
    line = sys.stdin.buffer.readline()
    if not line:
        return
    start = json.loads(line)
    settings = Settings(**start["settings"])
    from server.logs import configure_logging  # noqa: PLC0415

    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_run(settings, int(start["index"]), int(start["count"])))


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
    closed = _closed_event()
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


def _closed_event() -> asyncio.Event:
    """Set when stdin closes (the agent stopped or died) or on SIGTERM."""
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)

    def readable() -> None:
        try:
            data = os.read(stdin, 4096)
        except BlockingIOError:
            return
        if not data:
            loop.remove_reader(stdin)
            closed.set()

    loop.add_reader(stdin, readable)
    loop.add_signal_handler(signal.SIGTERM, closed.set)
    return closed


if __name__ == "__main__":
    main()
