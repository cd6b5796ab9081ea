"""The sync engine end to end: a loopback REST source -> Generic REST connector -> mapping ->
evidence store, through the agent's API, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from connectors.sdk.connector import Connector
from connectors.sdk.http import RetryPolicy
from server.monitoring.recovery import RecoveryPolicy
from server.sync.engine import StreamRun, SyncEngine
from server.sync.manager import SyncManager
from tests.support.api import Api
from tests.support.record_source import (
    IDENTITY_MAPPING,
    Source,
    generic_rest_config,
    serve_source,
)


def _setup(api: Api, base_url: str, *, incremental: bool = False, mapping: bool = True,
           page: int = 250) -> dict[str, Any]:
    instance = api.create_instance("Directory API", "generic-rest",
                                   generic_rest_config(base_url, incremental=incremental,
                                                       page=page))
    if mapping:
        resp = api.post("/mappings", {"instance_id": instance["id"], **IDENTITY_MAPPING})
        assert resp.status_code == 201, resp.text
    return instance


def _live(api: Api, instance_id: str) -> dict[str, dict[str, Any]]:
    rows = api.all("/records", instance_id=instance_id, entity_type="identity", deleted=False)
    return {r["external_id"]: r for r in rows}


@pytest.mark.parametrize("size", [
    1200,
    pytest.param(100_000, marks=[pytest.mark.postgres_only, pytest.mark.slow]),
])
def test_full_refresh_counts_changes_and_deletions(api: Api, backend: str, size: int) -> None:
    if size > 10_000 and backend != "postgresql":
        pytest.skip("the 100,000-record acceptance run is for PostgreSQL")
    source = Source(size)
    with serve_source(source) as url:
        instance = _setup(api, url, page=1000)
        first = api.sync(instance["id"], timeout=900)
        assert first["status"] == "completed", first["error_details"]
        assert first["stats"]["created"] == size
        assert first["records_processed"] == size
        assert first["error_count"] == 0
        assert first["mapping_versions"]["users"]["version"] == 1
        if size <= 10_000:
            live = _live(api, instance["id"])
            assert len(live) == size
            assert live["u0000002"]["data"]["display_name"] == "First2 Last2"
            assert live["u0000017"]["data"]["status"] == "disabled"

        # Nothing changed: nothing written.
        again = api.sync(instance["id"], timeout=900)
        assert (again["stats"]["created"], again["stats"]["updated"],
                again["stats"]["unchanged"]) == (0, 0, size)

        # 1% changed, 10 removed: exactly those are written.
        source.changed = set(range(0, size, 100))
        source.removed = {5, 6, 7, 8, 9, 1001, 1002, 1003, 1004, 1005}
        third = api.sync(instance["id"], timeout=900)
        stats = third["stats"]
        changed = len(source.changed - source.removed)
        assert (stats["created"], stats["updated"], stats["deleted"]) == (0, changed, 10)
        assert stats["unchanged"] == size - changed - 10
        if size > 10_000:
            with api.engine.connect() as conn:
                versions = conn.execute(text("select count(*) from evidence_record_versions"))
                assert versions.scalar() == changed + 10  # exactly the rows that changed
            return
        live = _live(api, instance["id"])
        assert len(live) == size - 10
        assert live["u0000100"]["data"]["title"].startswith("Senior")
        deleted = api.all("/records", instance_id=instance["id"], deleted=True)
        assert sorted(r["external_id"] for r in deleted) == sorted(
            f"u{i:07d}" for i in source.removed)

        # A removed record that comes back is restored, with its whole history kept.
        source.removed.discard(5)
        api.sync(instance["id"])
        record = _live(api, instance["id"])["u0000005"]
        history = api.get(f"/records/{record['id']}/history").json()
        assert [v["change"] for v in history] == ["created", "deleted", "restored"]
        assert [v["version"] for v in history] == [1, 2, 3]
        assert record["provenance"]["connector"] == "generic-rest"
        assert record["provenance"]["stream"] == "users"
        assert record["provenance"]["content_hash"] == record["content_hash"]
        assert record["provenance"]["sync_id"] == history[-1]["sync_id"]
        # Every version keeps its full provenance (stored once per written batch).
        for version in history:
            provenance = version["provenance"]
            assert provenance["instance_id"] == instance["id"]
            assert provenance["instance"] == instance["name"]
            assert (provenance["connector"], provenance["stream"]) == ("generic-rest", "users")
            assert {"connector_version", "api_version", "mapping"} <= provenance.keys()
            assert provenance["sync_id"] == version["sync_id"]
            assert provenance["content_hash"] == version["content_hash"]
        assert "fetched_at" in history[0]["provenance"]
        assert "deleted_at" in history[1]["provenance"]
        assert history[0]["changed_fields"] == sorted(history[0]["data"])  # created: all
        assert history[1]["changed_fields"] == []
        assert history[1]["sync_id"] != history[0]["sync_id"]


def test_failed_records_go_to_dead_letters_without_failing_the_sync(api: Api) -> None:
    source = Source(300, broken={10, 20, 30})
    with serve_source(source) as url:
        instance = _setup(api, url)
        execution = api.sync(instance["id"])
    assert execution["status"] == "completed"
    assert execution["error_count"] == 3
    assert execution["success_count"] == 297
    letters = api.all("/dead-letters", sync_id=execution["id"])
    assert sorted(d["raw"]["id"] for d in letters) == ["u0000010", "u0000020", "u0000030"]
    assert letters[0]["errors"][0]["field"] == "email"
    assert "email" in letters[0]["message"]


def test_incremental_reads_only_newer_records(api: Api) -> None:
    source = Source(500)
    with serve_source(source) as url:
        instance = _setup(api, url, incremental=True)
        first = api.sync(instance["id"])
        assert first["stats"]["created"] == 500
        source.changed = {3, 4, 400}
        second = api.sync(instance["id"])
        assert second["stats"]["updated"] == 3
        assert second["records_processed"] == 3  # only the newer records were read
        assert second["stats"]["deleted"] == 0  # incremental syncs never infer deletions


def test_unmapped_streams_are_kept_raw_by_primary_key(api: Api) -> None:
    source = Source(50)
    with serve_source(source) as url:
        instance = _setup(api, url, mapping=False)
        execution = api.sync(instance["id"])
    assert execution["stats"]["created"] == 50
    # One page, one request: a sync does not infer the undeclared schema (which cost a request
    # of its own); discovery through the API still does.
    assert source.requests == 1
    rows = api.all("/records", instance_id=instance["id"], entity_type="generic-rest.users")
    assert len(rows) == 50
    assert rows[0]["data"]["login"].startswith("user")


def test_one_sync_per_instance_and_only_active_instances(api: Api) -> None:
    with serve_source(Source(10)) as url:
        instance = _setup(api, url)
        api.post(f"/instances/{instance['id']}/deactivate")
        resp = api.post(f"/instances/{instance['id']}/sync")
        assert resp.status_code == 409
        api.post(f"/instances/{instance['id']}/activate")
        first = api.post(f"/instances/{instance['id']}/sync")
        second = api.post(f"/instances/{instance['id']}/sync")
        assert first.status_code == 202
        assert second.status_code == 409
        assert second.json()["errors"][0]["message"] == first.json()["id"]
        api.wait(first.json()["id"])


def test_connector_failure_fails_the_sync_with_its_class(api: Api) -> None:
    """Every attempt (the HTTP client's and the engine's) is still made, as many as in
    production; only the waits between them are cut, from ~16 s in all to milliseconds."""
    engine: SyncEngine = api.client.app.state.sync_manager.engine  # type: ignore[attr-defined]
    engine.http_retry = RetryPolicy(backoff_base=0.01, backoff_max=0.02)
    engine.recovery = RecoveryPolicy(backoff_base=0.01, backoff_max=0.02)
    with serve_source(Source(10)) as url:
        pass  # the server is gone: connection refused
    instance = _setup(api, url)
    execution = api.sync(instance["id"])
    assert execution["status"] == "failed"
    assert execution["error_details"]["category"] == "transient"
    log = api.get(f"/logs/{instance['id']}", params={"log_type": "error"}).json()["items"]
    assert log[0]["operation"] == "sync.failed"


@pytest.mark.parametrize("batch", [1, 7])
def test_tiny_batches_give_the_same_store(api: Api, batch: int) -> None:


    manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
    manager.engine.batch_size = batch
    with serve_source(Source(40, broken={3})) as url:
        instance = _setup(api, url, page=9)
        execution = api.sync(instance["id"])
    assert execution["stats"]["created"] == 39
    assert execution["error_count"] == 1
    assert len(_live(api, instance["id"])) == 39


@pytest.mark.parametrize("mapping", [True, False])
def test_pages_make_the_batches_and_checkpoints_records_make(
        api: Api, monkeypatch: pytest.MonkeyPatch, mapping: bool) -> None:
    """The engine maps a page in one loop (``Connector.read_paged``): its batches (records,
    dead letters, checkpoints) are cut exactly where one message per record cuts them."""
    manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
    manager.engine.batch_size = 7
    cuts: list[tuple[int, int, Any, bool]] = []
    write_next = SyncEngine._write_next

    def spy(self: SyncEngine, execution_id: Any, run: Any, batch: Any, state: Any,
            total: Any, *, final: bool, after: Any) -> Any:
        cuts.append((len(batch), len(run.dead), state, final))
        return write_next(self, execution_id, run, batch, state, total, final=final,
                          after=after)

    monkeypatch.setattr(SyncEngine, "_write_next", spy)

    def sync_cuts() -> list[tuple[int, int, Any, bool]]:
        cuts.clear()
        config = generic_rest_config(url, incremental=True, page=9)
        config["streams"][0].update(is_sorted=True, checkpoint_interval=5)
        instance = api.create_instance(f"Directory {len(seen)}", "generic-rest", config)
        if mapping:
            resp = api.post("/mappings", {"instance_id": instance["id"], **IDENTITY_MAPPING})
            assert resp.status_code == 201, resp.text
        execution = api.sync(instance["id"])
        assert execution["status"] == "completed", execution["error_details"]
        return list(cuts)

    seen: list[list[tuple[int, int, Any, bool]]] = []
    with serve_source(Source(40, broken={3, 11, 12})) as url:
        seen.append(sync_cuts())

        async def by_record(self: Connector[Any], stream: str, state: Any = None, *,
                            sync_mode: Any = None) -> Any:
            async for message in self.read(stream, state, sync_mode=sync_mode):
                yield message

        monkeypatch.setattr(Connector, "read_paged", by_record)
        seen.append(sync_cuts())
    paged, one_by_one = seen
    assert paged == one_by_one
    assert sum(records for records, _, _, _ in paged) == (37 if mapping else 40)
    # Every 5 records; the 40th record's checkpoint and the stream's closing one, with no
    # record between, are one: written with the last batch, which ends the sync.
    assert sum(1 for _, _, state, _ in paged if state) == 8
    assert [final for _, _, state, final in paged if state][-1] is True
    assert sum(1 for _, _, _, final in paged if final) == 1


@pytest.mark.parametrize("primary_key", [("id",), ("a.b",), ("id", "x"), ()])
def test_a_raw_page_is_taken_as_its_records_are(primary_key: tuple[str, ...]) -> None:
    """Without a mapping a page is keyed in one loop: the same batch and dead letters as one
    ``_take`` per record."""
    page: list[Any] = [{"id": "u1", "x": 1, "a": {"b": 2}}, {"id": 7}, {"id": None},
                       {"x": 1}, {"id": "", "a": {"b": None}}, {"id": 2.5, "a": 3}]
    engine = SyncEngine.__new__(SyncEngine)
    by_page = StreamRun("s", None, None, primary_key, full_refresh=True)  # type: ignore[arg-type]
    by_record = StreamRun("s", None, None, primary_key, full_refresh=True)  # type: ignore[arg-type]
    engine._take_page(by_page, page)
    for record in page:
        engine._take(by_record, record)
    assert by_page.buffer == by_record.buffer
    assert by_page.dead == by_record.dead
