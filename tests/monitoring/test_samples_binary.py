"""Request samples go to PostgreSQL as binary COPY rows: what they store is what the text
COPY stored, value for value, and a value of a type the binary rows do not expect goes the
text way, as before."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from connectors.sdk.http.metrics import RequestMetric
from server.db.engine import make_session_factory
from server.db.models import MetricSample
from server.monitoring import samples
from tests.monitoring.conftest import make_instance
from tests.support.api import Api


def _rows(instance_id: uuid.UUID, sync_id: uuid.UUID | None) -> list[dict[str, Any]]:
    rows = [samples.request_row(instance_id, sync, RequestMetric(
        method="GET", host="h", path="/p", status=status, latency_s=0.0123456 + status_i / 7,
        bytes_sent=10, bytes_received=3000, attempt=1, throttled=throttled, error=error))
        for sync in (None, sync_id) for status_i, status in enumerate((200, 429, None, 503, 401))
        for throttled in (False, True) for error in (None, "ConnectError")]
    rows.append(dict(rows[0], id=uuid.uuid4(), error_category="tab\there\\back\nslash é",
                     duration_ms=1e-7, records=2**31 - 1, bytes_sent=-(2**31),
                     recorded_at=dt.datetime(1999, 12, 31, 23, 59, 59, 999999,
                                             tzinfo=dt.timezone(dt.timedelta(hours=2)))))
    rows.append(dict(rows[1], id=uuid.uuid4(), duration_ms=float("inf"), status_code=0))
    return rows


def _stored(api: Api, instance_id: uuid.UUID) -> dict[uuid.UUID, dict[str, Any]]:
    with make_session_factory(api.engine)() as session:
        found = session.scalars(select(MetricSample).where(
            MetricSample.instance_id == instance_id)).all()
        return {r.id: {c: getattr(r, c) for c in samples.COLUMNS if c != "id"} for r in found}


def test_binary_rows_store_what_the_text_rows_stored(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    if api.engine.dialect.name != "postgresql":
        pytest.skip("binary COPY is PostgreSQL's")
    instance_id = uuid.UUID(make_instance(api, "http://127.0.0.1:9")["id"])
    binary = _rows(instance_id, None)
    text = [dict(row, id=uuid.uuid4()) for row in binary]
    assert samples._copy_binary(binary) is not None
    with make_session_factory(api.engine)() as session:
        samples.write(session, binary)
        with monkeypatch.context() as patched:  # the text COPY, as before
            patched.setattr(samples, "_copy_binary", lambda rows: None)
            samples.write(session, text)
        session.commit()
    stored = _stored(api, instance_id)
    assert len(stored) == 2 * len(binary)
    for new, old in zip(binary, text, strict=True):
        assert stored[new["id"]] == stored[old["id"]]
        assert stored[new["id"]] == {c: new[c] for c in samples.COLUMNS if c != "id"}


def test_unexpected_values_go_the_text_way() -> None:
    instance_id, sync_id = uuid.uuid4(), uuid.uuid4()
    row = samples.request_row(instance_id, sync_id, RequestMetric(
        method="GET", host="h", path="/p", status=200, latency_s=0.01, bytes_sent=1,
        bytes_received=2, attempt=1))
    assert samples._copy_binary([row]) is not None
    odds: list[dict[str, Any]] = [
        {"records": 10**20}, {"status_code": True}, {"instance_id": str(instance_id)},
        {"duration_ms": 5}, {"ok": 1}, {"error_category": b"x"}, {"sync_id": {}}]
    for odd in odds:
        assert samples._copy_binary([row, dict(row, **odd)]) is None, odd
    with pytest.raises(ValueError, match="naive"):
        samples._copy_binary([dict(row, recorded_at=dt.datetime(2026, 1, 2))])
