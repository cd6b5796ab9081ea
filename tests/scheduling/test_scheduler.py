"""Schedules: slot arithmetic, the once-only claim under racing agents, and the scheduler
inside a running agent (missed slots run once, pause/resume, API changes without restart)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from server.agents.claims import FreshClaims, gate_for
from server.config import load_settings
from server.db.engine import make_session_factory
from server.db.models import (
    AuditChainHead,
    ConfigRevision,
    IntegrationInstance,
    OutboxEvent,
    ScheduleSlot,
    ScheduleType,
    SyncExecution,
    SyncSchedule,
    TriggerType,
)
from server.db.types import utcnow
from server.events.emit import sync_data
from server.scheduler.service import SchedulerService
from server.scheduler.slots import SlotClaim, claim_slot, following_slot, jitter_of
from server.sync.manager import create_execution
from tests.support.api import Api, api_for
from tests.support.record_source import Source, generic_rest_config, serve_source
from tests.webhooks.helpers import count, wait_for

UTC = dt.UTC
LEASE = dt.timedelta(seconds=60)


def _schedule(**kw: Any) -> SyncSchedule:
    return SyncSchedule(id=uuid.uuid4(), instance_id=uuid.uuid4(), is_active=True,
                        timezone=kw.pop("timezone", "UTC"), **kw)


def test_interval_after_downtime_is_one_slot_then_cadence() -> None:
    s = _schedule(schedule_type=ScheduleType.INTERVAL, interval_minutes=15)
    slot = dt.datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    # Down for 2 hours: the stored slot runs once; the next one keeps the :00/:15 cadence.
    now = dt.datetime(2026, 1, 1, 12, 7, tzinfo=UTC)
    assert following_slot(s, slot, now) == dt.datetime(2026, 1, 1, 12, 15, tzinfo=UTC)
    assert following_slot(s, slot, slot) == dt.datetime(2026, 1, 1, 10, 15, tzinfo=UTC)


def test_cron_follows_its_time_zone_across_daylight_saving() -> None:
    s = _schedule(schedule_type=ScheduleType.CRON, cron_expression="0 2 * * *",
                  timezone="Europe/Berlin")
    winter_slot = dt.datetime(2026, 1, 9, 1, 0, tzinfo=UTC)  # 02:00 CET
    summer_slot = dt.datetime(2026, 7, 9, 0, 0, tzinfo=UTC)  # 02:00 CEST
    winter = following_slot(s, winter_slot, dt.datetime(2026, 1, 10, 12, 0, tzinfo=UTC))
    summer = following_slot(s, summer_slot, dt.datetime(2026, 7, 10, 12, 0, tzinfo=UTC))
    assert winter == dt.datetime(2026, 1, 11, 1, 0, tzinfo=UTC)  # missed the 10th: next day
    assert summer == dt.datetime(2026, 7, 11, 0, 0, tzinfo=UTC)
    assert following_slot(s, winter_slot, winter_slot) == dt.datetime(2026, 1, 10, 1, 0,
                                                                      tzinfo=UTC)


def test_jitter_is_bounded_and_the_same_on_every_agent() -> None:
    sid, slot = uuid.uuid4(), dt.datetime(2026, 1, 1, tzinfo=UTC)
    values = {jitter_of(sid, slot, 30) for _ in range(3)}
    assert len(values) == 1
    assert 0 <= values.pop() < 30
    assert jitter_of(sid, slot, 0) == 0
    spread = {round(jitter_of(uuid.uuid4(), slot, 30)) for _ in range(50)}
    assert len(spread) > 10


def _instance_with_schedule(api: Api, url: str, **schedule: Any) -> tuple[dict[str, Any],
                                                                          dict[str, Any]]:
    instance = api.create_instance(f"Dir {uuid.uuid4().hex[:6]}", "generic-rest",
                                   generic_rest_config(url))
    body = {"instance_id": instance["id"], "schedule_type": "interval",
            "interval_minutes": 60, **schedule}
    resp = api.post("/schedules", body)
    assert resp.status_code == 201, resp.text
    return instance, resp.json()


def _instance_row(session: Session, instance: dict[str, Any]) -> IntegrationInstance:
    row = session.get(IntegrationInstance, uuid.UUID(instance["id"]))
    assert row is not None
    return row


def _set_slot(api: Api, schedule_id: str, slot: dt.datetime) -> None:
    with make_session_factory(api.engine)() as session:
        session.execute(update(SyncSchedule).where(SyncSchedule.id == uuid.UUID(schedule_id))
                        .values(next_execution=slot))
        session.commit()


def _schedule_due_a_minute_ago(api: Api) -> tuple[dict[str, Any], dt.datetime]:
    """A schedule of a new instance whose slot came due a minute ago, and that slot."""
    with serve_source(Source(5)) as url:
        _, schedule = _instance_with_schedule(api, url)
    slot = utcnow().replace(microsecond=0) - dt.timedelta(minutes=1)
    _set_slot(api, schedule["id"], slot)
    return schedule, slot


def test_racing_agents_claim_a_slot_exactly_once(api: Api) -> None:
    schedule, slot = _schedule_due_a_minute_ago(api)
    factory = make_session_factory(api.engine)
    results: list[SlotClaim] = []
    barrier = threading.Barrier(6)

    def agent(n: int) -> None:
        barrier.wait()
        with factory() as session:
            results.append(claim_slot(session, uuid.UUID(schedule["id"]), slot, f"agent-{n}",
                                      utcnow(), LEASE))

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.claimed for r in results) == 1
    assert {r.reason for r in results if not r.claimed} <= {"taken", "stale"}
    winner = next(r for r in results if r.claimed)
    assert winner.reason == "started"
    assert count(api, ScheduleSlot) == 1
    assert count(api, SyncExecution) == 1
    assert winner.next_slot is not None
    assert winner.next_slot > utcnow()


def test_a_started_claim_leaves_the_audit_chain_alone(api: Api) -> None:
    """Slot bookkeeping is no configuration change: the claim neither takes the audit chain's
    one-row lock (every agent's claims would queue on it) nor writes a revision."""
    schedule, slot = _schedule_due_a_minute_ago(api)
    factory = make_session_factory(api.engine)
    with factory() as session:
        head = session.execute(select(AuditChainHead.seq, AuditChainHead.updated_at)).one()
        revisions = session.scalar(select(func.count()).select_from(ConfigRevision))
    with factory() as session:
        claim = claim_slot(session, uuid.UUID(schedule["id"]), slot, "a", utcnow(), LEASE)
    assert (claim.claimed, claim.reason) == (True, "started")
    with factory() as session:
        assert session.execute(select(AuditChainHead.seq, AuditChainHead.updated_at)
                               ).one() == head
        assert session.scalar(select(func.count()).select_from(ConfigRevision)) == revisions
        row = session.get(SyncSchedule, uuid.UUID(schedule["id"]))
        assert row is not None
        assert row.next_execution == claim.next_slot
        assert row.last_execution is not None
        slot_row = session.scalars(select(ScheduleSlot)).one()
        assert (slot_row.outcome.value, slot_row.execution_id) == ("started",
                                                                   claim.execution_id)


def test_busy_instance_skips_the_slot_and_logs_it(api: Api) -> None:
    with serve_source(Source(5)) as url:
        instance, schedule = _instance_with_schedule(api, url)
    factory = make_session_factory(api.engine)
    with factory() as session:
        row = _instance_row(session, instance)
        create_execution(session, row, TriggerType.MANUAL)  # pending, never started
        session.commit()
    slot = utcnow().replace(microsecond=0)
    _set_slot(api, schedule["id"], slot)
    with factory() as session:
        claim = claim_slot(session, uuid.UUID(schedule["id"]), slot, "a", utcnow(), LEASE)
    assert (claim.claimed, claim.reason, claim.execution_id) == (True, "skipped_active", None)
    log = api.get(f"/logs/{instance['id']}", params={"operation": "schedule.skip"}).json()
    assert "still running" in log["items"][0]["message"]


def test_scheduler_runs_a_missed_slot_once_and_follows_api_changes(api: Api) -> None:
    scheduler: SchedulerService = api.client.app.state.scheduler  # type: ignore[attr-defined]
    with serve_source(Source(25)) as url:
        instance, schedule = _instance_with_schedule(api, url, jitter_seconds=0)
        sid = uuid.UUID(schedule["id"])
        planned = wait_for(lambda: scheduler.planned().get(sid))
        assert abs((planned - dt.datetime.fromisoformat(schedule["next_execution"]))
                   .total_seconds()) < 1
        # The agent was "down" for three hours of an hourly schedule: one run, not three.
        _set_slot(api, schedule["id"], utcnow() - dt.timedelta(hours=3))
        scheduler.schedule_changed(sid)
        runs = wait_for(lambda: api.get("/sync-executions", params={
            "instance_id": instance["id"]}).json()["items"])
        api.wait(runs[0]["id"])
        after = api.get(f"/schedules/{schedule['id']}").json()
        assert runs[0]["trigger_type"] == "scheduled"
        assert runs[0]["schedule_id"] == schedule["id"]
        assert dt.datetime.fromisoformat(after["next_execution"]) > utcnow()
        assert after["last_execution"] is not None
        assert len(api.get("/sync-executions", params={
            "instance_id": instance["id"]}).json()["items"]) == 1

        # Pause: the timer goes at once; resume: it comes back.
        assert api.put(f"/schedules/{schedule['id']}", {"is_active": False}).status_code == 200
        wait_for(lambda: sid not in scheduler.planned())
        api.put(f"/schedules/{schedule['id']}", {"is_active": True, "interval_minutes": 5,
                                                 "jitter_seconds": 20})
        slot = wait_for(lambda: scheduler.planned().get(sid))
        assert slot - utcnow() <= dt.timedelta(minutes=5)
        assert api.get(f"/schedules/{schedule['id']}").json()["jitter_seconds"] == 20


def test_schedule_rows_changed_elsewhere_are_picked_up_by_refresh(
        engine: Engine, db_url: str, tmp_path: Path) -> None:
    """Another agent's API changed the row: the periodic refresh re-plans it. The refresh runs
    every heartbeat (at least 1 s): at 1 s here, not the default 5 s the wait used to take."""
    api = api_for(load_settings(database_url=db_url, data_dir=tmp_path / "data",
                                agent_heartbeat_seconds=1), engine)
    with api.client:
        _changed_elsewhere_is_refreshed(api)


def _changed_elsewhere_is_refreshed(api: Api) -> None:
    scheduler: SchedulerService = api.client.app.state.scheduler  # type: ignore[attr-defined]
    assert scheduler.refresh_seconds == 1
    with serve_source(Source(3)) as url:
        instance, schedule = _instance_with_schedule(api, url)
        sid = uuid.UUID(schedule["id"])
        wait_for(lambda: scheduler.planned().get(sid))
        soon = utcnow().replace(microsecond=0) + dt.timedelta(seconds=1)
        _set_slot(api, schedule["id"], soon)  # no notification: only the refresh sees it
        runs = wait_for(lambda: api.get("/sync-executions", params={
            "instance_id": instance["id"]}).json()["items"], timeout=20)
        api.wait(runs[0]["id"])
    assert runs[0]["options"]["slot"] == soon.isoformat()


def test_a_fresh_claim_starts_with_the_same_event_and_no_second_claim(api: Api) -> None:
    """The start gate of a sync the scheduler just claimed writes the ``sync.started`` event
    the claim prepared (the payload the full gate reads from the rows) and nothing else; a
    claim older than half a lease goes through the full gate, which refuses an execution
    another agent took over."""
    schedule, slot = _schedule_due_a_minute_ago(api)
    factory = make_session_factory(api.engine)
    with factory() as session:
        claim = claim_slot(session, uuid.UUID(schedule["id"]), slot, "a", utcnow(), LEASE)
    assert claim.execution_id is not None
    assert claim.started_event is not None
    fresh = FreshClaims()
    fresh.add(claim.execution_id, claim.started_event)
    with factory() as session:
        lease_before = session.get(SyncExecution, claim.execution_id).lease_expires_at  # type: ignore[union-attr]
    assert gate_for(factory, "a", LEASE, fresh)(claim.execution_id)
    with factory() as session:
        events = session.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type == "sync.started")).all()
        execution = session.get(SyncExecution, claim.execution_id)
        assert execution is not None
        instance = session.get(IntegrationInstance, execution.instance_id)
        expected = sync_data(execution, instance)
    assert execution.lease_expires_at == lease_before  # no claim: nothing else written
    assert [e.payload for e in events] == [{**expected, "status": "running"}]

    # Stale (older than half the gate's lease, here 0 s): the full gate, which sees the
    # execution owned by agent "b" under a live lease and refuses it.
    with factory() as session:
        session.execute(update(SyncExecution).where(SyncExecution.id == claim.execution_id)
                        .values(agent_id="b", lease_expires_at=utcnow() + LEASE))
        session.commit()
    fresh.add(claim.execution_id, claim.started_event)
    assert not gate_for(factory, "a", dt.timedelta(0), fresh)(claim.execution_id)
    assert fresh.take(claim.execution_id, 60.0) is None  # the entry was used up


def test_a_claimed_slot_starts_without_the_gate_and_writes_one_started_event(
        api: Api) -> None:
    """A sync this agent's scheduler just claimed is owned already: it starts without the start
    gate (no thread-pool trip, no transaction of its own), and its ``sync.started`` event, the
    payload the claim prepared, is written once, by the sync's first transaction."""
    app: Any = api.client.app
    manager = app.state.sync_manager
    gate = manager.start_gate
    assert gate is not None
    assert manager.fresh_start is not None
    gated: list[uuid.UUID] = []

    def counting_gate(execution_id: uuid.UUID) -> bool:
        gated.append(execution_id)
        return bool(gate(execution_id))

    manager.start_gate = counting_gate
    try:
        with serve_source(Source(5)) as url:
            instance, schedule = _instance_with_schedule(api, url, jitter_seconds=0)
            _set_slot(api, schedule["id"], utcnow().replace(microsecond=0))
            app.state.scheduler.schedule_changed(uuid.UUID(schedule["id"]))
            runs = wait_for(lambda: api.get("/sync-executions", params={
                "instance_id": instance["id"]}).json()["items"])
            assert api.wait(runs[0]["id"])["status"] == "completed"
    finally:
        manager.start_gate = gate
    assert gated == []
    with make_session_factory(api.engine)() as session:
        events = session.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type == "sync.started")).all()
        execution = session.get(SyncExecution, uuid.UUID(runs[0]["id"]))
        assert execution is not None
        instance_row = session.get(IntegrationInstance, execution.instance_id)
        expected = {**sync_data(execution, instance_row), "status": "running",
                    "ended_at": None, "stats": {}, "error": None}
    assert len(events) == 1
    payload = dict(events[0].payload)
    # The claim's payload: the execution as created (its start time then, not the begin's).
    assert dt.datetime.fromisoformat(payload.pop("started_at")) <= execution.start_time
    expected.pop("started_at")
    assert payload == expected


def test_create_execution_returns_the_row_it_inserted_as_a_persistent_object(
        api: Api) -> None:
    """The execution goes in by a plain INSERT; the object handed back is that row, in the
    session: read back equal, and a change to it is written at the next flush (the event
    worker sets its owner this way)."""
    with serve_source(Source(5)) as url:
        instance, _ = _instance_with_schedule(api, url)
    factory = make_session_factory(api.engine)
    with factory() as session:
        row = _instance_row(session, instance)
        execution = create_execution(session, row, TriggerType.MANUAL, options={"x": 1})
        assert execution in session
        execution.agent_id = "worker"
        session.commit()
    with factory() as session:
        stored = session.get(SyncExecution, execution.id)
        assert stored is not None
        assert (stored.status.value, stored.trigger_type, stored.options, stored.stats,
                stored.agent_id, stored.cancel_requested) == (
            "pending", TriggerType.MANUAL, {"x": 1}, {}, "worker", False)
        assert stored.start_time == execution.start_time
        assert stored.created_at == execution.created_at
