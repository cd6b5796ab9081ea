"""Acceptance (issue 6): three real agents on one PostgreSQL, 50 schedules firing every
minute for two minutes, and one agent killed with SIGKILL in the middle of a sync.

Checked from the database afterwards: every slot of every schedule ran exactly once (one
SyncExecution per schedule and slot, all completed, spread over the agents); the killed
agent's sync was finished by another agent after its lease lapsed, from its checkpoint, with
every source record stored exactly once and no record rewritten.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db.engine import make_engine
from server.db.models import (
    EvidenceRecord,
    EvidenceRecordVersion,
    ScheduleSlot,
    SyncExecution,
    SyncSchedule,
)
from server.sync.manager import DEFAULT_BATCH
from server.vault import MasterKey
from tests.agents.agent_process import AgentProcess
from tests.support.record_source import Source, generic_rest_config, serve_source

SCHEDULES = 50
BIG = 3 * DEFAULT_BATCH  # three write batches: the kill lands after the first, before the last


class SlowSource(Source):
    """Pages take a while, so a sync is still running when its agent is killed."""

    def page(self, offset: int, limit: int, since: int | None) -> dict[str, Any]:
        if self.count == BIG:
            time.sleep(0.2)
        return super().page(offset, limit, since)


def _minute(t: dt.datetime) -> dt.datetime:
    return t.replace(second=0, microsecond=0)


def _wait_until(moment: dt.datetime) -> None:
    time.sleep(max(0.0, (moment - dt.datetime.now(dt.UTC)).total_seconds()))


@pytest.mark.slow
def test_three_agents_fifty_schedules_and_a_killed_agent(
    db_url: str, backend: str, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("several agents need PostgreSQL (SQLite allows one agent)")
    key = MasterKey.generate().to_text()
    agents = [AgentProcess(db_url, tmp_path / f"agent{n}", master_key=key) for n in range(3)]
    small, big = SlowSource(20), SlowSource(BIG)
    with serve_source(small) as small_url, serve_source(big) as big_url:
        try:
            agents[0].launch()
            agents[0].wait_ready()  # creates the database's first admin token
            for a in agents[1:]:
                a.launch()
            for a in agents[1:]:
                a.wait_ready(agents[0].token)
            a0 = agents[0]
            connector = next(c["id"] for c in a0.call("GET", "/connectors", params={
                "q": "generic"}).json()["items"] if c["key"] == "generic-rest")

            def instance(name: str, url: str, page: int = 20) -> str:
                created = a0.call("POST", "/instances", json={
                    "name": name, "connector_id": connector,
                    "configuration": generic_rest_config(url, page=page),
                    "options": {"allow_loopback": True}}).json()
                assert a0.call("POST", f"/instances/{created['id']}/activate"
                               ).status_code == 200
                return str(created["id"])

            schedule_ids = []
            for n in range(SCHEDULES):
                resp = a0.call("POST", "/schedules", json={
                    "instance_id": instance(f"tenant-{n:02d}", small_url),
                    "schedule_type": "cron", "cron_expression": "* * * * *"})
                assert resp.status_code == 201, resp.text
                schedule_ids.append(resp.json()["id"])
            created_by = dt.datetime.now(dt.UTC)
            big_id = instance("big", big_url, page=500)
            first = _minute(created_by) + dt.timedelta(minutes=1)
            second = first + dt.timedelta(minutes=1)

            # Just after the first slot (all three agents competing for it), a long sync
            # starts on agent 2; it is killed while the sync is half way.
            _wait_until(first + dt.timedelta(seconds=2))
            victim = agents[2]
            started = victim.call("POST", f"/instances/{big_id}/sync")
            assert started.status_code == 202, started.text
            execution_id = started.json()["id"]
            deadline = time.monotonic() + 60
            while (victim.call("GET", f"/sync-executions/{execution_id}").json()
                   ["records_processed"] or 0) == 0:  # the first batch is committed
                assert time.monotonic() < deadline, "the big sync made no progress"
                time.sleep(0.1)
            victim_agent = next(a["id"] for a in victim.call("GET", "/agents").json()
                                if a["this_agent"])
            assert victim.call("GET", f"/sync-executions/{execution_id}").json()[
                "agent_id"] == victim_agent
            victim.kill()
            killed_at = time.monotonic()

            deadline = time.monotonic() + 90
            while True:
                done = a0.call("GET", f"/sync-executions/{execution_id}").json()
                if done["status"] not in ("pending", "running"):
                    break
                assert time.monotonic() < deadline, f"nobody finished the killed sync: {done}"
                time.sleep(0.2)
            took_over_after = time.monotonic() - killed_at

            # Let the second slot fire and its syncs finish.
            _wait_until(second + dt.timedelta(seconds=3))
            deadline = time.monotonic() + 60
            while a0.call("GET", "/sync-executions", params={"status": "running"}
                          ).json()["items"] or a0.call("GET", "/sync-executions", params={
                              "status": "pending"}).json()["items"]:
                assert time.monotonic() < deadline, "scheduled syncs did not finish"
                time.sleep(0.2)
            listed = {a["id"]: a["state"] for a in a0.call("GET", "/agents").json()}
        finally:
            for a in agents:
                a.stop()

    assert done["status"] == "completed", done["error_details"]
    assert done["agent_id"] not in (None, victim_agent)  # another agent finished it
    assert took_over_after < 30
    assert listed[victim_agent] == "lost"
    assert sorted(listed.values()) == ["lost", "running", "running"]

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(SyncExecution.schedule_id, SyncExecution.options,
                                       SyncExecution.status, SyncExecution.agent_id).where(
                SyncExecution.schedule_id.is_not(None))).all()
            created = dict(conn.execute(select(SyncSchedule.id, SyncSchedule.created_at)).all())
            claims = conn.execute(select(ScheduleSlot.agent_id)).scalars().all()
            big_rows = conn.execute(select(func.count(), func.count(
                EvidenceRecord.external_id.distinct())).where(
                EvidenceRecord.entity_type == "generic-rest.users",
                EvidenceRecord.instance_id == uuid.UUID(big_id))).one()
            rewrites = conn.execute(select(func.count()).select_from(
                EvidenceRecordVersion)).scalar()
    finally:
        engine.dispose()

    # Every slot of every schedule: exactly one execution, completed.
    per_slot = Counter((str(r.schedule_id), r.options["slot"]) for r in rows)
    assert max(per_slot.values()) == 1
    expected = set()
    for sid in schedule_ids:
        made = created[uuid.UUID(sid)]
        for slot in (first - dt.timedelta(minutes=1), first, second):
            if made < slot <= second:
                expected.add((sid, slot.isoformat()))
    assert set(per_slot) == expected
    assert len(expected) >= 2 * SCHEDULES
    assert all(r.status.value == "completed" for r in rows)
    assert len(claims) == len(expected)
    assert len(set(claims)) >= 2  # the agents shared the work
    # The killed agent's sync: finished elsewhere, every record once, none rewritten.
    assert big_rows == (BIG, BIG)
    assert rewrites == 0
