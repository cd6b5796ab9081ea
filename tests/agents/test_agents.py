"""Agent registry, lease takeover claims and SQLite's single-agent lock."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from server.agents.claims import claim_orphans, claim_to_start, renew_leases
from server.agents.lock import AgentLockError, SingleAgentLock
from server.db.engine import make_session_factory
from server.db.models import (
    InstanceStatus,
    IntegrationConnector,
    IntegrationInstance,
    SyncExecution,
    SyncStatus,
    SystemType,
    TriggerType,
)
from server.db.types import utcnow
from server.sync.manager import create_execution
from server.vault import MasterKey
from tests.agents.agent_process import AgentProcess
from tests.support.api import Api

LEASE = dt.timedelta(seconds=30)


def test_agents_are_listed_with_their_state(api: Api) -> None:
    agents = api.get("/agents").json()
    me = [a for a in agents if a["this_agent"]]
    assert len(me) == 1
    assert me[0]["state"] == "running"
    assert me[0]["id"] == api.client.app.state.agent_id  # type: ignore[attr-defined]


def _orphan(engine: Engine, *, lease_ago: float) -> uuid.UUID:
    """A running execution of a fresh instance, owned by an agent that is gone."""
    factory = make_session_factory(engine)
    with factory() as session:
        connector = IntegrationConnector(id=uuid.uuid4(), key=f"c{uuid.uuid4().hex[:6]}",
                                         name="C", version="1", system_type=SystemType.GENERIC)
        instance = IntegrationInstance(id=uuid.uuid4(), name=f"I{uuid.uuid4().hex[:6]}",
                                       connector_id=connector.id,
                                       status=InstanceStatus.ACTIVE)
        session.add_all([connector, instance])
        session.flush()
        execution = create_execution(session, instance, TriggerType.MANUAL)
        execution.status, execution.agent_id = SyncStatus.RUNNING, "dead-agent"
        execution.lease_expires_at = utcnow() - dt.timedelta(seconds=lease_ago)
        session.commit()
        return execution.id


def test_a_lapsed_lease_is_taken_over_by_exactly_one_agent(engine: Engine) -> None:
    live = _orphan(engine, lease_ago=-60)  # lease still valid: nobody may take it
    dead = _orphan(engine, lease_ago=5)
    factory = make_session_factory(engine)
    taken: dict[str, list[uuid.UUID]] = {}
    barrier = threading.Barrier(5)

    def agent(name: str) -> None:
        barrier.wait()
        with factory() as session:
            taken[name] = claim_orphans(session, name, utcnow(), LEASE)

    threads = [threading.Thread(target=agent, args=(f"agent-{n}",)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [name for name, ids in taken.items() if dead in ids]
    assert len(winners) == 1
    assert all(live not in ids for ids in taken.values())
    with factory() as session:
        row = session.get(SyncExecution, dead)
        assert row is not None
        assert row.agent_id == winners[0]
        # The old owner can no longer start it; the new one can.
        assert not claim_to_start(session, dead, "dead-agent", utcnow(), LEASE)
        assert claim_to_start(session, dead, winners[0], utcnow(), LEASE)


def test_pending_execution_without_owner_waits_out_a_grace_period(engine: Engine) -> None:
    execution_id = _orphan(engine, lease_ago=0)
    factory = make_session_factory(engine)
    with factory() as session:
        session.execute(update(SyncExecution).where(SyncExecution.id == execution_id).values(
            status=SyncStatus.PENDING, agent_id=None, lease_expires_at=None))
        session.commit()
        # Just created by an agent that is about to start it: not an orphan yet.
        assert claim_orphans(session, "other", utcnow(), LEASE) == []
        later = utcnow() + 3 * LEASE
        assert claim_orphans(session, "other", later, LEASE) == [execution_id]


def test_lock_file_refuses_a_second_holder(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    with SingleAgentLock(db):
        with pytest.raises(AgentLockError) as info:
            SingleAgentLock(db).acquire()
        assert "SQLite allows one agent" in str(info.value)
        assert str(db) in str(info.value)
    SingleAgentLock(db).acquire()  # released: free again


def test_second_agent_on_one_sqlite_file_refuses_to_start(tmp_path: Path) -> None:
    key = MasterKey.generate().to_text()
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = AgentProcess(url, tmp_path / "a", master_key=key)
    first.launch()
    try:
        first.wait_ready()
        second = AgentProcess(url, tmp_path / "b", master_key=key)
        second.data_dir.mkdir()
        done = subprocess.run(
            [*first.proc.args[:-2], "--port", str(second.port)],  # type: ignore[union-attr, index]
            env=second.env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2
        assert "another agent" in done.stderr
        assert "SQLite allows one agent" in done.stderr
        assert "Traceback" not in done.stderr
        assert first.call("GET", "/agents").status_code == 200  # the first one is unharmed
    finally:
        first.stop()


def test_second_agent_with_the_same_data_directory_refuses_to_start(
    db_url: str, tmp_path: Path
) -> None:
    """The data directory holds the agent's identity: a second agent sharing it (here on the
    same database, which PostgreSQL would otherwise allow) stops with one line, no traceback."""
    key = MasterKey.generate().to_text()
    first = AgentProcess(db_url, tmp_path / "shared", master_key=key)
    first.launch()
    try:
        first.wait_ready()
        second = AgentProcess(db_url, tmp_path / "shared", master_key=key)
        done = subprocess.run(
            [*first.proc.args[:-2], "--port", str(second.port)],  # type: ignore[union-attr, index]
            env=second.env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2, done.stderr
        assert f"with the data directory {tmp_path / 'shared'}" in done.stderr
        assert "SIMPLETRUST_DATA_DIR" in done.stderr
        assert "Traceback" not in done.stderr
        assert first.call("GET", "/agents").status_code == 200  # the first one is unharmed
    finally:
        first.stop()


def test_a_heartbeat_renews_only_the_leases_not_renewed_since_the_last_one(
        engine: Engine) -> None:
    """A lease a batch extended since the last heartbeat is left alone (no row rewritten);
    one nearer its end is renewed; with a lease too short for that margin, every one is."""
    factory = make_session_factory(engine)
    fresh, due = _orphan(engine, lease_ago=-28), _orphan(engine, lease_ago=-20)
    now, every = utcnow(), dt.timedelta(seconds=5)
    with factory() as session:
        session.execute(update(SyncExecution).values(agent_id="me"))
        session.commit()
        before = {e: session.get(SyncExecution, e).lease_expires_at  # type: ignore[union-attr]
                  for e in (fresh, due)}
        assert renew_leases(session, "me", [fresh, due], now, LEASE, every) == 1
        session.expire_all()
        after = {e: session.get(SyncExecution, e).lease_expires_at  # type: ignore[union-attr]
                 for e in (fresh, due)}
    assert after[fresh] == before[fresh]
    assert after[due] == now + LEASE
    with factory() as session:  # 30 s lease, 10 s beats: no margin for skipping
        assert renew_leases(session, "me", [fresh, due], now, LEASE,
                            dt.timedelta(seconds=10)) == 2
