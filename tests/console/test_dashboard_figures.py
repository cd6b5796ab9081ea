"""The dashboard's Qt-free figures: health classes, per-day buckets, alerts."""

from __future__ import annotations

import datetime as dt

from app.core.dashboard import alert_rows, daily_syncs, health_counts, health_of, merge_health


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


def test_alert_rows_name_instances_and_put_critical_unseen_first() -> None:
    instances = [{"id": "i1", "name": "hr-files"}, {"id": "i2", "name": "github"}]
    rows = alert_rows(
        [
            {"id": "a1", "severity": "warning", "status": "open", "instance_id": "i1",
             "title": "hr-files: 3 syncs failed in a row", "last_seen_at": "2026-01-02T00:00:00Z"},
            {"id": "a2", "severity": "critical", "status": "acknowledged", "instance_id": "i2",
             "title": "github is in error", "last_seen_at": "2026-01-03T00:00:00Z"},
            {"id": "a3", "severity": "critical", "status": "open", "instance_id": None,
             "title": "Version mismatch", "message": "agent 2 vs connector 1",
             "hint": "upgrade", "last_seen_at": "2026-01-01T00:00:00Z"},
        ],
        instances,
    )
    assert [(r["id"], r["level"], r["subject"]) for r in rows] == [
        ("a3", "error", "Agent"),
        ("a2", "error", "github"),
        ("a1", "warning", "hr-files"),
    ]
    assert (rows[0]["detail"], rows[0]["hint"]) == ("agent 2 vs connector 1", "upgrade")


def test_merge_health_takes_the_agents_verdict_and_keeps_a_fallback() -> None:
    rows = [{"id": "i1", "status": "active", "last_sync_status": "completed"},
            {"id": "i2", "status": "error"}]
    merge_health(rows, {"instance_health": [
        {"instance_id": "i1", "health": "degraded", "score": 72, "reason": "stale"}]})
    assert (rows[0]["health"], rows[0]["health_score"], rows[0]["health_reason"]) == (
        "degraded", 72, "stale")  # the agent's, though the row alone reads healthy
    assert rows[1]["health"] == "failing"  # not in the detail: read from the row
    assert health_counts(rows) == {"healthy": 0, "degraded": 1, "failing": 1, "paused": 0}
