"""Slots due together are claimed together (issue 6): one transaction for a schedule tick's
slots with each slot's outcome as if claimed alone, exactly once across agents whose
batches overlap, and a slot somebody else holds costs only itself."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import threading
import uuid
from typing import Any

from sqlalchemy import func, select, update

from server.db.engine import make_session_factory
from server.db.models import (
    AuditEntry,
    InstanceStatus,
    IntegrationInstance,
    IntegrationLog,
    OutboxEvent,
    ScheduleSlot,
    SyncExecution,
    SyncSchedule,
)
from server.db.types import utcnow
from server.scheduler.slots import Due, SlotClaim, claim_slots
from server.sync import lifecycle
from server.sync.manager import SyncManager
from tests.support.api import Api
from tests.support.record_source import Source, generic_rest_config, serve_source

LEASE = dt.timedelta(seconds=60)


def _begin(api: Api) -> Any:
    manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
    return lambda session, claimed: lifecycle.begin_claimed(manager.engine, session, claimed)


def _fleet(api: Api, instances: int, *, schedules_of_first: int = 1,
           **instance_extra: Any) -> tuple[list[uuid.UUID], list[uuid.UUID], dt.datetime]:
    """(instance ids, schedule ids, slot): one hourly schedule per instance (the first
    instance gets ``schedules_of_first``), all due at one slot a day ahead (claimed here,
    not by the app's own scheduler)."""
    instance_ids: list[uuid.UUID] = []
    schedule_ids: list[uuid.UUID] = []
    with serve_source(Source(5)) as url:
        for n in range(instances):
            inst = api.create_instance(f"Fleet {n} {uuid.uuid4().hex[:6]}", "generic-rest",
                                       generic_rest_config(url), **instance_extra)
            instance_ids.append(uuid.UUID(inst["id"]))
            for _ in range(schedules_of_first if n == 0 else 1):
                resp = api.post("/schedules", {"instance_id": inst["id"],
                                               "schedule_type": "interval",
                                               "interval_minutes": 60})
                assert resp.status_code == 201, resp.text
                schedule_ids.append(uuid.UUID(resp.json()["id"]))
    slot = utcnow().replace(microsecond=0) + dt.timedelta(days=1)
    with make_session_factory(api.engine)() as session:
        session.execute(update(SyncSchedule).where(SyncSchedule.id.in_(schedule_ids))
                        .values(next_execution=slot))
        session.commit()
    return instance_ids, schedule_ids, slot


def _close(claims: list[SlotClaim]) -> None:
    for claim in claims:
        if claim.begun is not None and claim.begun[0] is not None:
            asyncio.run(claim.begun[0].aclose())


def _audit_actions(api: Api, after: int) -> list[str]:
    with make_session_factory(api.engine)() as session:
        return sorted(session.scalars(select(AuditEntry.action).where(AuditEntry.seq > after)))


def test_a_tick_of_slots_is_claimed_together_each_with_its_own_outcome(api: Api) -> None:
    # Instance 0 has two schedules due at once; instance 3 is deactivated.
    instances, schedules, slot = _fleet(api, 5, schedules_of_first=2)
    a, a2, b, c, d, stale = schedules
    factory = make_session_factory(api.engine)
    with factory() as session:
        session.execute(update(IntegrationInstance).where(IntegrationInstance.id == instances[3])
                        .values(status=InstanceStatus.INACTIVE))
        session.commit()
        head = session.scalar(select(func.max(AuditEntry.seq))) or 0
    due = [Due(a, slot), Due(a2, slot), Due(b, slot), Due(b, slot), Due(c, slot, begin=False),
           Due(d, slot), Due(stale, slot - dt.timedelta(hours=1))]
    with factory() as session:
        claims = claim_slots(session, due, "agent-1", utcnow(), LEASE, _begin(api))
    try:
        assert [(x.claimed, x.reason) for x in claims] == [
            (True, "started"), (True, "skipped_active"), (True, "started"), (False, "taken"),
            (True, "started"), (True, "skipped_inactive"), (False, "stale")]
        assert [x.begun is not None for x in claims] == [True, False, True, False, False,
                                                          False, False]
        assert claims[-1].next_slot == slot  # the stale one says where its schedule is
        started = {claims[n].execution_id: n for n in (0, 2, 4)}
        assert None not in started
        with factory() as session:
            rows = {e.id: e for e in session.scalars(select(SyncExecution))}
            assert set(rows) == set(started)
            statuses = {started[e]: rows[e].status.value for e in rows}
            assert statuses == {0: "running", 2: "running", 4: "pending"}
            assert all(r.agent_id == "agent-1" and r.lease_expires_at is not None
                       for r in rows.values())
            slots = {(s.schedule_id, s.outcome.value, s.execution_id)
                     for s in session.scalars(select(ScheduleSlot))}
            assert slots == {(a, "started", claims[0].execution_id),
                             (a2, "skipped_active", None),
                             (b, "started", claims[2].execution_id),
                             (c, "started", claims[4].execution_id),
                             (d, "skipped_inactive", None)}
            moved = {s.id: s for s in session.scalars(select(SyncSchedule))}
            for n, sid in ((0, a), (1, a2), (2, b), (4, c), (5, d)):
                assert moved[sid].next_execution == claims[n].next_slot > slot
                assert (moved[sid].last_execution is not None) == (n in (0, 2, 4))
            # The begun syncs have their event and log entry; the one not begun has none.
            events = session.scalars(select(OutboxEvent.dedupe_key).where(
                OutboxEvent.event_type == "sync.started")).all()
            assert sorted(events) == sorted(f"sync.started:{claims[n].execution_id}"
                                            for n in (0, 2))
            logs = session.scalars(select(IntegrationLog.sync_id).where(
                IntegrationLog.operation == "sync.start")).all()
            assert sorted(map(str, logs)) == sorted(str(claims[n].execution_id) for n in (0, 2))
            skip = session.scalars(select(IntegrationLog.message).where(
                IntegrationLog.operation == "schedule.skip")).all()
            assert len(skip) == 2
        assert _audit_actions(api, head) == ["schedule.skip", "schedule.skip", "sync.start",
                                             "sync.start"]
        assert api.get("/audit/verify").json()["ok"] is True
    finally:
        _close(claims)


def test_agents_claiming_overlapping_ticks_claim_each_slot_once(api: Api) -> None:
    _, schedules, slot = _fleet(api, 8)
    factory = make_session_factory(api.engine)
    results: dict[int, list[SlotClaim]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def agent(n: int) -> None:  # each sees the tick's slots in its own order
        order = list(schedules)
        random.Random(n).shuffle(order)
        barrier.wait()
        try:
            with factory() as session:
                results[n] = claim_slots(session, [Due(s, slot, begin=False) for s in order],
                                         f"agent-{n}", utcnow(), LEASE)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    won = [c for claims in results.values() for c in claims if c.claimed]
    assert len(won) == len(schedules)
    assert {c.reason for claims in results.values() for c in claims if not c.claimed} <= {
        "stale", "taken"}
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(ScheduleSlot)) == len(schedules)
        assert session.scalar(select(func.count()).select_from(SyncExecution)) == len(schedules)
        assert {e.id for e in session.scalars(select(SyncExecution))} == {
            c.execution_id for c in won}


def test_a_taken_slot_in_a_tick_costs_only_itself(api: Api) -> None:
    _, (first, held, last), slot = _fleet(api, 3)
    factory = make_session_factory(api.engine)
    with factory() as session:  # the slot row is there, its schedule not moved on
        session.add(ScheduleSlot(id=uuid.uuid4(), schedule_id=held, slot_time=slot,
                                 agent_id="elsewhere", claimed_at=utcnow(),
                                 outcome="started", execution_id=None))
        session.commit()
    with factory() as session:
        claims = claim_slots(session, [Due(s, slot, begin=False) for s in (first, held, last)],
                             "agent-1", utcnow(), LEASE)
    assert [(c.claimed, c.reason) for c in claims] == [(True, "started"), (False, "taken"),
                                                       (True, "started")]
    with factory() as session:
        executions = session.scalars(select(SyncExecution.schedule_id)).all()
        assert sorted(map(str, executions)) == sorted(map(str, (first, last)))
        assert session.get(SyncSchedule, held).next_execution == slot  # type: ignore[union-attr]


def test_each_sync_begun_in_a_tick_audits_its_own_credential_use(api: Api) -> None:
    cred = api.post("/auth-configs", {"name": "fleet-token", "auth_type": "bearer",
                                      "credentials": {"token": "t0ken-value"}}).json()
    _, schedules, slot = _fleet(api, 2, auth_config_id=cred["id"])
    factory = make_session_factory(api.engine)
    with factory() as session:
        head = session.scalar(select(func.max(AuditEntry.seq))) or 0
    with factory() as session:
        claims = claim_slots(session, [Due(s, slot) for s in schedules], "agent-1", utcnow(),
                             LEASE, _begin(api))
    try:
        assert all(c.begun is not None for c in claims)
        with factory() as session:
            uses = session.scalars(select(AuditEntry).where(
                AuditEntry.seq > head, AuditEntry.action == "credential.use")).all()
        assert {u.object_id for u in uses} == {cred["id"]}
        details = [json.loads(u.details) for u in uses]  # stored canonical, as hashed
        assert sorted(d["object_id"] for d in details) == sorted(
            str(c.execution_id) for c in claims)
        assert {d["for"] for d in details} == {"sync.start"}
        assert "t0ken-value" not in str(details)
    finally:
        _close(claims)
