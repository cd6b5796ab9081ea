"""The ANALYZE a fresh load ends with (a small sample, for speed) still gives PostgreSQL what
the next sync's batch lookup needs: a probe of the unique key per external id, not a scan of
the instance's rows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from server.db.engine import make_session_factory
from server.sync import store
from tests.support.api import Api


def test_a_loaded_scope_is_looked_up_by_its_unique_key(api: Api) -> None:
    if api.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no ANALYZE step here")
    instance: dict[str, Any] = api.create_instance(
        "statistics", "generic-rest", {"base_url": "http://127.0.0.1:9", "streams": [
            {"name": "users", "path": "/u", "primary_key": ["id"]}]})
    instance_id = uuid.UUID(str(instance["id"]))
    scope = store.Scope(instance_id, "identity", "users", uuid.uuid4(), {})
    factory = make_session_factory(api.engine)
    with factory() as session:
        default = session.scalar(text("SHOW default_statistics_target"))
        for start in range(0, 40_000, 5000):
            store.upsert_batch(session, scope, [
                (f"u{i:07d}", {"external_id": f"u{i:07d}", "title": ["a", "b", "c"][i % 3]})
                for i in range(start, start + 5000)], track_seen=False, assume_new=True)
            session.commit()
        assert store.refresh_statistics(session, 40_000)
        session.commit()
        assert session.scalar(text("SHOW default_statistics_target")) == default
        assert not store.refresh_statistics(session, 1000)  # the table has not doubled
        keys = store._text_array([f"u{i:07d}" for i in range(0, 40_000, 80)])
        plan = "\n".join(session.scalars(text(
            "EXPLAIN SELECT external_id, id, content_hash, version, is_deleted "
            "FROM evidence_records WHERE instance_id = :iid AND entity_type = 'identity' "
            "AND external_id = ANY(CAST(:keys AS text[]))"), {"iid": instance_id, "keys": keys}))
        assert "uq_evidence_records_external_id_instance_id_entity_type" in plan, plan[:300]
        assert "Seq Scan" not in plan, plan[:300]
