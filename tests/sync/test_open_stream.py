"""A stream's open, on both databases: the saved state it resumes from (incremental, or a full
refresh's own checkpoint), the mapping it runs (the instance's, a pinned older version, the
connector's default, none), the version it records, whether the scope starts empty (for the
entity the mapping it runs writes) and a retry's counts."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import select, update

from connectors.sdk import StreamDescriptor, SyncMode
from connectors.sdk.connector import Connector
from server.db.engine import make_session_factory
from server.db.models import (
    EvidenceRecord,
    IntegrationInstance,
    StreamState,
    SyncExecution,
    SyncStatus,
    TriggerType,
)
from server.sync import store
from server.sync.engine import OpenedStream, StreamRun, SyncEngine
from server.sync.manager import SyncManager, create_execution
from tests.support.api import Api
from tests.support.record_source import IDENTITY_MAPPING, generic_rest_config

USERS = StreamDescriptor("users", {}, ("id",), "updated_at",
                         (SyncMode.FULL_REFRESH, SyncMode.INCREMENTAL), True)


def _connector(package: str, key: str) -> Connector[Any]:
    """What the open reads of a connector: its key, versions and class (whose package ships
    the default mappings)."""
    stub = type("Stub", (), {"__module__": f"connectors.builtin.{package}.connector"})()
    stub.metadata = SimpleNamespace(key=key, version="1.0")
    stub.api_version = None
    return cast(Connector[Any], stub)


GENERIC = _connector("generic_rest", "generic-rest")


class _Fixture:
    def __init__(self, api: Api, *, mapping: bool = True) -> None:
        self.api = api
        self.factory = make_session_factory(api.engine)
        instance = api.create_instance("Directory API", "generic-rest",
                                       generic_rest_config("http://127.0.0.1:9"))
        self.instance_id = uuid.UUID(instance["id"])
        self.mapping_id: str | None = None
        if mapping:
            resp = api.post("/mappings", {"instance_id": instance["id"], **IDENTITY_MAPPING})
            assert resp.status_code == 201, resp.text
            self.mapping_id = resp.json()["id"]
        manager: SyncManager = api.client.app.state.sync_manager  # type: ignore[attr-defined]
        self.engine: SyncEngine = manager.engine

    def execution(self, **options: Any) -> uuid.UUID:
        """A new execution of the instance (the ones before it ended)."""
        with self.factory() as session:
            session.execute(update(SyncExecution).values(status=SyncStatus.COMPLETED)
                            .where(SyncExecution.instance_id == self.instance_id))
            instance = session.get(IntegrationInstance, self.instance_id)
            assert instance is not None
            execution_id = create_execution(session, instance, TriggerType.MANUAL,
                                            options=options).id
            session.commit()
        return execution_id

    def open(self, execution_id: uuid.UUID, connector: Connector[Any] = GENERIC,
             desc: StreamDescriptor = USERS, previous: StreamRun | None = None
             ) -> OpenedStream:
        return self.engine._open_stream(execution_id, connector, desc, previous)

    def versions(self, execution_id: uuid.UUID) -> dict[str, Any]:
        with self.factory() as session:
            found = session.scalar(select(SyncExecution.mapping_versions)
                                   .where(SyncExecution.id == execution_id))
        assert found is not None
        return dict(found)

    def set_versions(self, execution_id: uuid.UUID, versions: dict[str, Any]) -> None:
        with self.factory() as session:
            session.execute(update(SyncExecution).values(mapping_versions=versions)
                            .where(SyncExecution.id == execution_id))
            session.commit()

    def save_state(self, state: dict[str, Any], sync_id: uuid.UUID | None) -> None:
        with self.factory() as session:
            session.merge(StreamState(instance_id=self.instance_id, stream="users",
                                      state=state, sync_id=sync_id))
            session.commit()

    def store_record(self, entity_type: str) -> None:
        with self.factory() as session:
            session.add(EvidenceRecord(instance_id=self.instance_id, entity_type=entity_type,
                                       external_id=f"x-{uuid.uuid4()}", stream="users",
                                       data={}, content_hash="0" * 64, is_deleted=True))
            session.commit()


def test_saved_state_is_resumed_when_incremental_or_saved_by_this_execution(api: Api) -> None:
    f = _Fixture(api)
    earlier = f.execution()
    fresh = f.open(earlier)  # nothing saved yet
    assert (fresh.state, fresh.mode, fresh.run.full_refresh) == (None, SyncMode.INCREMENTAL,
                                                                 False)

    f.save_state({"cursor": "2026-01-01"}, earlier)
    incremental = f.open(f.execution())
    assert incremental.state == {"cursor": "2026-01-01"}
    assert incremental.mode == SyncMode.INCREMENTAL

    full = f.execution(full_refresh=True)
    opened = f.open(full)
    assert (opened.state, opened.mode, opened.run.full_refresh) == (None,
                                                                    SyncMode.FULL_REFRESH, True)
    f.save_state({"page": 4}, full)  # the full refresh's own checkpoint: it resumes from it
    assert f.open(full).state == {"page": 4}

    only_full = StreamDescriptor("users", {}, ("id",), None, (SyncMode.FULL_REFRESH,), True)
    assert f.open(f.execution(), desc=only_full).state is None  # saved by another execution
    f.save_state({}, earlier)
    assert f.open(f.execution()).state is None  # an empty state is no state


def test_the_instance_mapping_is_recorded_and_a_pinned_version_runs_again(api: Api) -> None:
    f = _Fixture(api)
    first = f.execution()
    opened = f.open(first)
    mapping = opened.run.mapping
    assert mapping is not None
    assert mapping.reference["mapping_id"] == f.mapping_id
    assert mapping.reference["version"] == 1
    assert opened.run.scope.entity_type == "identity"
    assert opened.run.scope.provenance["mapping"] == mapping.reference
    assert opened.run.scope.provenance["instance"] == "Directory API"
    assert opened.run.scope.provenance["sync_id"] == str(first)
    assert opened.run.scope.instance_id == f.instance_id
    assert f.versions(first) == {"users": mapping.reference}
    assert opened.run.fresh
    assert opened.run.started_empty

    # A new version writes another entity type; an execution that ran version 1 runs it again
    # (and looks for that entity's records, not the new one's).
    changed = api.put(f"/mappings/{f.mapping_id}", {"target": "group", "field_mappings": [
        {"target": "external_id", "source": "id"}, {"target": "name", "source": "login"}]})
    assert changed.status_code == 200, changed.text
    f.store_record("identity")
    again = f.open(first)
    assert again.run.mapping is not None
    assert again.run.mapping.reference == mapping.reference
    assert again.run.scope.entity_type == "identity"
    assert not again.run.fresh
    assert not again.run.started_empty
    assert f.versions(first) == {"users": mapping.reference}

    latest = f.execution()
    opened = f.open(latest)
    assert opened.run.mapping is not None
    assert opened.run.mapping.reference["version"] == 2
    assert opened.run.scope.entity_type == "group"
    assert opened.run.fresh  # records of "identity" are no records of "group"
    f.store_record("group")
    assert not f.open(latest).run.fresh

    # Other streams' versions the execution recorded are kept.
    other = f.execution()
    f.set_versions(other, {"groups": {"raw": "generic-rest.groups"}})
    f.open(other)
    assert f.versions(other) == {"groups": {"raw": "generic-rest.groups"},
                                 "users": opened.run.mapping.reference}


def test_an_instance_without_a_mapping_keeps_raw_records_or_runs_the_default(api: Api) -> None:
    f = _Fixture(api, mapping=False)
    execution = f.execution()
    raw = f.open(execution)
    assert raw.run.mapping is None
    assert raw.run.scope.entity_type == "generic-rest.users"
    assert raw.run.scope.provenance["mapping"] is None
    assert f.versions(execution) == {"users": {"raw": "generic-rest.users"}}
    assert raw.run.fresh
    f.store_record("generic-rest.users")
    assert not f.open(execution).run.fresh

    github = _connector("github", "github")
    members = StreamDescriptor("members", {}, ("login",), None, (SyncMode.FULL_REFRESH,), True)
    execution = f.execution()
    opened = f.open(execution, connector=github, desc=members)
    mapping = opened.run.mapping
    assert mapping is not None
    assert mapping.reference["default"] == "GitHub members: two-factor authentication check"
    assert opened.run.scope.entity_type == "configuration_check"
    assert f.versions(execution) == {"members": mapping.reference}
    assert opened.run.fresh
    f.store_record("configuration_check")
    again = f.open(execution, connector=github, desc=members)
    assert not again.run.fresh
    assert again.run.mapping is not None
    assert again.run.mapping.reference == mapping.reference
    assert again.run.mapping.reference is not mapping.reference  # each open has its own


def test_an_inactive_or_other_streams_mapping_is_not_run(api: Api) -> None:
    f = _Fixture(api)
    assert api.put(f"/mappings/{f.mapping_id}", {"is_active": False}).status_code == 200
    assert f.open(f.execution()).run.mapping is None
    assert api.put(f"/mappings/{f.mapping_id}",
                   {"is_active": True, "source": "groups"}).status_code == 200
    assert f.open(f.execution()).run.mapping is None
    assert api.put(f"/mappings/{f.mapping_id}", {"source": "users"}).status_code == 200
    opened = f.open(f.execution())
    assert opened.run.mapping is not None
    assert opened.run.scope.entity_type == "identity"


def test_a_retry_carries_the_counts_over_without_counting_twice(api: Api) -> None:
    f = _Fixture(api)
    execution = f.execution()
    previous = f.open(execution).run
    previous.counts = store.Counts(created=10, updated=2, unchanged=3, failed=2, skipped=1)
    previous.since_checkpoint = store.Counts(created=4, updated=1, unchanged=1, failed=1,
                                             skipped=1)
    run = f.open(execution, previous=previous).run
    assert (run.counts.created, run.counts.updated, run.counts.unchanged) == (10, 2, 3)
    assert (run.counts.failed, run.counts.skipped) == (1, 0)
    assert run.reread == 6
