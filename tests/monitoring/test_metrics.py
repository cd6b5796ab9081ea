"""Rollups match the raw operations they summarise; the metrics API filters by period and
time; the Prometheus exposition parses with prometheus_client's parser."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, select

from server.db.engine import make_session_factory
from server.db.models import MetricSample, SampleKind
from server.monitoring.recovery import Attempts, RecoveryPolicy
from server.monitoring.rollup import percentile
from tests.monitoring.conftest import make_instance
from tests.monitoring.faulty_source import FaultySource, serve_faulty
from tests.support.api import Api

H1 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def _sample(iid: uuid.UUID, minute: int, kind: SampleKind = SampleKind.REQUEST, *,
            ms: float, status: int | None = 200, ok: bool = True, unavailable: bool = False,
            throttled: bool = False, sent: int = 0, received: int = 0, records: int = 0
            ) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "instance_id": iid, "sync_id": None, "kind": kind,
            "recorded_at": H1 + dt.timedelta(minutes=minute), "duration_ms": ms, "ok": ok,
            "unavailable": unavailable, "throttled": throttled, "status_code": status,
            "bytes_sent": sent, "bytes_received": received, "records": records,
            "error_category": None}


def test_rollups_match_the_raw_samples(mon: Api) -> None:
    instance = make_instance(mon, "http://127.0.0.1:9", name="Rolled")
    iid = uuid.UUID(instance["id"])
    rows = [
        _sample(iid, 1, ms=10, sent=100, received=1000),
        _sample(iid, 2, ms=20, sent=100, received=2000),
        _sample(iid, 3, ms=30, status=500, ok=False, unavailable=True),
        _sample(iid, 4, ms=40, status=429, ok=False, throttled=True),
        _sample(iid, 5, ms=1000, status=None, ok=False, unavailable=True),  # a timeout
        _sample(iid, 6, SampleKind.SYNC, ms=60_000, status=None, records=250),
        _sample(iid, 7, SampleKind.SYNC, ms=30_000, status=None, ok=False),
        _sample(iid, 65, ms=50, received=500),  # the next hour
        _sample(iid, 60 * 24 + 1, ms=5),  # the next day: outside both
    ]
    with make_session_factory(mon.engine)() as session:
        session.execute(insert(MetricSample), rows)
        session.commit()
    service = mon.client.app.state.monitoring  # type: ignore[attr-defined]
    service.run_once(now=H1 + dt.timedelta(hours=1, minutes=30))

    hours = mon.get(f"/metrics/{iid}", params={"period": "hour", "sort": "period_start",
                                               "since": "2026-03-02T00:00:00Z",
                                               "until": "2026-03-03T00:00:00Z"}).json()["items"]
    assert [h["period_start"][:16] for h in hours] == ["2026-03-02T10:00", "2026-03-02T11:00"]
    first = hours[0]
    assert {k: first[k] for k in ("api_calls", "total_operations", "throttling_events",
                                  "data_transferred", "records_processed", "syncs",
                                  "failed_syncs", "average_sync_duration",
                                  "average_response_time", "response_time_p50",
                                  "response_time_p95")} == {
        "api_calls": 5, "total_operations": 7, "throttling_events": 1,
        "data_transferred": 3200, "records_processed": 250, "syncs": 2, "failed_syncs": 1,
        "average_sync_duration": 45_000, "average_response_time": 220,
        "response_time_p50": 30, "response_time_p95": 1000}
    assert Decimal(first["error_rate"]) == Decimal("40")  # the 500 and the timeout
    assert Decimal(first["availability_percentage"]) == Decimal("60")
    assert hours[1]["api_calls"] == 1

    days = mon.get("/metrics", params={"instance_id": str(iid), "period": "day"}).json()
    day = days["items"][0]
    assert (day["granularity"], day["api_calls"], day["total_operations"]) == ("day", 6, 8)
    # The day's percentiles come from its raw samples, not from averaged hours.
    assert (day["response_time_p50"], day["response_time_p95"]) == (30, 1000)
    assert day["average_response_time"] == round(1150 / 6)
    assert Decimal(day["error_rate"]) == Decimal("33.333")
    assert Decimal(day["availability_percentage"]) == Decimal("66.667")
    assert day["data_transferred"] == 3700
    assert len(days["items"]) == 1  # no rollups for the next day: run_once did not reach it


def test_rollup_of_a_real_sync_counts_every_attempt(mon: Api) -> None:
    source = FaultySource(120)
    source.fail("500", times=1, cursor="50")
    with serve_faulty(source) as url:
        instance = make_instance(mon, url)
        execution = mon.sync(instance["id"], timeout=60)
    assert execution["status"] == "completed"
    service = mon.client.app.state.monitoring  # type: ignore[attr-defined]
    service.run_once()
    with make_session_factory(mon.engine)() as session:
        raw = list(session.scalars(select(MetricSample).where(
            MetricSample.instance_id == uuid.UUID(instance["id"]))))
    requests = [s for s in raw if s.kind == SampleKind.REQUEST]
    assert len(requests) == len(source.seen) == 4  # 3 pages, one of them twice
    hour = mon.get(f"/metrics/{instance['id']}", params={"period": "hour"}).json()["items"][0]
    assert hour["api_calls"] == 4
    assert hour["records_processed"] == execution["records_processed"] == 120
    assert hour["syncs"] == 1
    assert hour["data_transferred"] == sum(s.bytes_sent + s.bytes_received for s in requests)
    assert hour["response_time_p95"] == round(percentile(sorted(
        s.duration_ms for s in requests), 95))
    assert Decimal(hour["error_rate"]) == Decimal(25)


def test_prometheus_exposition_parses(mon: Api) -> None:
    with serve_faulty(FaultySource(30)) as url:
        instance = make_instance(mon, url, name='Quote " and \\ back')
        assert mon.sync(instance["id"], timeout=60)["status"] == "completed"
    path = "/api/integration/metrics/prometheus"
    assert mon.client.get(path).status_code == 401
    response = mon.client.get(path, headers=mon.headers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert {"simpletrust_up", "simpletrust_instance_health_score", "simpletrust_syncs",
            "simpletrust_records_processed", "simpletrust_http_requests_last_hour",
            "simpletrust_http_response_time_p95_seconds", "simpletrust_alerts_active",
            "simpletrust_tasks_open"} <= set(families)
    assert families["simpletrust_syncs"].type == "counter"
    syncs = [s for s in families["simpletrust_syncs"].samples
             if s.labels["instance_id"] == instance["id"]]
    assert [(s.labels["instance"], s.labels["status"], s.value) for s in syncs] == [
        ('Quote " and \\ back', "completed", 1.0)]
    score = next(s for s in families["simpletrust_instance_health_score"].samples
                 if s.labels["instance_id"] == instance["id"])
    assert score.value == 100
    calls = next(s for s in families["simpletrust_http_requests_last_hour"].samples
                 if s.labels["instance_id"] == instance["id"])
    assert calls.value == 1  # 30 records, pages of 50

    app: Any = mon.client.app
    app.state.settings.prometheus_anonymous_loopback = True
    local = TestClient(app, client=("127.0.0.1", 40000))
    assert local.get(path).status_code == 200
    assert mon.client.get(path).status_code == 401  # "testclient" is not loopback


def test_recovery_policy_by_error_class() -> None:
    from connectors.sdk.errors import (  # noqa: PLC0415
        AuthenticationError,
        ConfigError,
        NetworkError,
        RateLimitError,
    )

    policy = RecoveryPolicy(max_attempts=3, backoff_base=1, max_waits=2, max_wait=60)
    attempts = Attempts()
    first = policy.decide(NetworkError("down"), attempts)
    assert first.retry
    assert 0.5 <= first.delay <= 1.0
    second = policy.decide(NetworkError("down"), attempts)
    assert second.retry
    assert 1.0 <= second.delay <= 2.0
    assert not policy.decide(NetworkError("down"), attempts).retry
    told = policy.decide(RateLimitError("429", retry_after=30), attempts)
    assert (told.retry, told.delay) == (True, 30)
    assert not policy.decide(RateLimitError("429", retry_after=61), attempts).retry
    refresh = policy.decide(AuthenticationError("401"), attempts)
    assert (refresh.retry, refresh.refresh) == (True, True)
    assert not policy.decide(AuthenticationError("401"), attempts).retry
    assert not policy.decide(ConfigError("bad"), Attempts()).retry
