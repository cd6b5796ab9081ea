"""What the trail records, through the agent's API and the sync engine, on both databases;
and one unbroken chain when several agents append at once."""

from __future__ import annotations

import itertools
import threading
import uuid
from typing import Any

from sqlalchemy import Engine, select

from server.audit.evidence import digest_of, recompute
from server.db.engine import make_engine, make_session_factory
from server.db.models import (
    AuditChainHead,
    AuditEntry,
    ConfigRevision,
    EvidenceRecord,
    IntegrationInstance,
    Role,
)
from server.db.types import utcnow
from server.services import activity
from tests.audit.helpers import verify_db
from tests.support.api import Api
from tests.support.record_source import (
    IDENTITY_MAPPING,
    Source,
    generic_rest_config,
    serve_source,
)


def test_several_agents_appending_at_once_keep_one_unbroken_chain(
    engine: Engine, db_url: str
) -> None:
    agents, threads_per_agent, commits = 3, 2, 12
    engines = [engine] + [make_engine(db_url) for _ in range(agents - 1)]
    errors: list[BaseException] = []
    start = threading.Barrier(agents * threads_per_agent)

    def work(eng: Engine, name: str) -> None:
        factory = make_session_factory(eng)
        try:
            start.wait()
            for i in range(commits):
                with factory() as session:
                    activity.record(session, "test.change", f"{name} change {i}",
                                    details={"writer": name, "i": i})
                    session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(eng, f"agent{a}-t{t}"))
               for a, eng in enumerate(engines) for t in range(threads_per_agent)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for eng in engines[1:]:
            eng.dispose()
    assert not errors, errors
    total = agents * threads_per_agent * commits
    with make_session_factory(engine)() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [r.seq for r in rows] == list(range(1, total + 1))
    assert len({r.details for r in rows}) == total  # every commit, none lost or doubled
    result = verify_db(engine, [])
    assert result.ok, result.summary()


def _entries(api: Api, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params = {"limit": 7, "sort": "seq", **params}
    while True:
        page = api.get("/audit", role=Role.AUDITOR, params=params).json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        params["cursor"] = page["next_cursor"]


def test_configuration_changes_are_audited_with_before_and_after_hashes(api: Api) -> None:
    connector = api.add_connector("acme", auth_methods=["bearer"])
    cred = api.post("/auth-configs", {"name": "acme-token", "auth_type": "bearer",
                                      "credentials": {"token": "canary-SECRET-1234"}}).json()
    inst = api.post("/instances", {"name": "Acme", "connector_id": str(connector),
                                   "configuration": {"base_url": "https://acme.test"},
                                   "auth_config_id": cred["id"]}).json()
    api.put(f"/instances/{inst['id']}", {"configuration": {"base_url": "https://b.test"}})
    sched = api.post("/schedules", {"instance_id": inst["id"], "schedule_type": "interval",
                                    "interval_minutes": 60}).json()
    api.put(f"/schedules/{sched['id']}", {"interval_minutes": 30})
    api.delete(f"/schedules/{sched['id']}")

    entries = _entries(api)
    actions = [e["action"] for e in entries]
    assert actions == ["credential.create", "instance.create", "instance.update",
                       "schedule.create", "schedule.update", "schedule.delete"]
    assert {e["actor"] for e in entries} == {"test-admin"}
    revisions = api.get(f"/instances/{inst['id']}/revisions").json()
    create, update = entries[1], entries[2]
    assert create["before_hash"] is None
    assert create["after_hash"] == revisions[0]["content_hash"]
    assert (update["before_hash"], update["after_hash"]) == (
        revisions[0]["content_hash"], revisions[1]["content_hash"])
    assert entries[-1]["after_hash"] is None  # deleted
    assert entries[-1]["before_hash"] is not None
    assert entries[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["entry_hash"] for a, b in itertools.pairwise(entries))
    # Secrets never reach the trail.
    assert "canary-SECRET-1234" not in api.get("/audit/export").text

    # Filters.
    assert [e["action"] for e in _entries(api, action="schedule.*")] == [
        "schedule.create", "schedule.update", "schedule.delete"]
    assert len(_entries(api, object_id=inst["id"])) == 2
    newest = api.get("/audit", role=Role.AUDITOR, params={"limit": 1}).json()["items"]
    assert newest[0]["action"] == "schedule.delete"
    assert api.get("/audit", role=Role.AUDITOR, params={"cursor": "junk"}).status_code == 422

    # Auditors and admins read the trail; operators do not.
    assert api.get("/audit", role=Role.OPERATOR).status_code == 403
    assert api.get("/audit/verify", role=Role.ADMIN).json()["ok"] is True
    assert api.post("/audit/checkpoints", role=Role.AUDITOR).status_code == 403
    signed = api.post("/audit/checkpoints").json()
    assert signed["seq"] == 6
    verified = api.get("/audit/verify", role=Role.AUDITOR).json()
    assert (verified["ok"], verified["checkpoints_verified"]) == (True, 1)
    assert api.post("/audit/checkpoints").json() is None  # nothing new to sign


def test_syncs_and_credential_uses_are_audited_with_what_was_written(api: Api) -> None:
    source = Source(40)
    with serve_source(source) as url:
        cred = api.post("/auth-configs", {"name": "source-token", "auth_type": "bearer",
                                          "credentials": {"token": "t0ken-value"}}).json()
        inst = api.create_instance("Directory", "generic-rest", generic_rest_config(url),
                                   auth_config_id=cred["id"])
        assert api.post("/mappings", {"instance_id": inst["id"],
                                      **IDENTITY_MAPPING}).status_code == 201
        first = api.sync(inst["id"])
        assert first["status"] == "completed", first["error_details"]
        source.changed = {1, 2, 3}
        second = api.sync(inst["id"])
        assert second["stats"]["updated"] == 3

    done = _entries(api, action="sync.completed")
    assert [e["object_id"] for e in done] == [first["id"], second["id"]]
    written = [e["details"]["written"] for e in done]
    assert [w["count"] for w in written] == [40, 3]
    with make_session_factory(api.engine)() as session:
        current = session.scalars(select(EvidenceRecord.content_hash).where(
            EvidenceRecord.last_sync_id == uuid.UUID(second["id"]))).all()
        assert done[1]["after_hash"] == digest_of(list(current)).sha256
        # Recomputable later: the first sync's versions were superseded, its digest holds.
        again = recompute(session, uuid.UUID(first["id"]))
        assert again is not None
        assert (again.count, again.sha256) == (40, done[0]["after_hash"])

    uses = _entries(api, action="credential.use")
    assert len(uses) == 2
    assert {u["object_id"] for u in uses} == {cred["id"]}
    assert uses[0]["details"]["for"] == "sync.start"
    assert uses[0]["details"]["name"] == "source-token"
    assert api.get("/audit/verify", role=Role.AUDITOR).json()["ok"] is True


def test_runtime_state_of_a_tracked_object_takes_no_chain_lock(api: Api) -> None:
    """An instance's last connection time is no configuration: no revision, no entry, and
    the chain's head row is not even locked; a direct configuration edit still is audited."""
    inst = api.create_instance("Directory", "generic-rest", generic_rest_config(
        "http://127.0.0.1:9"))
    factory = make_session_factory(api.engine)

    def head_and_counts() -> tuple[Any, int, int]:
        with factory() as session:
            head = session.execute(select(AuditChainHead.seq, AuditChainHead.updated_at)).one()
            revisions = len(session.scalars(select(ConfigRevision.id)).all())
            return tuple(head), revisions, len(session.scalars(select(AuditEntry.seq)).all())

    before = head_and_counts()
    with factory() as session:
        instance = session.get(IntegrationInstance, uuid.UUID(inst["id"]))
        assert instance is not None
        instance.last_connected = utcnow()
        session.commit()
    assert head_and_counts() == before  # head row untouched: the lock was never taken
    with factory() as session:
        instance = session.get(IntegrationInstance, uuid.UUID(inst["id"]))
        assert instance is not None
        instance.name = "Directory (renamed)"
        session.commit()
    (seq, _), revisions, entries = head_and_counts()
    assert (seq, revisions, entries) == (before[0][0] + 1, before[1] + 1, before[2] + 1)
