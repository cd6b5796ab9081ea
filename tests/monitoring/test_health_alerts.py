"""Health scores and reasons, alert conditions that need no failing sync (hung, stale,
expiring credentials, version incompatibility), the breaker's hold on scheduled syncs, and
tasks pushed to Jira."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import event, select

from connectors.sandbox import jira as jira_sim
from connectors.sandbox.server import serve
from server.db.engine import make_session_factory
from server.db.models import (
    AuthenticationConfig,
    BreakerState,
    IntegrationConnector,
    IntegrationInstance,
    SyncExecution,
    SyncStatus,
    SystemType,
    TriggerType,
)
from server.db.types import utcnow
from server.monitoring import recovery
from server.monitoring.config import MonitoringConfig
from server.sync.manager import create_execution
from server.sync.runtime import execution_for_sync
from tests.monitoring.conftest import active_alerts, make_instance
from tests.monitoring.faulty_source import FaultySource, serve_faulty
from tests.support.api import Api
from tests.support.record_source import IDENTITY_MAPPING, Source, generic_rest_config, serve_source


def _session(api: Api) -> Any:
    return make_session_factory(api.engine)()


def _revoked_instance(api: Api, url: str) -> dict[str, Any]:
    """An instance whose token the source refuses: its first sync opens the breaker."""
    credential = api.post("/auth-configs", {"name": "stale-token", "auth_type": "bearer",
                                            "credentials": {"token": "revoked"}}).json()
    instance = make_instance(api, url, auth_config_id=credential["id"])
    assert api.sync(instance["id"], timeout=60)["status"] == "failed"
    return instance


def test_health_detail_needs_a_token_and_explains_the_score(mon: Api) -> None:
    with serve_faulty(FaultySource(40)) as url:
        instance = make_instance(mon, url, name="Payroll HR")
        assert mon.sync(instance["id"], timeout=60)["status"] == "completed"
    anonymous = mon.client.get("/api/integration/health")
    assert anonymous.status_code == 200
    body = anonymous.json()
    assert body["instance_health"] is None
    assert "Payroll" not in anonymous.text
    assert body["scheduler"]["status"] == "healthy"
    assert body["database"]["status"] == "healthy"

    detail = mon.get("/health").json()
    mine = next(i for i in detail["instance_health"] if i["name"] == "Payroll HR")
    assert (mine["health"], mine["score"]) == ("healthy", 100)
    assert mine["reason"].startswith("last sync completed")
    assert set(mine["components"]) == {"success", "freshness", "latency", "throttling",
                                       "credentials"}
    connector = next(c for c in detail["connector_health"] if c["connector"] == "generic-rest")
    assert connector["score"] == 100

    # A credential that expires in 3 of the 14 warning days costs 15 * (1 - 3/14) points.
    credential = mon.post("/auth-configs", {"name": "hr-token", "auth_type": "bearer",
                                            "credentials": {"token": "t0k3n-value"}}).json()
    with _session(mon) as session:
        row = session.get(IntegrationInstance, uuid.UUID(instance["id"]))
        row.auth_config_id = uuid.UUID(credential["id"])
        cred = session.get(AuthenticationConfig, uuid.UUID(credential["id"]))
        cred.expiration = utcnow() + dt.timedelta(days=3, hours=1)
        session.commit()
    mine = next(i for i in mon.get("/health").json()["instance_health"]
                if i["name"] == "Payroll HR")
    assert mine["score"] == 100 - round(15 * (1 - (3 + 1 / 24) / 14))
    assert "credential 'hr-token' expires in" in mine["reason"]
    assert "t0k3n-value" not in mon.get("/health").text
    raised = mon.post("/alerts/evaluate").json()["raised"]
    assert [(a["kind"], a["severity"]) for a in raised] == [("credential_expiring", "warning")]
    assert raised[0]["details"]["days_left"] == 3


def test_hung_stale_and_incompatible_version_alerts_raise_and_resolve(mon: Api) -> None:
    with serve_faulty(FaultySource(10)) as url:
        instance = make_instance(mon, url, name="Ticketing")
    iid = uuid.UUID(instance["id"])
    schedule = mon.post("/schedules", {"instance_id": instance["id"],
                                       "schedule_type": "interval", "interval_minutes": 60})
    assert schedule.status_code == 201, schedule.text
    now = utcnow()
    with _session(mon) as session:
        for hours_ago in (7, 6, 5):  # three completed syncs of one minute each, 5 h ago last
            start = now - dt.timedelta(hours=hours_ago)
            session.add(SyncExecution(
                id=uuid.uuid4(), instance_id=iid, trigger_type=TriggerType.SCHEDULED,
                status=SyncStatus.COMPLETED, start_time=start,
                end_time=start + dt.timedelta(minutes=1), stats={}))
        running = SyncExecution(  # owned by another agent with a live lease: left alone
            id=uuid.uuid4(), instance_id=iid, trigger_type=TriggerType.SCHEDULED,
            status=SyncStatus.RUNNING, start_time=now - dt.timedelta(minutes=20), stats={},
            agent_id="another-agent", lease_expires_at=now + dt.timedelta(hours=1))
        session.add(running)
        row = session.get(IntegrationInstance, iid)
        row.version_compatibility = ">=2.0"
        session.commit()
        running_id = running.id
    raised = {a["kind"]: a for a in mon.post("/alerts/evaluate").json()["raised"]}
    assert set(raised) == {"sync_hung", "instance_stale", "version_incompatible"}
    assert "usually 60 s" in raised["sync_hung"]["message"]
    assert "should sync every 60 min" in raised["instance_stale"]["message"]
    assert "generic-rest 1.0.0" in raised["version_incompatible"]["message"]
    health = next(i for i in mon.get("/health").json()["instance_health"]
                  if i["name"] == "Ticketing")
    assert health["components"]["freshness"] == 0.0
    assert "no successful sync for 4 h" in health["reason"]  # 4 h 59 min

    with _session(mon) as session:
        execution = session.get(SyncExecution, running_id)
        execution.status, execution.end_time = SyncStatus.COMPLETED, utcnow()
        session.get(IntegrationInstance, iid).version_compatibility = ">=1.0,<2"
        session.commit()
    resolved = {a["kind"] for a in mon.post("/alerts/evaluate").json()["resolved"]}
    assert resolved == {"sync_hung", "instance_stale", "version_incompatible"}
    assert active_alerts(mon, instance["id"]) == {}
    listed = mon.all("/alerts", instance_id=instance["id"], status="resolved")
    assert {a["kind"] for a in listed} == resolved
    assert all(a["resolved_at"] for a in listed)


def test_an_open_breaker_holds_scheduled_syncs_until_activation(mon: Api) -> None:
    source = FaultySource(10, token="current")
    with serve_faulty(source) as url:
        instance = _revoked_instance(mon, url)
        engine = mon.client.app.state.sync_manager.engine  # type: ignore[attr-defined]

        def scheduled() -> Any:
            with _session(mon) as session:
                row = session.get(IntegrationInstance, uuid.UUID(instance["id"]))
                execution = create_execution(session, row, TriggerType.SCHEDULED)
                session.commit()
                execution_id = execution.id
            status = mon.client.portal.call(engine.run, execution_id)  # type: ignore[union-attr]
            return status, mon.get(f"/sync-executions/{execution_id}").json()

        seen = len(source.seen)
        status, execution = scheduled()
        assert status == SyncStatus.CANCELLED
        assert "circuit breaker is open until an administrator activates" in \
            execution["error_details"]["message"]
        assert len(source.seen) == seen  # the remote system was not called
        assert mon.post(f"/instances/{instance['id']}/activate").status_code == 200
        status, execution = scheduled()
    assert status == SyncStatus.FAILED  # it ran (the token is still wrong)
    assert execution["error_details"]["category"] == "auth"


def test_a_task_is_pushed_to_jira_once(mon: Api) -> None:
    sim = jira_sim.JiraSimulator(deployment="cloud")
    with serve_faulty(FaultySource(10, token="current")) as url, serve(sim) as running:
        instance = _revoked_instance(mon, url)
        cred = mon.post("/auth-configs", {"name": "jira bot", "auth_type": "basic",
                                          "credentials": {"username": jira_sim.DEFAULT_EMAIL,
                                                          "password": jira_sim.DEFAULT_API_TOKEN}
                                          }).json()
        jira = mon.create_instance("Jira", "jira", {"base_url": running.url},
                                   auth_config_id=cred["id"])
        task = mon.all("/tasks", instance_id=instance["id"], status="open")[0]
        before = len(sim.issues)
        push = {"instance_id": jira["id"], "input": {"project_key": "SEC"}}
        first = mon.post(f"/tasks/{task['id']}/push", push)
        assert first.status_code == 200, first.text
        again = mon.post(f"/tasks/{task['id']}/push", push)
        assert again.status_code == 200, again.text
        wrong = mon.post(f"/tasks/{task['id']}/push", {**push, "action": "launch_rocket"})
    assert len(sim.issues) == before + 1
    issue = next(i for i in sim.issues.values() if i["summary"].startswith("[SimpleTrust]"))
    assert issue["summary"] == "[SimpleTrust] Credentials refused: Directory API"
    ref = again.json()["external_ref"]
    assert ref["replayed"] is True
    assert ref["result"]["key"] == first.json()["external_ref"]["result"]["key"]
    assert again.json()["external_instance_id"] == jira["id"]
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "action"
    closed = mon.post(f"/tasks/{task['id']}/resolve", {"resolution": "token rotated"})
    assert closed.json()["status"] == "resolved"
    with _session(mon) as session:
        assert session.scalar(select(SyncExecution.id).where(
            SyncExecution.status == SyncStatus.RUNNING)) is None


def test_a_sync_with_record_errors_leaves_the_instance_degraded(api: Api) -> None:
    with serve_source(Source(10, broken={2, 5})) as url:
        instance = api.create_instance("HR export", "generic-rest", generic_rest_config(url))
        assert api.post("/mappings", {"instance_id": instance["id"],
                                      **IDENTITY_MAPPING}).status_code == 201
        run = api.sync(instance["id"], timeout=60)
    assert (run["status"], run["error_count"]) == ("completed", 2)
    mine = next(i for i in api.get("/health").json()["instance_health"]
                if i["name"] == "HR export")
    assert mine["score"] >= 80  # every sync completed: the score alone would say healthy
    assert mine["health"] == "degraded"
    assert "2 record error(s)" in mine["reason"]


def test_a_breaker_read_with_the_instance_is_not_read_again_and_a_new_one_is_seen(
        engine: Any) -> None:
    """A sync reads the instance's breaker row with the instance (none: noted as none);
    breaker_of then asks no query, and sees the breaker open_breaker adds."""
    factory = make_session_factory(engine)
    with factory() as session:
        connector = IntegrationConnector(id=uuid.uuid4(), key=f"c{uuid.uuid4().hex[:6]}",
                                         name="C", version="1", system_type=SystemType.GENERIC)
        row = IntegrationInstance(id=uuid.uuid4(), name=f"I{uuid.uuid4().hex[:6]}",
                                  connector_id=connector.id)
        session.add_all([connector, row])
        execution_id = create_execution(session, row, TriggerType.MANUAL).id
        session.commit()
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    with factory() as session:
        found = execution_for_sync(session, execution_id)
        assert found is not None
        _, instance = found
        assert instance.connector.key == connector.key
        read = len(statements)
        assert recovery.breaker_of(session, row.id) is None
        assert len(statements) == read  # known to be absent: no query
        recovery.open_breaker(session, instance, {"category": "transient", "message": "x"},
                              1, MonitoringConfig(), utcnow())
        breaker = recovery.breaker_of(session, row.id)
        assert breaker is not None
        assert breaker.state == BreakerState.OPEN
        session.commit()
    with factory() as session:
        found = execution_for_sync(session, execution_id)
        assert found is not None
        breaker = recovery.breaker_of(session, row.id)
        assert breaker is not None
        assert breaker.state == BreakerState.OPEN
