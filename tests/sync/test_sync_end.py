"""A sync's last batch ends the sync in its own transaction (issue 6: 200 syncs ending
together were two transactions each): the same end as before, written at once with the
records, and a cancel asked for during the sync still ends it cancelled."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update

from server.db.engine import make_session_factory
from server.db.models import (
    IntegrationInstance,
    IntegrationLog,
    MetricSample,
    OutboxEvent,
    SyncExecution,
    SyncSeenKey,
    SyncStatus,
    TriggerType,
)
from server.sync import lifecycle
from server.sync.manager import SyncManager, create_execution
from tests.support.api import Api
from tests.support.record_source import (
    IDENTITY_MAPPING,
    Source,
    generic_rest_config,
    serve_source,
)


def _instance(api: Api, url: str) -> dict[str, Any]:
    instance = api.create_instance(f"Directory {uuid.uuid4().hex[:6]}", "generic-rest",
                                   generic_rest_config(url, page=10))
    resp = api.post("/mappings", {"instance_id": instance["id"], **IDENTITY_MAPPING})
    assert resp.status_code == 201, resp.text
    return instance


def test_the_last_batch_ends_the_sync_with_its_records(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    ends: list[str] = []  # how each sync ended: in its last batch, or alone after it
    alone, in_batch, together = lifecycle.finish, lifecycle.finish_in, lifecycle.complete_many

    def finish(*args: Any, **kw: Any) -> None:
        ends.append("alone")
        alone(*args, **kw)

    monkeypatch.setattr(lifecycle, "finish", finish)

    def finish_in(*args: Any, **kw: Any) -> None:
        ends.append("in its last batch")
        in_batch(*args, **kw)

    monkeypatch.setattr(lifecycle, "finish_in", finish_in)

    def complete_many(engine: Any, session: Any, ended: list[Any], values: Any) -> None:
        ends.extend(["in its last batch"] * len(ended))  # (with others ending then)
        together(engine, session, ended, values)

    monkeypatch.setattr(lifecycle, "complete_many", complete_many)
    with serve_source(Source(35)) as url:
        instance = _instance(api, url)
        first = api.sync(instance["id"])
        again = api.sync(instance["id"])  # unchanged records: seen-key notes, then dropped
    assert ends == ["in its last batch"] * 2
    assert first["status"] == "completed", first["error_details"]
    assert (first["stats"]["created"], first["records_processed"]) == (35, 35)
    assert (again["stats"]["unchanged"], again["stats"]["created"]) == (35, 0)
    assert again["end_time"] is not None
    factory = make_session_factory(api.engine)
    with factory() as session:
        for run in (first, again):
            sync_id = uuid.UUID(run["id"])
            done = session.scalars(select(IntegrationLog.message).where(
                IntegrationLog.sync_id == sync_id,
                IntegrationLog.operation == "sync.completed")).all()
            assert done == [f"sync completed: {run['stats']['created']} created, 0 updated, "
                            f"{run['stats']['unchanged']} unchanged, 0 deleted, 0 failed"]
            events = session.scalars(select(OutboxEvent.event_type).where(
                OutboxEvent.dedupe_key == f"sync.finished:{sync_id}")).all()
            assert events == ["sync.completed"]
            # The request samples and the sync's own sample, one of each kind per sync.
            kinds = dict(session.execute(
                select(MetricSample.kind, func.count()).where(MetricSample.sync_id == sync_id)
                .group_by(MetricSample.kind)).all())
            assert kinds.get("sync") == 1
            assert kinds.get("request") == 4  # 35 records, 10 a page
        assert session.scalar(select(func.count()).select_from(SyncSeenKey)) == 0
    assert api.get("/audit/verify").json()["ok"] is True


def test_a_cancel_asked_for_during_the_sync_still_ends_it_cancelled(api: Api) -> None:
    """The cancel is read where the last batch locks the execution: the batch is kept, the
    sync ends cancelled, not completed."""
    manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
    factory = make_session_factory(api.engine)
    with serve_source(Source(25)) as url:
        instance = _instance(api, url)
        with factory() as session:
            row = session.get(IntegrationInstance, uuid.UUID(instance["id"]))
            assert row is not None
            execution = create_execution(session, row, TriggerType.MANUAL)
            execution_id = execution.id
            session.execute(update(SyncExecution).where(SyncExecution.id == execution_id)
                            .values(cancel_requested=True))
            session.commit()
        status = asyncio.run(manager.engine.run(execution_id))
    assert status == SyncStatus.CANCELLED
    with factory() as session:
        ended = session.get(SyncExecution, execution_id)
        assert ended is not None
        assert (ended.status, ended.stats["created"]) == (SyncStatus.CANCELLED, 25)
        assert ended.end_time is not None
        logs = session.scalars(select(IntegrationLog.operation).where(
            IntegrationLog.sync_id == execution_id)).all()
        assert "sync.cancelled" in logs
        assert "sync.completed" not in logs
