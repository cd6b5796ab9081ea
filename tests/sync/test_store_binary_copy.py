"""New records go into PostgreSQL as one binary COPY whose rows the store writes byte by byte:
every column must come back exactly as the SQLite path (plain INSERTs) stores it, including
the awkward text that the text format had to escape."""

from __future__ import annotations

import datetime as dt
import struct
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from server.db import binary_copy
from server.db.engine import make_session_factory
from server.db.models import EvidenceRecord
from server.db.models.records import RecordProvenance
from server.sync import store
from tests.support.api import Api

_KEYS = ["plain", 'quo"te', "back\\slash", "tab\there", "new\nline", "cr\rhere", "", "NULL",
         "\\N", "é ü 中文 🙂", "x" * 512, "{brace}", "comma,here"]


def _data(n: int, key: str) -> dict[str, Any]:
    return {"external_id": key, "n": n, "text": f"a\\b\t\n\r\"{key}\u0001é🙂",
            "nested": {"list": [1, None, True, "x"], "empty": {}}, "big": 2 ** 62,
            "float": 1.5e-7}


def _instance(api: Api, name: str) -> str:
    instance: dict[str, Any] = api.create_instance(
        name, "generic-rest", {"base_url": "http://127.0.0.1:9", "streams": [
            {"name": "users", "path": "/u", "primary_key": ["id"]}]})
    return str(instance["id"])


@pytest.mark.parametrize("assume_new", [True, False])
def test_every_column_of_a_new_record_is_stored_exactly(api: Api, assume_new: bool) -> None:
    instance_id = uuid.UUID(_instance(api, f"binary copy {assume_new}"))
    sync_id = uuid.uuid4()
    scope = store.Scope(instance_id, "identité", "stréam\\tab\t", sync_id,
                        {"instance_id": str(instance_id), "note": "ü"})
    records = [(key, _data(n, key)) for n, key in enumerate(_KEYS)]
    before_ms = time.time_ns() // 1_000_000
    factory = make_session_factory(api.engine)
    with factory() as session:
        counts = store.upsert_batch(session, scope, records, track_seen=True,
                                    assume_new=assume_new)
        assert (counts.created, counts.updated, counts.unchanged) == (len(_KEYS), 0, 0)
        session.commit()
        after_ms = time.time_ns() // 1_000_000
        rows = {row.external_id: row for row in session.scalars(select(EvidenceRecord))}
        assert sorted(rows) == sorted(_KEYS)
        provenance = session.scalars(select(RecordProvenance)).one()
        fetched_at = dt.datetime.fromisoformat(provenance.provenance["fetched_at"])
        for key, data in records:
            row = rows[key]
            assert row.data == data
            assert row.content_hash == store.content_hash(data)
            assert (row.instance_id, row.entity_type, row.stream) == (
                instance_id, "identité", "stréam\\tab\t")
            assert (row.version, row.last_change, row.stored_changed_fields) == (
                1, "created", None)
            assert (row.last_sync_id, row.is_deleted, row.deleted_at) == (sync_id, False, None)
            assert row.first_seen_at == row.updated_at == fetched_at
            assert row.provenance_id == provenance.id
            assert row.id.version == 7
            assert row.id.variant == uuid.RFC_4122
            assert before_ms <= row.id.int >> 80 <= after_ms
        assert len({row.id for row in rows.values()}) == len(_KEYS)


@pytest.mark.parametrize("assume_new", [True, False])
def test_failed_checks_name_the_stored_ids(api: Api, assume_new: bool) -> None:
    instance_id = uuid.UUID(_instance(api, f"checks {assume_new}"))
    scope = store.Scope(instance_id, "configuration_check", "checks", uuid.uuid4(), {})
    records = [(f"c{i}", {"external_id": f"c{i}", "status": "fail" if i % 3 else "pass"})
               for i in range(30)]
    factory = make_session_factory(api.engine)
    with factory() as session:
        counts = store.upsert_batch(session, scope, records, track_seen=False,
                                    assume_new=assume_new)
        session.commit()
        stored = {ext: rid for ext, rid in session.execute(
            select(EvidenceRecord.external_id, EvidenceRecord.id))}
    assert len(counts.failed_checks) == 20
    for rid, ext, data in counts.failed_checks:
        assert isinstance(rid, uuid.UUID)
        assert stored[ext] == rid
        assert data["status"] == "fail"


def test_binary_timestamps_count_microseconds_from_2000() -> None:
    cases = {dt.datetime(2000, 1, 1, tzinfo=dt.UTC): 0,
             dt.datetime(1999, 12, 31, 23, 59, 59, 999999, dt.UTC): -1,
             dt.datetime(2026, 11, 27, 1, 2, 3, 456789, dt.UTC): 849_056_523_456_789,
             dt.datetime(2000, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))): 0}
    for value, micros in cases.items():
        assert binary_copy.timestamp(value) == struct.pack("!iq", 8, micros)
    with pytest.raises(ValueError):
        binary_copy.timestamp(dt.datetime(2000, 1, 1))


def test_random_id_tails_carry_the_version_and_variant_bits() -> None:
    tails = store._random_id_tails(5000)
    assert len(tails) == 50_000
    for j in range(0, len(tails), 10):
        assert tails[j] >> 4 == 7
        assert tails[j + 2] >> 6 == 0b10
    assert len({tails[j:j + 10] for j in range(0, len(tails), 10)}) == 5000


def test_the_transition_table_of_a_batch_stays_in_memory(api: Api) -> None:
    """PostgreSQL: the batch's transaction gets a work_mem that holds the trigger's transition
    table (no temporary file per batch); never lower than the session's, and only until the
    transaction ends."""
    if api.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    instance_id = uuid.UUID(_instance(api, "work mem"))
    factory = make_session_factory(api.engine)

    def work_mem(session: Any) -> int:
        return int(session.scalar(text("SELECT pg_size_bytes(current_setting('work_mem'))")))

    with factory() as session:
        base = work_mem(session)
        records = [(f"k{i}", {"external_id": f"k{i}", "pad": "x" * 400}) for i in range(5000)]
        for assume_new in (True, False):
            scope = store.Scope(instance_id, f"kind{assume_new}", "s", uuid.uuid4(), {})
            store.upsert_batch(session, scope, records, track_seen=False, assume_new=assume_new)
            assert work_mem(session) > 2 * 5000 * 400  # twice the rows' bytes and more
            session.commit()
            assert work_mem(session) == base
        session.execute(text("SET work_mem = '1GB'"))
        store.upsert_batch(session, store.Scope(instance_id, "more", "s", uuid.uuid4(), {}),
                           records[:10], track_seen=False, assume_new=True)
        assert work_mem(session) == 1 << 30
        session.rollback()
