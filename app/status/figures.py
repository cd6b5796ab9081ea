"""Figures of the connection status dashboard, from plain API rows (Qt-free, unit-tested).

Sources: instances merged with their `/status`, sync executions, `/metrics` periods (when the
agent records them), schedules, events, agents, connectors and the `instance.test` log
entries. Where the agent keeps no metrics, availability and durations come from the syncs.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.dashboard import health_of
from app.core.formatting import parse_timestamp

JsonDict = dict[str, Any]
FINISHED = ("completed", "failed")


def day_span(days: int, today: dt.date | None = None) -> list[dt.date]:
    last = today or dt.datetime.now(dt.UTC).date()
    return [last - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]


def _day(value: object) -> dt.date | None:
    parsed = parse_timestamp(value)
    return parsed.astimezone(dt.UTC).date() if parsed else None


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def duration_s(run: Mapping[str, Any]) -> float | None:
    start, end = parse_timestamp(run.get("start_time")), parse_timestamp(run.get("end_time"))
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


@dataclass
class StatusFigures:
    days: list[dt.date] = field(default_factory=list)
    indicators: list[JsonDict] = field(default_factory=list)
    uptime: dict[str, list[float | None]] = field(default_factory=dict)
    error_rate: list[float] = field(default_factory=list)
    response: list[float] = field(default_factory=list)
    response_unit: str = "s"
    volume: list[int] = field(default_factory=list)
    events: list[tuple[str, int]] = field(default_factory=list)
    schedules: list[JsonDict] = field(default_factory=list)
    alerts: list[JsonDict] = field(default_factory=list)


def instance_figures(instance: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> JsonDict:
    """One row of the live status table: health and the window's uptime, errors, speed."""
    finished = [r for r in runs if r.get("status") in FINISHED]
    completed = sum(1 for r in finished if r.get("status") == "completed")
    records = sum(int(r.get("records_processed") or 0) for r in runs)
    errors = sum(int(r.get("error_count") or 0) for r in runs)
    durations = [d for d in (duration_s(r) for r in finished) if d is not None]
    row = dict(instance)
    row["health"] = instance.get("health") or health_of(instance)  # the agent's, if merged
    row["uptime"] = 100.0 * completed / len(finished) if finished else None
    row["error_rate"] = 100.0 * errors / records if records else (0.0 if finished else None)
    row["avg_duration_s"] = _mean(durations)
    row["records"] = records
    row["syncs"] = len(finished)
    return row


def compute(
    *,
    instances: Sequence[Mapping[str, Any]],
    executions: Iterable[Mapping[str, Any]],
    metrics: Iterable[Mapping[str, Any]] = (),
    schedules: Iterable[Mapping[str, Any]] = (),
    events: Iterable[Mapping[str, Any]] = (),
    agents: Iterable[Mapping[str, Any]] = (),
    connectors: Iterable[Mapping[str, Any]] = (),
    test_logs: Iterable[Mapping[str, Any]] = (),
    agent_version: str | None = None,
    days: int = 7,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> StatusFigures:
    """Everything the dashboard draws, for the last ``days`` days (UTC)."""
    span = day_span(days, today)
    index = {d: i for i, d in enumerate(span)}
    names = {str(i.get("id")): str(i.get("name")) for i in instances}
    runs_by_instance: dict[str, list[Mapping[str, Any]]] = {k: [] for k in names}
    volume = [0] * days
    processed = [0] * days
    failed_records = [0] * days
    durations: list[list[float]] = [[] for _ in span]
    finished: dict[str, list[list[bool]]] = {k: [[] for _ in span] for k in names}
    for run in executions:
        key = str(run.get("instance_id"))
        runs_by_instance.setdefault(key, []).append(run)
        i = index.get(_day(run.get("start_time")) or dt.date.min)
        if i is None:
            continue
        volume[i] += int(run.get("records_processed") or 0)
        processed[i] += int(run.get("records_processed") or 0)
        failed_records[i] += int(run.get("error_count") or 0)
        if run.get("status") in FINISHED:
            finished.setdefault(key, [[] for _ in span])[i].append(run.get("status") == "completed")
            seconds = duration_s(run)
            if seconds is not None:
                durations[i].append(seconds)

    uptime, response_ms = _availability(metrics, finished, names, index)
    if any(response_ms):
        response = [_mean(v) or 0.0 for v in response_ms]
        unit = "ms"
    else:
        response = [_mean(v) or 0.0 for v in durations]
        unit = "s"
    error_rate = [
        100.0 * f / p if p else 0.0 for f, p in zip(failed_records, processed, strict=True)
    ]
    indicators = [
        instance_figures(i, runs_by_instance.get(str(i.get("id")), [])) for i in instances
    ]
    event_counts = Counter(str(e.get("type")) for e in events)
    return StatusFigures(
        days=span,
        indicators=indicators,
        uptime=uptime,
        error_rate=error_rate,
        response=response,
        response_unit=unit,
        volume=volume,
        events=event_counts.most_common(8),
        schedules=schedule_rows(schedules, names, now),
        alerts=version_alerts(
            agents=agents,
            connectors=connectors,
            instances=instances,
            test_logs=test_logs,
            agent_version=agent_version,
        ),
    )


def _availability(
    metrics: Iterable[Mapping[str, Any]],
    finished: Mapping[str, list[list[bool]]],
    names: Mapping[str, str],
    index: Mapping[dt.date, int],
) -> tuple[dict[str, list[float | None]], list[list[float]]]:
    """Per instance and day: recorded availability where the agent keeps metrics, else the
    share of successful syncs; and the recorded response times per day."""
    days = len(index)
    measured: dict[str, list[list[float]]] = {}
    response_ms: list[list[float]] = [[] for _ in range(days)]
    for period in metrics:
        i = index.get(_day(period.get("period_start")) or dt.date.min)
        if i is None:
            continue
        key = str(period.get("instance_id"))
        value = _number(period.get("availability_percentage"))
        if value is not None:
            measured.setdefault(key, [[] for _ in range(days)])[i].append(value)
        rt = _number(period.get("average_response_time"))
        if rt is not None and rt > 0:
            response_ms[i].append(rt)
    uptime: dict[str, list[float | None]] = {}
    empty: list[list[Any]] = [[] for _ in range(days)]
    for key, name in names.items():
        series: list[float | None] = []
        for i in range(days):
            recorded = measured.get(key, empty)[i]
            outcomes = finished.get(key, empty)[i]
            if recorded:
                series.append(sum(recorded) / len(recorded))
            elif outcomes:
                series.append(100.0 * sum(outcomes) / len(outcomes))
            else:
                series.append(None)
        if any(v is not None for v in series):
            uptime[name] = series
    return uptime, response_ms


def describe_schedule(row: Mapping[str, Any]) -> str:
    kind = row.get("schedule_type")
    if kind == "interval":
        return f"every {row.get('interval_minutes')} min"
    if kind == "cron":
        return f"cron {row.get('cron_expression')} ({row.get('timezone') or 'UTC'})"
    if kind == "event":
        return f"on {row.get('event_trigger')}"
    return str(kind)


def schedule_rows(
    schedules: Iterable[Mapping[str, Any]],
    names: Mapping[str, str],
    now: dt.datetime | None = None,
) -> list[JsonDict]:
    """Schedules with their instance's name, soonest next run first."""
    moment = now or dt.datetime.now(dt.UTC)
    rows = []
    for schedule in schedules:
        row = dict(schedule)
        row["instance"] = names.get(str(schedule.get("instance_id")), "?")
        row["when"] = describe_schedule(schedule)
        upcoming = parse_timestamp(schedule.get("next_execution"))
        row["minutes_until"] = (
            max(0.0, (upcoming - moment).total_seconds() / 60) if upcoming else None
        )
        row["state"] = "active" if schedule.get("is_active") else "inactive"
        rows.append(row)
    return sorted(rows, key=lambda r: (r["minutes_until"] is None, r["minutes_until"] or 0.0))


def version_alerts(
    *,
    agents: Iterable[Mapping[str, Any]],
    connectors: Iterable[Mapping[str, Any]],
    instances: Iterable[Mapping[str, Any]],
    test_logs: Iterable[Mapping[str, Any]],
    agent_version: str | None,
) -> list[JsonDict]:
    """Version and compatibility problems, worst first."""
    found: list[JsonDict] = []
    for agent in agents:
        name = f"agent {agent.get('hostname')} (pid {agent.get('pid')})"
        if agent.get("state") == "lost":
            found.append({"level": "error", "subject": name, "message": "stopped heartbeating"})
        elif agent_version and agent.get("version") and agent.get("version") != agent_version:
            found.append(
                {
                    "level": "warning",
                    "subject": name,
                    "message": f"runs version {agent.get('version')}; "
                    f"the agent answering runs {agent_version}",
                }
            )
    by_id = {str(c.get("id")): c for c in connectors}
    for connector in by_id.values():
        if connector.get("available") is False:
            found.append(
                {
                    "level": "warning",
                    "subject": str(connector.get("name")),
                    "message": "connector package missing on the agent",
                }
            )
    names = {str(i.get("id")): str(i.get("name")) for i in instances}
    for instance in instances:
        wanted = instance.get("version_compatibility")
        owner = by_id.get(str(instance.get("connector_id"))) or {}
        supported = (owner.get("capabilities") or {}).get("api_versions") or []
        if wanted and supported and wanted not in supported:
            found.append(
                {
                    "level": "warning",
                    "subject": str(instance.get("name")),
                    "message": f"expects API version {wanted}; the connector speaks "
                    + ", ".join(map(str, supported)),
                }
            )
    latest: dict[str, Mapping[str, Any]] = {}
    for entry in sorted(test_logs, key=lambda e: str(e.get("timestamp"))):
        latest[str(entry.get("instance_id"))] = entry
    for instance_id, entry in latest.items():
        details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
        for item in (details or {}).get("items") or []:
            if item.get("name") == "api_version" and item.get("status") == "failed":
                found.append(
                    {
                        "level": "warning",
                        "subject": names.get(instance_id, instance_id),
                        "message": str(item.get("cause") or "API version not supported")
                        + (f" — {item['hint']}" if item.get("hint") else ""),
                    }
                )
    return sorted(found, key=lambda a: a["level"] != "error")
