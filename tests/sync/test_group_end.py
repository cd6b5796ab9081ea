"""Syncs ending at the same time have their last batches written in one transaction
(server.sync.ending, issue 6): each ends exactly as it would alone; one asked to stop is
written alone and ends cancelled; a group that fails is written again one batch at a time,
with nothing lost or written twice."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db.engine import make_session_factory
from server.db.models import (
    EvidenceRecord,
    IntegrationInstance,
    IntegrationLog,
    MetricSample,
    OutboxEvent,
    StreamState,
    SyncExecution,
    SyncStatus,
    TriggerType,
)
from server.sync import ending, lifecycle
from server.sync.manager import SyncManager, create_execution
from tests.support.api import Api
from tests.support.record_source import (
    IDENTITY_MAPPING,
    Source,
    generic_rest_config,
    serve_source,
)

#: Records of each sync's source (10 a page): different sizes, different counts to check.
SIZES = (5, 12, 25, 31)


@contextmanager
def held_first_group(monkeypatch: pytest.MonkeyPatch, manager: SyncManager,
                     waiting: int) -> Iterator[list[int]]:
    """One writer at a time, the first holding its group until ``waiting`` more last
    batches wait behind it: they then go together. Yields the groups' sizes."""
    sizes: list[int] = []
    write_group = ending.write_group

    def holding(engine: Any, endings: list[ending.Ending]) -> list[bool | None]:
        if not sizes:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                    manager.engine._end_queue is None
                    or manager.engine._end_queue.waiting < waiting):
                time.sleep(0.01)
        sizes.append(len(endings))
        return write_group(engine, endings)

    monkeypatch.setattr(ending, "AT_ONCE", 1)
    monkeypatch.setattr(ending, "write_group", holding)
    yield sizes


def _run_together(api: Api, urls: dict[int, str], *, cancel: int | None = None
                  ) -> list[tuple[uuid.UUID, uuid.UUID, int]]:
    """A sync of each of ``len(SIZES)`` new instances, run at once; (instance, execution,
    records) of each. ``cancel``: the index of a sync asked to stop before it starts."""
    manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
    factory = make_session_factory(api.engine)
    runs = []
    for n, size in enumerate(SIZES):
        config = generic_rest_config(urls[size], page=10)
        instance = api.create_instance(f"Directory {uuid.uuid4().hex[:6]}", "generic-rest",
                                       config)
        resp = api.post("/mappings", {"instance_id": instance["id"], **IDENTITY_MAPPING})
        assert resp.status_code == 201, resp.text
        with factory() as session:
            row = session.get(IntegrationInstance, uuid.UUID(instance["id"]))
            assert row is not None
            execution = create_execution(session, row, TriggerType.MANUAL)
            if n == cancel:
                execution.cancel_requested = True
            session.commit()
            runs.append((row.id, execution.id, size))

    async def all_of_them() -> list[SyncStatus]:
        return list(await asyncio.gather(*(manager.engine.run(e) for _, e, _ in runs)))

    statuses = asyncio.run(all_of_them())
    expected = [SyncStatus.CANCELLED if n == cancel else SyncStatus.COMPLETED
                for n in range(len(SIZES))]
    assert statuses == expected
    return runs


@contextmanager
def sized_sources() -> Iterator[dict[int, str]]:
    """A source of each size, each on its own loopback server: size -> base URL."""
    with ExitStack() as stack:
        yield {size: stack.enter_context(serve_source(Source(size))) for size in SIZES}


def _check_ended(api: Api, runs: list[tuple[uuid.UUID, uuid.UUID, int]],
                 *, cancelled: frozenset[uuid.UUID] = frozenset()) -> None:
    """Each sync ended as it would alone: its row, records, checkpoint, log, events and
    samples, once each."""
    factory = make_session_factory(api.engine)
    with factory() as session:
        for instance_id, execution_id, size in runs:
            execution = session.get(SyncExecution, execution_id)
            assert execution is not None
            status = "cancelled" if execution_id in cancelled else "completed"
            assert execution.status.value == status
            assert execution.end_time is not None
            assert execution.lease_expires_at is None
            assert (execution.stats["created"], execution.records_processed,
                    execution.success_count, execution.error_count) == (size, size, size, 0)
            assert execution.stats["streams"]["users"]["done"] is True
            assert session.scalar(select(func.count()).select_from(EvidenceRecord).where(
                EvidenceRecord.instance_id == instance_id)) == size
            state = session.get(StreamState, (instance_id, "users"))
            assert state is not None
            assert state.sync_id == execution_id
            logs = session.scalars(select(IntegrationLog.message).where(
                IntegrationLog.sync_id == execution_id,
                IntegrationLog.operation == f"sync.{status}")).all()
            assert logs == [f"sync {status}: {size} created, 0 updated, 0 unchanged, "
                            "0 deleted, 0 failed"]
            events = sorted(session.scalars(select(OutboxEvent.event_type).where(
                OutboxEvent.instance_id == instance_id,
                OutboxEvent.event_type.like("record.%")
                | OutboxEvent.event_type.like("sync.%ed"),
                OutboxEvent.event_type != "sync.started")).all())
            if status == "completed":
                assert events == ["record.created", "sync.completed"]
                instance = session.get(IntegrationInstance, instance_id)
                assert instance is not None
                assert instance.last_connected is not None
            kinds = dict(session.execute(
                select(MetricSample.kind, func.count())
                .where(MetricSample.sync_id == execution_id)
                .group_by(MetricSample.kind)).all())
            assert kinds.get("request") == size // 10 + 1
            assert kinds.get("sync") == (1 if status == "completed" else None)
    assert api.get("/audit/verify").json()["ok"] is True


def test_syncs_ending_together_are_ended_in_one_transaction(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
    with sized_sources() as urls, held_first_group(monkeypatch, manager, 3) as sizes:
        runs = _run_together(api, urls)
    assert sizes == [1, 3]
    _check_ended(api, runs)


def test_a_sync_asked_to_stop_is_written_alone_and_ends_cancelled(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
    alone: list[uuid.UUID] = []
    write_ending = manager.engine._write_ending

    def spy(one: ending.Ending) -> bool:
        alone.append(one.execution_id)
        return write_ending(one)

    monkeypatch.setattr(manager.engine, "_write_ending", spy)
    with sized_sources() as urls, held_first_group(monkeypatch, manager, 3):
        runs = _run_together(api, urls, cancel=2)
    assert alone == [runs[2][1]]
    _check_ended(api, runs, cancelled=frozenset({runs[2][1]}))


def test_a_group_that_fails_is_written_one_batch_at_a_time(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The group's transaction fails at its end (after every record went in): rolled back,
    then each batch alone; no record is lost or stored twice."""
    manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
    complete_many = lifecycle.complete_many
    failed = threading.Event()

    def failing(*args: Any, **kw: Any) -> None:
        complete_many(*args, **kw)
        if not failed.is_set() and len(args[2]) > 1:
            failed.set()
            raise RuntimeError("the database went away")

    monkeypatch.setattr(lifecycle, "complete_many", failing)
    with sized_sources() as urls, held_first_group(monkeypatch, manager, 3) as sizes:
        runs = _run_together(api, urls)
    assert failed.is_set()
    assert sizes == [1, 3]
    _check_ended(api, runs)
