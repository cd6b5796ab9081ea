"""A slot's claim begins its sync in the same transaction (issue 6): the same rows, event,
log and audit entries as the sync's own ``begin``, once, and only for the agent that got the
slot; nothing of it when the circuit breaker is open or no place is free."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update

from server.db.engine import make_session_factory
from server.db.models import (
    BreakerState,
    CircuitBreaker,
    InstanceStatus,
    IntegrationInstance,
    IntegrationLog,
    OutboxEvent,
    SyncExecution,
    SyncSchedule,
    SyncStatus,
)
from server.db.types import utcnow
from server.scheduler.slots import SlotClaim, claim_slot
from server.sync import lifecycle
from server.sync.manager import SyncManager
from tests.support.api import Api
from tests.support.record_source import Source, generic_rest_config, serve_source

LEASE = dt.timedelta(seconds=60)


def _schedule(api: Api) -> tuple[uuid.UUID, uuid.UUID, dt.datetime]:
    """(instance id, schedule id, slot) of a new instance's schedule, its slot a day ahead:
    claimed here, not by the app's own scheduler (whose refresh would find a due one)."""
    with serve_source(Source(5)) as url:
        instance = api.create_instance(f"Dir {uuid.uuid4().hex[:6]}", "generic-rest",
                                       generic_rest_config(url))
    resp = api.post("/schedules", {"instance_id": instance["id"], "schedule_type": "interval",
                                   "interval_minutes": 60})
    assert resp.status_code == 201, resp.text
    slot = utcnow().replace(microsecond=0) + dt.timedelta(days=1)
    with make_session_factory(api.engine)() as session:
        session.execute(update(SyncSchedule).where(SyncSchedule.id == uuid.UUID(
            resp.json()["id"])).values(next_execution=slot))
        session.commit()
    return uuid.UUID(instance["id"]), uuid.UUID(resp.json()["id"]), slot


def _manager(api: Api) -> SyncManager:
    manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
    return manager


def _begin(api: Api) -> Any:
    engine = _manager(api).engine
    return lambda session, claimed: lifecycle.begin_claimed(engine, session, claimed)


def _counts(api: Api, execution_id: uuid.UUID) -> tuple[str, int, int]:
    """The execution's status, its sync.started events and its sync.start log rows."""
    with make_session_factory(api.engine)() as session:
        execution = session.get(SyncExecution, execution_id)
        assert execution is not None
        events = session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.event_type == "sync.started",
            OutboxEvent.dedupe_key == f"sync.started:{execution_id}"))
        logs = session.scalar(select(func.count()).select_from(IntegrationLog).where(
            IntegrationLog.operation == "sync.start", IntegrationLog.sync_id == execution_id))
        return execution.status.value, int(events or 0), int(logs or 0)


def test_the_claim_begins_the_sync_once_and_begin_hands_it_over(api: Api) -> None:
    _, schedule_id, slot = _schedule(api)
    factory = make_session_factory(api.engine)
    results: list[SlotClaim] = []
    barrier = threading.Barrier(4)

    def agent(n: int) -> None:  # four agents race for the slot, each ready to begin it
        barrier.wait()
        with factory() as session:
            results.append(claim_slot(session, schedule_id, slot, f"agent-{n}", utcnow(),
                                      LEASE, _begin(api)))

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if r.claimed]
    assert len(won) == 1
    assert won[0].execution_id is not None
    assert won[0].begun is not None
    assert all(r.begun is None for r in results if not r.claimed)
    execution_id = won[0].execution_id
    # Committed with the claim: running, one started event, one start log entry.
    assert _counts(api, execution_id) == ("running", 1, 1)

    lifecycle.hand_over(execution_id, won[0].begun)
    connector, streams, done, status = lifecycle.begin(_manager(api).engine, execution_id,
                                                       won[0].started_event)
    try:
        assert connector is won[0].begun[0]
        assert (streams, done, status) == ([], {}, SyncStatus.RUNNING)
        assert _counts(api, execution_id) == ("running", 1, 1)  # nothing written again
    finally:
        if connector is not None:
            asyncio.run(connector.aclose())


def test_an_open_breaker_leaves_the_start_to_the_sync(api: Api) -> None:
    instance_id, schedule_id, slot = _schedule(api)
    factory = make_session_factory(api.engine)
    with factory() as session:  # failed before: the instance in error, its breaker open
        session.add(CircuitBreaker(instance_id=instance_id, state=BreakerState.OPEN,
                                   opened_at=utcnow(), trips=1, reason="auth failure"))
        session.execute(update(IntegrationInstance).where(IntegrationInstance.id == instance_id)
                        .values(status=InstanceStatus.ERROR))
        session.commit()
    with factory() as session:
        claim = claim_slot(session, schedule_id, slot, "a", utcnow(), LEASE, _begin(api))
    assert claim.claimed
    assert claim.execution_id is not None
    assert claim.begun is None
    assert _counts(api, claim.execution_id) == ("pending", 0, 0)  # begin decides, as before


def test_a_connector_that_cannot_be_built_leaves_the_claim_standing(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _, schedule_id, slot = _schedule(api)

    def broken(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("a connector bug")

    monkeypatch.setattr(lifecycle, "build_connector", broken)
    with make_session_factory(api.engine)() as session:
        claim = claim_slot(session, schedule_id, slot, "a", utcnow(), LEASE, _begin(api))
    assert claim.claimed  # the slot is taken once; the sync's begin meets the error
    assert claim.execution_id is not None
    assert claim.begun is None
    assert _counts(api, claim.execution_id) == ("pending", 0, 0)


def test_a_claim_begins_a_sync_only_if_a_place_is_free(api: Api) -> None:
    manager = _manager(api)
    saved = manager.max_parallel
    manager.max_parallel = 2
    try:
        assert manager.reserve_start()
        assert manager.reserve_start()
        assert not manager.reserve_start()  # two reserved: a third would wait for a place
        manager.release_start()
        assert manager.reserve_start()
        manager.release_start()
        manager.release_start()
    finally:
        manager.max_parallel = saved
