"""Request samples are written in one COPY on PostgreSQL (a Core insert elsewhere): every
value, including NULLs, booleans, floats and text needing escapes, reads back as written."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from connectors.sdk.http.metrics import RequestMetric
from server.db.engine import make_session_factory
from server.db.models import MetricSample, SampleKind
from server.monitoring import samples
from tests.monitoring.conftest import make_instance
from tests.support.api import Api


def _metric(status: int | None, *, throttled: bool = False,
            error: str | None = None) -> RequestMetric:
    return RequestMetric(method="GET", host="h", path="/p", status=status, latency_s=0.0123456,
                         bytes_sent=10, bytes_received=3000, attempt=1, throttled=throttled,
                         error=error)


def _read(api: Api, instance_id: uuid.UUID) -> dict[uuid.UUID, dict[str, Any]]:
    with make_session_factory(api.engine)() as session:
        rows = session.scalars(select(MetricSample).where(
            MetricSample.instance_id == instance_id)).all()
        return {r.id: {c: getattr(r, c) for c in samples.COLUMNS} for r in rows}


def test_sample_rows_read_back_exactly(api: Api) -> None:
    instance_id = uuid.UUID(make_instance(api, "http://127.0.0.1:9")["id"])
    rows = [samples.request_row(instance_id, None, m) for m in (
        _metric(200), _metric(429, throttled=True), _metric(None, error="ConnectError"),
        _metric(503), _metric(401))]
    odd = dict(rows[0], id=uuid.uuid4(), error_category="tab\there\\back\nslash",
               duration_ms=0.1 + 0.2, recorded_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678901,
                                                              tzinfo=dt.UTC))
    rows.append(odd)
    partial = {"id": uuid.uuid4(), "instance_id": instance_id, "kind": SampleKind.REQUEST}
    with make_session_factory(api.engine)() as session:
        samples.write(session, rows)
        samples.write(session, [partial])  # model defaults fill the rest (the Core insert)
        session.commit()
    stored = _read(api, instance_id)
    assert len(stored) == len(rows) + 1
    for row in rows:
        assert stored[row["id"]] == {c: row[c] for c in samples.COLUMNS}
    assert stored[odd["id"]]["error_category"] == "tab\there\\back\nslash"
    assert stored[odd["id"]]["duration_ms"] == 0.1 + 0.2
    assert stored[partial["id"]]["records"] == 0
    categories = [stored[r["id"]]["error_category"] for r in rows[:5]]
    assert categories == [None, "rate_limited", "transient", "remote", "auth"]


def test_copy_lines_are_each_value_in_copy_format() -> None:
    """The COPY text written fast (repeated ids once, numbers and booleans directly) is what
    formatting every value on its own gives, for every kind of value a row holds."""
    instance_id, sync_id = uuid.uuid4(), uuid.uuid4()
    rows = [samples.request_row(instance_id, sync, _metric(status, throttled=throttled,
                                                            error=error))
            for sync in (None, sync_id) for status in (200, 429, None, 503, 401)
            for throttled in (False, True) for error in (None, "ConnectError")]
    rows.append(dict(rows[0], error_category="tab\there\\back\nslash", duration_ms=1e-7,
                     records=10**20, status_code=True, recorded_at=dt.datetime(
                         2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))))
    expected = "".join("\t".join(samples._copy_value(row[c]) for c in samples.COLUMNS) + "\n"
                       for row in rows)
    assert samples._copy_text(rows) == expected
    naive = dict(rows[0], recorded_at=dt.datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="naive"):
        samples._copy_text([naive])
