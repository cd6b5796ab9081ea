"""The evidence store's fast paths give exactly what the plain ones gave: the same canonical
bytes (so stored content hashes stay comparable), the same counts when a first load meets a
key it did not expect, and deletions still found without a seen-key row per written record."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from server.audit.evidence import FETCH_AT_ONCE, digest_of, written_by
from server.db.engine import make_session_factory
from server.db.models import EvidenceRecord, SyncExecution, SyncSeenKey
from server.sync import store
from tests.support.api import Api

_reference = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str,
                              ensure_ascii=False).encode

_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
            | st.text() | st.datetimes(timezones=st.just(dt.UTC)))
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=10), _values, max_size=8))
def test_canonical_bytes_are_the_json_modules(data: dict[str, Any]) -> None:
    try:
        expected = _reference(data).encode()
    except UnicodeEncodeError:  # a lone surrogate: neither encoder can store it
        return
    assert store.canonical_bytes(data) == expected
    assert store.content_hash(data) == hashlib.sha256(expected).hexdigest()


def test_canonical_bytes_of_awkward_values() -> None:
    for data in ({"f": 1e16, "g": 1e-05, "h": 0.1}, {"big": 2 ** 70, "neg": -(2 ** 63) - 1},
                 {"t": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)}, {"esc": "a\\b\t\n\u0001é"},
                 {"z": 1, "a": {"é": [True, None], "E": 2}}):
        assert store.canonical_bytes(data) == _reference(data).encode()


def test_new_ids_are_distinct_time_ordered_version_7_uuids() -> None:
    before = time.time_ns() // 1_000_000
    ids = store.new_ids(2000)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 2000
    parsed = [uuid.UUID(i) for i in ids]
    assert {u.version for u in parsed} == {7}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert [str(u) for u in parsed] == ids
    # The first 48 bits are the Unix time in milliseconds: ids sort by creation time.
    assert all(before <= u.int >> 80 <= after for u in parsed)
    assert store.uuid7().version == 7


def _scope(instance_id: str) -> store.Scope:
    sync_id = uuid.uuid4()
    return store.Scope(uuid.UUID(instance_id), "identity", "users", sync_id,
                       {"instance_id": instance_id, "sync_id": str(sync_id)})


def _record(i: int, title: str = "Engineer") -> tuple[str, dict[str, Any]]:
    ext = f"u{i:04d}"
    return ext, {"external_id": ext, "username": f"user{i}", "title": title,
                 "note": "tab\there, back\\slash"}


def test_a_first_load_that_meets_an_existing_key_counts_it_once(api: Api) -> None:
    instance = api.create_instance("fast paths", "generic-rest",
                                   {"base_url": "http://127.0.0.1:9", "streams": [
                                       {"name": "users", "path": "/u", "primary_key": ["id"]}]})
    scope = _scope(instance["id"])
    factory = make_session_factory(api.engine)
    with factory() as session:
        assert store.scope_is_empty(session, scope)
        first = store.upsert_batch(session, scope, [_record(i) for i in range(10)],
                                   track_seen=True, assume_new=True)
        assert (first.created, first.updated, first.unchanged, first.collided) == (
            10, 0, 0, False)
        # The source repeats u0003 unchanged and u0004 changed on a later page.
        second = store.upsert_batch(
            session, scope, [_record(3), _record(4, "Manager"), *(_record(i) for i in (10, 11))],
            track_seen=True, assume_new=True)
        assert (second.created, second.updated, second.unchanged) == (2, 1, 1)
        session.commit()
        assert not store.scope_is_empty(session, scope)
        rows = {ext: data for ext, data in session.execute(
            select(EvidenceRecord.external_id, EvidenceRecord.data))}
        assert len(rows) == 12
        assert rows["u0004"]["title"] == "Manager"
        assert rows["u0007"]["note"] == "tab\there, back\\slash"  # COPY escaping round trip
        hashes = {ext: digest for ext, digest in session.execute(
            select(EvidenceRecord.external_id, EvidenceRecord.content_hash))}
        assert hashes["u0007"] == store.content_hash(rows["u0007"])
        # Only the unchanged record needed a seen-key row; the rest carry this sync's id.
        seen = session.scalar(select(func.count()).select_from(SyncSeenKey))
        assert seen == 1
        assert store.mark_unseen_deleted(session, scope) == 0

        # The next full refresh sees two records only: the other ten are marked deleted.
        later = _scope(instance["id"])
        counts = store.upsert_batch(session, later, [_record(1), _record(2, "Analyst")],
                                    track_seen=True)
        assert (counts.created, counts.updated, counts.unchanged) == (0, 1, 1)
        assert store.mark_unseen_deleted(session, later) == 10
        session.commit()
        live = session.scalars(select(EvidenceRecord.external_id).where(
            EvidenceRecord.is_deleted.is_(False))).all()
        assert sorted(live) == ["u0001", "u0002"]


def test_awkward_external_ids_are_found_again(api: Api) -> None:
    """The batch lookup sends its keys as one array literal: quotes, backslashes, commas,
    braces and NULL-like text must still match exactly."""
    instance = api.create_instance("awkward keys", "generic-rest",
                                   {"base_url": "http://127.0.0.1:9", "streams": [
                                       {"name": "users", "path": "/u", "primary_key": ["id"]}]})
    keys = ['a"b', "c\\d", "e,f", "{g}", "NULL", "", " h ", "é\ti", "j\\\"k"]
    records = [(key, {"external_id": key, "n": n}) for n, key in enumerate(keys)]
    factory = make_session_factory(api.engine)
    with factory() as session:
        first = store.upsert_batch(session, _scope(instance["id"]), records, track_seen=True)
        assert first.created == len(keys)
        again = store.upsert_batch(session, _scope(instance["id"]), records, track_seen=True)
        assert (again.created, again.unchanged) == (0, len(keys))
        session.commit()
    assert store._text_array([]) == "{}"


def test_a_prepared_batch_is_stored_like_pairs_and_its_digest_reads_back(api: Api) -> None:
    """``store.prepare`` (the engine's read loop) then ``upsert_batch`` stores what the pairs
    would; the audit digest PostgreSQL assembles in prefix groups equals the one made here."""
    instance = api.create_instance("prepared", "generic-rest",
                                   {"base_url": "http://127.0.0.1:9", "streams": [
                                       {"name": "users", "path": "/u", "primary_key": ["id"]}]})
    scope = _scope(instance["id"])
    records = [_record(i) for i in range(600)] + [_record(5, "Last one wins")]
    prepared = store.prepare(records)
    assert len(prepared) == 600
    assert prepared["u0005"][0]["title"] == "Last one wins"
    assert prepared["u0007"][2] == store.content_hash(dict(records)["u0007"])
    factory = make_session_factory(api.engine)
    with factory() as session:
        counts = store.upsert_batch(session, scope, prepared, track_seen=True, assume_new=True)
        assert counts.created == 600
        session.commit()
        hashes = session.scalars(select(EvidenceRecord.content_hash)).all()
        assert len(set(h[:2] for h in hashes)) > 100  # many prefix groups, several per group
        execution = SyncExecution(
            id=scope.sync_id, instance_id=uuid.UUID(instance["id"]),
            stats={"streams": {"users": {"entity_type": "identity"}}},
            start_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        assert written_by(session, execution) == digest_of(list(hashes))
        # A large sync's groups come a few per fetch (server-side cursor): the same digest.
        execution.records_processed = FETCH_AT_ONCE + 1
        assert written_by(session, execution) == digest_of(list(hashes))
