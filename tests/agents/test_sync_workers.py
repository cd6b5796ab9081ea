"""Sync worker processes (issue 6): on PostgreSQL an agent with ``sync_workers = 2`` runs a
second process that claims and runs scheduled syncs beside it.

Checked with a real ``simpletrust agent``: every slot runs exactly once, each claimed on time
by its schedule's home worker (so the work is spread); the worker is an agent of its own in
the listing; killed, it is restarted; the agent stopped stops it. Settings: the default, and
SQLite refusing more than one worker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from server.config import SettingsError, load_settings
from server.db.engine import make_engine, make_session_factory
from server.db.models import Agent, ScheduleSlot, SyncExecution, SyncSchedule
from server.scheduler.service import FALLBACK_SECONDS, Plan, SchedulerService, home_of
from server.vault import MasterKey
from tests.agents.agent_process import AgentProcess
from tests.support.procfs import alive, live_children
from tests.support.record_source import Source, generic_rest_config, serve_source
from tests.webhooks.helpers import wait_for

SCHEDULES = 12


def test_sync_workers_default_and_sqlite_refuses_more_than_one(tmp_path: Path) -> None:
    pg = load_settings(database_url="postgresql+psycopg://x/y", data_dir=tmp_path)
    assert pg.sync_workers == 1
    assert load_settings(database_url="sqlite:///x.db", data_dir=tmp_path).sync_workers == 1
    assert load_settings(database_url="postgresql+psycopg://x/y", data_dir=tmp_path,
                         sync_workers=3).sync_workers == 3
    with pytest.raises(SettingsError, match="SYNC_WORKERS above 1 needs PostgreSQL"):
        load_settings(database_url="sqlite:///x.db", data_dir=tmp_path, sync_workers=2)


def test_a_worker_fires_its_own_schedules_at_the_slot_and_the_others_later() -> None:
    asyncio.run(_planned_by_home())


async def _planned_by_home() -> None:
    service = SchedulerService(None, None, "a",  # type: ignore[arg-type]
                               lease=dt.timedelta(seconds=60), worker=1, workers=2)
    service.scheduler.start(paused=True)
    try:
        slot = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        ids = [uuid.uuid4() for _ in range(8)]
        for sid in ids:
            service._plan(Plan(sid, slot, 0))
        for sid in ids:
            run_at = service.scheduler.get_job(str(sid)).trigger.run_date
            late = (run_at - slot).total_seconds()
            assert late == (0 if home_of(sid, 2) == 1 else FALLBACK_SECONDS)
        service.homes.add(0)  # adopted (what adopt() does on the loop)
        service._plan(Plan(ids[0], slot, 0))
        assert service.scheduler.get_job(str(ids[0])).trigger.run_date == slot
    finally:
        service.scheduler.shutdown(wait=False)


@pytest.mark.slow
def test_two_sync_workers_share_the_slots_exactly_once(db_url: str, backend: str,
                                                       tmp_path: Path) -> None:
    if backend != "postgresql":
        pytest.skip("sync workers need PostgreSQL (SQLite runs one)")
    agent = AgentProcess(db_url, tmp_path / "data", master_key=MasterKey.generate().to_text(),
                         extra_env={"SIMPLETRUST_SYNC_WORKERS": "2"})
    engine = make_engine(db_url)
    agent.launch()
    assert agent.proc is not None
    try:
        agent.wait_ready()
        with serve_source(Source(20)) as url:
            connector = next(c["id"] for c in agent.call("GET", "/connectors", params={
                "q": "generic"}).json()["items"] if c["key"] == "generic-rest")
            schedules = []
            for n in range(SCHEDULES):
                inst = agent.call("POST", "/instances", json={
                    "name": f"tenant-{n:02d}", "connector_id": connector,
                    "configuration": generic_rest_config(url, page=5),
                    "options": {"allow_loopback": True}}).json()
                assert agent.call("POST", f"/instances/{inst['id']}/activate"
                                  ).status_code == 200
                created = agent.call("POST", "/schedules", json={
                    "instance_id": inst["id"], "schedule_type": "interval",
                    "interval_minutes": 60})
                assert created.status_code == 201, created.text
                schedules.append(uuid.UUID(created.json()["id"]))

            def worker_running() -> bool:
                # The worker is a second agent process: on a loaded machine it can still be
                # starting when the slots fall due, and the main agent's fallback (rightly)
                # takes its slots; the routing checked below needs it up first.
                return any(a["id"].endswith("/w1") and a["state"] == "running"
                           for a in agent.call("GET", "/agents").json())

            wait_for(worker_running, timeout=60, every=0.2)
            due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=3)
            with make_session_factory(engine)() as session:
                session.execute(update(SyncSchedule).values(next_execution=due))
                session.commit()

            def finished() -> list[SyncExecution]:
                with make_session_factory(engine)() as session:
                    rows = list(session.scalars(select(SyncExecution)))
                return rows if len(rows) == SCHEDULES and all(
                    r.status.value == "completed" for r in rows) else []

            executions = wait_for(finished, timeout=60, every=0.2)
        with make_session_factory(engine)() as session:
            claims = {s.schedule_id: s.agent_id for s in session.scalars(select(ScheduleSlot))}
        listed = {a["id"]: a for a in agent.call("GET", "/agents").json()}
        main_id = next(i for i, a in listed.items() if a["this_agent"])
        worker_id = f"{main_id}/w1"
        assert listed[worker_id]["state"] == "running"

        # Every slot once, claimed on time by its home worker, run by the claimer.
        assert Counter(e.schedule_id for e in executions) == dict.fromkeys(schedules, 1)
        assert claims == {sid: worker_id if home_of(sid, 2) == 1 else main_id
                          for sid in schedules}
        assert {e.schedule_id: e.agent_id for e in executions} == claims

        # Killed, the worker is restarted (and registers again); stopped with the agent.
        children = set(live_children(agent.proc.pid))
        worker_pid = next(p for p in children
                          if b"server.agents.workers" in Path(f"/proc/{p}/cmdline").read_bytes())
        os.kill(worker_pid, signal.SIGKILL)
        restarted = wait_for(lambda: [p for p in live_children(agent.proc.pid)
                                      if p not in children], timeout=30)
        wait_for(lambda: agent.call("GET", "/agents").json() and next(
            a for a in agent.call("GET", "/agents").json() if a["id"] == worker_id
        )["pid"] == restarted[0], timeout=30)
        agent.proc.terminate()
        assert agent.proc.wait(timeout=40) == 0
        assert not alive(restarted[0])
        stopped = {a.id: a.state.value for a in _agents(engine)}
        assert stopped[worker_id] == "stopped"
    finally:
        agent.stop()
        engine.dispose()


def _agents(engine: Engine) -> list[Agent]:
    with make_session_factory(engine)() as session:
        return list(session.scalars(select(Agent)))
