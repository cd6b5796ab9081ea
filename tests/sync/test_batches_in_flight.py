"""Two batches in flight on PostgreSQL (one on SQLite): each on its own connection, committing
in the order they were read, a batch after a failed one never committed, a batch that shares a
key with the one in flight written after it, and no lock cycle between the two."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db.engine import make_session_factory
from server.db.models import EvidenceRecord
from server.sync import ending, store
from server.sync import engine as engine_module
from server.sync.engine import SyncEngine
from server.sync.manager import SyncManager
from tests.support.api import Api
from tests.support.record_source import IDENTITY_MAPPING, Source, generic_rest_config, serve_source


class _Watch:
    """Wraps the engine's batch methods: the order batches were handed over and committed in,
    and how many transactions were open at once."""

    def __init__(self, engine: SyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.handed: list[str] = []
        self.committed: list[str] = []
        self.open = self.most = 0
        self.lock = threading.Lock()
        write_next, transaction = engine._write_next, engine._write_transaction

        def watched_next(*args: Any, **kw: Any) -> Any:
            batch: store.Prepared = args[2]
            if batch:
                self.handed.append(min(batch))
            return write_next(*args, **kw)

        def watched_transaction(*args: Any, **kw: Any) -> Any:
            batch: store.Prepared = args[2]
            with self.lock:
                self.open += 1
                self.most = max(self.most, self.open)
            try:
                result = transaction(*args, **kw)
                if batch:
                    with self.lock:
                        self.committed.append(min(batch))
                return result
            finally:
                with self.lock:
                    self.open -= 1

        monkeypatch.setattr(engine, "_write_next", watched_next)
        monkeypatch.setattr(engine, "_write_transaction", watched_transaction)
        write_group = ending.write_group

        def watched_group(engine: SyncEngine, endings: list[ending.Ending]
                          ) -> list[bool | None]:
            # A sync's last batch, written with those of syncs ending at the same time.
            outcomes = write_group(engine, endings)
            with self.lock:
                self.committed += [min(e.batch) for e, outcome in zip(endings, outcomes,
                                                                       strict=True)
                                   if e.batch and outcome is not None]
            return outcomes

        monkeypatch.setattr(ending, "write_group", watched_group)


def _engine(api: Api, batch: int) -> SyncEngine:
    manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
    manager.engine.batch_size = batch
    return manager.engine


def _instance(api: Api, url: str, page: int) -> str:
    instance = api.create_instance("in flight", "generic-rest",
                                   generic_rest_config(url, page=page))
    resp = api.post("/mappings", {"instance_id": instance["id"], **IDENTITY_MAPPING})
    assert resp.status_code == 201, resp.text
    return str(instance["id"])


def _stored(api: Api) -> int:
    with make_session_factory(api.engine)() as session:
        return int(session.scalar(select(func.count()).select_from(EvidenceRecord)) or 0)


def test_batches_commit_in_order_two_at_a_time(
        api: Api, backend: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    engine = _engine(api, 20)
    engine.turn_timeout = 5.0  # a lock cycle shows as a batch written again, not a hang
    watch = _Watch(engine, monkeypatch)
    caplog.set_level(logging.WARNING, logger=engine_module.__name__)
    upsert = store.upsert_batch

    def every_other_slow(session: Any, scope: store.Scope, records: Any, **kw: Any
                         ) -> store.Counts:
        # The batch after a slow one writes its request samples (whose foreign key locks the
        # execution row, KEY SHARE) before the slow one locks that row for its counts.
        if records and int(min(records)[1:]) // 20 % 2 == 0:
            time.sleep(0.15)
        return upsert(session, scope, records, **kw)

    monkeypatch.setattr(store, "upsert_batch", every_other_slow)
    with serve_source(Source(400, broken=set(range(5, 400, 15)))) as url:
        execution = api.sync(_instance(api, url, page=20))
    assert execution["status"] == "completed", execution["error_details"]
    assert execution["stats"]["created"] == 400 - 27
    assert execution["error_count"] == 27
    assert _stored(api) == 373
    assert watch.committed == watch.handed  # the order they were read in
    assert len(watch.handed) >= 15
    assert watch.most == (2 if backend == "postgresql" else 1)
    assert not [r for r in caplog.records if "written again" in r.getMessage()]


class _Repeating(Source):
    """Each page starts with the last record of the page before, changed: a key in two
    batches one after the other."""

    def page(self, offset: int, limit: int, since: int | None) -> dict[str, Any]:
        body = super().page(offset, limit, since)
        if offset:
            again = self.record(offset - 1)
            again["title"] = "Repeated"
            body["items"].insert(0, again)
        return body


def test_a_key_in_the_batch_in_flight_is_written_after_it(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-sync whose next batch repeats a key of the batch in flight: its lookup must see
    what that batch wrote, or it would compare with the version before and get it wrong."""
    engine = _engine(api, 10)
    watch = _Watch(engine, monkeypatch)
    upsert = store.upsert_batch

    def slow_before_a_repeat(session: Any, scope: store.Scope, records: Any, **kw: Any
                             ) -> store.Counts:
        # The batch holding a record its next batch repeats is still in flight when that
        # one is handed over.
        if any(key in records and records[key][0]["title"] != "Repeated"
               for key in ("u0000009", "u0000109")):
            time.sleep(0.3)
        return upsert(session, scope, records, **kw)

    monkeypatch.setattr(store, "upsert_batch", slow_before_a_repeat)
    with serve_source(_Repeating(200)) as url:
        instance_id = _instance(api, url, page=10)
        first = api.sync(instance_id)
        second = api.sync(instance_id)
    assert first["status"] == second["status"] == "completed"
    # Items run 10 per batch; page k > 0 holds 11 (its first one repeated from page k - 1),
    # so the repeat and the record it repeats land in two batches for pages 1 and 11 only:
    # u0000009 and u0000109; elsewhere the batch keeps the last of the two.
    assert (first["stats"]["created"], first["stats"]["updated"]) == (200, 2)
    # The re-sync writes the record back, then the repeat again (an update each).
    assert (second["stats"]["created"], second["stats"]["updated"]) == (0, 4)
    assert watch.committed == watch.handed
    assert _stored(api) == 200
    for key, version in (("u0000009", 4), ("u0000109", 4), ("u0000019", 1)):
        row = api.all("/records", entity_type="identity", external_id=key)[0]
        assert (row["data"]["title"], row["version"]) == ("Repeated", version), key


def test_a_batch_after_a_failed_one_is_never_committed(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _engine(api, 10)
    upsert = store.upsert_batch

    def failing(session: Any, scope: store.Scope, records: Any, **kw: Any) -> store.Counts:
        if "u0000050" in records:
            time.sleep(0.3)  # the batch after it is in flight by now (PostgreSQL)
            raise RuntimeError("the database went away")
        return upsert(session, scope, records, **kw)

    monkeypatch.setattr(store, "upsert_batch", failing)
    with serve_source(Source(100)) as url:
        execution = api.sync(_instance(api, url, page=10))
    assert execution["status"] == "failed"
    # Batches 0-4 committed; batch 5 failed; batch 6, written at once, rolled back.
    assert _stored(api) == 50
    assert execution["stats"]["created"] == 50


def test_a_batch_that_waits_too_long_is_written_again_after_the_one_before(
        api: Api, backend: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    if backend != "postgresql":
        pytest.skip("one batch at a time on SQLite")
    engine = _engine(api, 10)
    engine.turn_timeout = 0.05
    watch = _Watch(engine, monkeypatch)
    count = engine._count

    def slow(*args: Any, **kw: Any) -> None:
        time.sleep(0.2)  # the batch before holds its turn longer than the batch after waits
        count(*args, **kw)

    monkeypatch.setattr(engine, "_count", slow)
    caplog.set_level(logging.WARNING, logger=engine_module.__name__)
    with serve_source(Source(60)) as url:
        execution = api.sync(_instance(api, url, page=10))
    assert execution["status"] == "completed", execution["error_details"]
    assert execution["stats"]["created"] == 60
    assert _stored(api) == 60
    assert watch.committed == watch.handed
    assert [r for r in caplog.records if "written again" in r.getMessage()]
