"""The dashboard's Qt-free figures: health classes, per-day buckets, alerts."""

from __future__ import annotations

import datetime as dt

from app.core.dashboard import alerts, daily_syncs, health_counts, health_of


def test_health_classes() -> None:
    assert health_of({"status": "error"}) == "failing"
    assert health_of({"status": "active", "last_sync_status": "failed"}) == "failing"
    assert health_of({"status": "active", "last_sync_errors": 3}) == "degraded"
    assert health_of({"status": "active", "last_sync_errors": 0}) == "healthy"
    assert health_of({"status": "configuring"}) == "paused"
    assert health_counts([{"status": "active"}, {"status": "error"}]) == {
        "healthy": 1,
        "degraded": 0,
        "failing": 1,
        "paused": 0,
    }


def test_daily_buckets_fill_every_day_and_ignore_old_runs() -> None:
    today = dt.date(2026, 11, 26)
    runs = [
        {"start_time": "2026-11-26T10:00:00Z", "status": "completed", "records_processed": 5},
        {"start_time": "2026-11-26T11:00:00Z", "status": "failed", "records_processed": None},
        {"start_time": "2026-11-24T23:59:59+00:00", "status": "completed", "records_processed": 2},
        {"start_time": "2026-10-01T00:00:00Z", "status": "completed", "records_processed": 99},
        {"start_time": "2026-11-26T12:00:00Z", "status": "running"},
    ]
    daily = daily_syncs(runs, days=3, today=today)
    assert daily.days == [dt.date(2026, 11, 24), dt.date(2026, 11, 25), today]
    assert daily.completed == [1, 0, 1]
    assert daily.failed == [0, 0, 1]
    assert daily.records == [2, 0, 5]
    assert daily.error_rate == [0.0, 0.0, 50.0]


def test_alerts_worst_first() -> None:
    found = alerts(
        [
            {"name": "a", "status": "active", "last_sync_errors": 2},
            {"name": "b", "status": "error", "error_message": "token expired"},
        ],
        [{"name": "vault", "expires_soon": True, "expiration": "2026-12-01"}],
    )
    assert [(a["level"], a["subject"]) for a in found] == [
        ("error", "b"),
        ("warning", "vault"),
        ("warning", "a"),
    ]
    assert found[0]["message"] == "token expired"
