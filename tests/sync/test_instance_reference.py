"""evidence_records.instance_id refers to integration_instances through triggers, not a foreign
key: what the foreign key did must still hold, on both databases, whether the schema came from
the migration or from ``metadata.create_all``."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import IntegrityError

from server.db.engine import make_engine, make_session_factory
from server.db.models import Base, EvidenceRecord, IntegrationConnector, IntegrationInstance
from server.db.models.enums import SystemType
from server.sync import store
from tests.support.api import Api

CONFIG = {"base_url": "http://127.0.0.1:9",
          "streams": [{"name": "users", "path": "/u", "primary_key": ["id"]}]}


def _scope(instance_id: uuid.UUID | str) -> store.Scope:
    sync_id = uuid.uuid4()
    return store.Scope(uuid.UUID(str(instance_id)), "identity", "users", sync_id,
                       {"instance_id": str(instance_id), "sync_id": str(sync_id)})


def _records(n: int, start: int = 0) -> list[tuple[str, dict[str, Any]]]:
    return [(f"u{i}", {"external_id": f"u{i}", "n": i}) for i in range(start, start + n)]


def _refused(engine: Engine, instance_id: uuid.UUID, *, assume_new: bool) -> str:
    # The COPY path writes through the driver's cursor: psycopg's error, as with the foreign key.
    refused = (IntegrityError, psycopg.errors.IntegrityError)
    with make_session_factory(engine)() as session, pytest.raises(refused) as caught:
        store.upsert_batch(session, _scope(instance_id), _records(3), track_seen=False,
                           assume_new=assume_new)
    return str(caught.value)


def _check_reference(engine: Engine, connector_id: uuid.UUID) -> None:
    """Records of a missing instance are refused (by each write path), records of an existing
    one are stored; an update cannot point them elsewhere nor can the instance's id change;
    deleting the instance keeps its records with instance_id NULL."""
    instance_id, missing = uuid.uuid4(), uuid.uuid4()
    with make_session_factory(engine)() as session:
        # Made here, not through the API: nothing else (events, schedules) refers to it.
        session.add(IntegrationInstance(id=instance_id, name=f"reference {instance_id}",
                                        connector_id=connector_id, configuration={}))
        session.commit()
    for assume_new in (True, False):  # PostgreSQL: the COPY path and the lookup path
        message = _refused(engine, missing, assume_new=assume_new)
        assert "instance_id" in message
    factory = make_session_factory(engine)
    with factory() as session:
        assert store.upsert_batch(session, _scope(instance_id), _records(5), track_seen=False,
                                  assume_new=True).created == 5
        assert store.upsert_batch(session, _scope(instance_id), _records(2, 5),
                                  track_seen=False).created == 2
        session.commit()
    with factory() as session, pytest.raises(IntegrityError, match="instance_id"):
        session.execute(update(EvidenceRecord).where(EvidenceRecord.external_id == "u1")
                        .values(instance_id=missing))
    with factory() as session, pytest.raises(IntegrityError, match="evidence records"):
        session.execute(update(IntegrationInstance).where(IntegrationInstance.id == instance_id)
                        .values(id=uuid.uuid4()))
    with factory() as session:
        session.execute(update(IntegrationInstance).where(IntegrationInstance.id == instance_id)
                        .values(name="renamed"))  # other columns change freely
        session.commit()
        session.delete(session.get(IntegrationInstance, instance_id))
        session.commit()
        kept = session.execute(select(EvidenceRecord.external_id, EvidenceRecord.instance_id)
                               ).all()
    assert sorted(ext for ext, _ in kept) == [f"u{i}" for i in range(7)]
    assert {owner for _, owner in kept} == {None}


def test_the_migrated_schema_keeps_the_reference(api: Api) -> None:
    _check_reference(api.engine, uuid.UUID(api.connector_id("generic-rest")))


def test_deleting_an_instance_through_the_api_keeps_its_records(api: Api) -> None:
    instance = api.create_instance("deleted", "generic-rest", CONFIG, activate=False)
    with make_session_factory(api.engine)() as session:
        store.upsert_batch(session, _scope(instance["id"]), _records(4), track_seen=False,
                           assume_new=True)
        session.commit()
    assert api.delete(f"/instances/{instance['id']}").status_code == 204
    with make_session_factory(api.engine)() as session:
        owners = session.scalars(select(EvidenceRecord.instance_id)).all()
    assert owners == [None] * 4


def test_a_schema_made_by_create_all_keeps_the_reference(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        Base.metadata.create_all(engine)
        Base.metadata.create_all(engine)  # again: the triggers are created idempotently
        connector_id = uuid.uuid4()
        with make_session_factory(engine)() as session:
            session.add(IntegrationConnector(id=connector_id, key="generic-rest",
                                             name="Generic REST", version="1.0.0",
                                             system_type=SystemType.GENERIC))
            session.commit()
        _check_reference(engine, connector_id)
    finally:
        engine.dispose()


def test_a_delete_waits_for_records_being_written_and_then_clears_them(
        api: Api, backend: str) -> None:
    """PostgreSQL: the statement-level check locks the instance as a foreign key would, so a
    delete racing a sync's uncommitted batch waits for it and then clears its records too."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    instance_id = uuid.UUID(api.create_instance("race", "generic-rest", CONFIG,
                                                activate=False)["id"])
    dsn = api.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as writer:
        writer.execute(
            "INSERT INTO evidence_records (id, instance_id, entity_type, external_id, stream, "
            "data, content_hash, version, last_change, is_deleted, first_seen_at, updated_at) "
            "VALUES (%s, %s, 'identity', 'x1', 'users', '{}', 'h', 1, 'created', false, now(), "
            "now())", (uuid.uuid4(), instance_id))
        deleted = threading.Event()

        def delete() -> None:
            with psycopg.connect(dsn, autocommit=True) as other:
                other.execute("DELETE FROM integration_instances WHERE id = %s", (instance_id,))
            deleted.set()

        thread = threading.Thread(target=delete)
        thread.start()
        time.sleep(0.5)
        assert not deleted.is_set()  # held by the insert's FOR KEY SHARE
        writer.commit()
        thread.join(10)
        assert deleted.is_set()
    with api.engine.connect() as conn:
        assert conn.execute(text("SELECT instance_id FROM evidence_records")).all() == [(None,)]
