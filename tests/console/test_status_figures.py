"""The status dashboard's figures from plain API rows (Qt-free)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.credentials.core import credential_test_summary, decorate, expiry_state, expiry_warnings
from app.status.figures import compute, version_alerts

TODAY = dt.date(2026, 11, 26)
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def _run(
    instance: str, day: int, status: str, records: int, errors: int = 0, seconds: int = 10
) -> dict[str, Any]:
    start = dt.datetime(2026, 11, day, 8, 0, tzinfo=dt.UTC)
    return {
        "instance_id": instance,
        "status": status,
        "start_time": start.isoformat(),
        "end_time": (start + dt.timedelta(seconds=seconds)).isoformat(),
        "records_processed": records,
        "error_count": errors,
    }


INSTANCES = [
    {"id": "a", "name": "alpha", "status": "active", "last_sync_status": "completed"},
    {"id": "b", "name": "beta", "status": "error", "last_sync_status": "failed"},
]


def test_uptime_errors_durations_and_volume_from_syncs() -> None:
    runs = [
        _run("a", 25, "completed", 100, errors=5, seconds=10),
        _run("a", 26, "completed", 50, seconds=30),
        _run("b", 26, "failed", 0, seconds=2),
        _run("b", 26, "completed", 10),
        _run("a", 10, "completed", 999),  # outside the 7 days: ignored in the series
    ]
    figures = compute(instances=INSTANCES, executions=runs, days=7, today=TODAY, now=NOW)
    assert figures.days[-1] == TODAY
    assert figures.volume[-2:] == [100, 60]
    assert figures.error_rate[-2] == 5.0
    assert figures.response_unit == "s"
    assert figures.response[-1] == (30 + 2 + 10) / 3
    assert figures.uptime["alpha"][-2:] == [100.0, 100.0]
    assert figures.uptime["beta"][-1] == 50.0
    assert figures.uptime["beta"][0] is None
    rows = {r["name"]: r for r in figures.indicators}
    assert rows["beta"]["health"] == "failing"
    assert rows["beta"]["uptime"] == 50.0
    assert rows["alpha"]["records"] == 100 + 50 + 999


def test_recorded_metrics_win_over_syncs() -> None:
    metrics = [
        {
            "instance_id": "a",
            "period_start": "2026-11-26T00:00:00Z",
            "availability_percentage": "99.5",
            "average_response_time": 120,
        }
    ]
    runs = [_run("a", 26, "failed", 0)]
    figures = compute(instances=INSTANCES, executions=runs, metrics=metrics, today=TODAY)
    assert figures.uptime["alpha"][-1] == 99.5
    assert figures.response_unit == "ms"
    assert figures.response[-1] == 120


def test_schedules_soonest_first_and_events_counted() -> None:
    schedules = [
        {
            "instance_id": "a",
            "schedule_type": "interval",
            "interval_minutes": 60,
            "next_execution": "2026-11-26T13:00:00Z",
            "is_active": True,
        },
        {
            "instance_id": "b",
            "schedule_type": "cron",
            "cron_expression": "0 2 * * *",
            "timezone": "UTC",
            "next_execution": "2026-11-26T12:30:00Z",
            "is_active": False,
        },
        {
            "instance_id": "b",
            "schedule_type": "event",
            "event_trigger": "github.push",
            "next_execution": None,
            "is_active": True,
        },
    ]
    events = [{"type": "sync.completed"}] * 3 + [{"type": "record.created"}]
    figures = compute(
        instances=INSTANCES, executions=[], schedules=schedules, events=events, today=TODAY, now=NOW
    )
    assert [s["when"] for s in figures.schedules] == [
        "cron 0 2 * * * (UTC)",
        "every 60 min",
        "on github.push",
    ]
    assert figures.schedules[0]["minutes_until"] == 30.0
    assert figures.schedules[0]["state"] == "inactive"
    assert figures.events == [("sync.completed", 3), ("record.created", 1)]


def test_version_alerts() -> None:
    alerts = version_alerts(
        agents=[
            {"hostname": "vm1", "pid": 1, "version": "0.2.0", "state": "running"},
            {"hostname": "vm2", "pid": 2, "version": "0.1.0", "state": "lost"},
        ],
        connectors=[
            {
                "id": "c1",
                "name": "GitHub",
                "available": True,
                "capabilities": {"api_versions": ["2022-11-28"]},
            },
            {"id": "c2", "name": "Custom", "available": False},
        ],
        instances=[
            {
                "id": "a",
                "name": "alpha",
                "connector_id": "c1",
                "version_compatibility": "2019-01-01",
            }
        ],
        test_logs=[
            {
                "instance_id": "a",
                "timestamp": "2026-11-26T10:00:00Z",
                "details": {
                    "items": [
                        {
                            "name": "api_version",
                            "status": "failed",
                            "cause": "server speaks v9",
                            "hint": "upgrade",
                        }
                    ]
                },
            },
        ],
        agent_version="0.1.0",
    )
    messages = [(a["level"], a["subject"], a["message"]) for a in alerts]
    assert messages[0] == ("error", "agent vm2 (pid 2)", "stopped heartbeating")
    assert (
        "warning",
        "agent vm1 (pid 1)",
        "runs version 0.2.0; the agent answering runs 0.1.0",
    ) in messages
    assert ("warning", "Custom", "connector package missing on the agent") in messages
    assert (
        "warning",
        "alpha",
        "expects API version 2019-01-01; the connector speaks 2022-11-28",
    ) in messages
    assert ("warning", "alpha", "server speaks v9 — upgrade") in messages


def test_credential_rows_expiry_and_test_summary() -> None:
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "name": "old",
            "expiration": (now - dt.timedelta(days=1)).isoformat(),
            "used_by": [{"id": "1", "name": "alpha"}],
            "credentials": {"username": "svc"},
            "secret_hints": {"password": "••••"},
            "auth_type": "basic",
        },
        {
            "name": "soon",
            "expiration": (now + dt.timedelta(days=2)).isoformat(),
            "expires_soon": True,
            "used_by": [],
            "auth_type": "bearer",
        },
        {"name": "fine", "expiration": None, "auth_type": "bearer"},
    ]
    assert [expiry_state(r) for r in rows] == ["expired", "expires soon", ""]
    warnings = expiry_warnings(rows)
    assert len(warnings) == 2
    assert warnings[0].startswith("old: expired ")
    assert warnings[0].endswith("(used by alpha)")
    assert warnings[1].endswith("(used by not used)")
    shown = decorate(rows)
    assert shown[0]["fields_text"] == "username=svc; password ••••"
    assert shown[0]["auth_title"] == "User name and password"
    ok, text = credential_test_summary(
        {
            "ok": False,
            "result": {
                "status": "failed",
                "message": "rejected",
                "failure": "bad_credentials",
                "hint": "renew it",
            },
        }
    )
    assert not ok
    assert text == "failed: rejected [bad_credentials]\nHint: renew it"
