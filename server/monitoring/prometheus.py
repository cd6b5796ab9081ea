"""The Prometheus text exposition (format 0.0.4) of the agent's integration health.

Counters come from tables that keep their history (sync executions); the request figures are
gauges over the last hour, computed from the raw samples. Label values are escaped as the
format requires (backslash, double quote, newline).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from server import __version__
from server.db.models import (
    Alert,
    AlertStatus,
    IntegrationInstance,
    MetricSample,
    SampleKind,
    SyncExecution,
    SyncStatus,
    Task,
    TaskStatus,
)
from server.db.types import utcnow
from server.monitoring.config import MonitoringConfig
from server.monitoring.health import all_health
from server.monitoring.rollup import percentile

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = dict[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[Labels, float]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        self.lines.extend(f"{name}{_labels(labels)} {_number(value)}"
                          for labels, value in samples)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(session: Session, config: MonitoringConfig, agent_id: str,
           now: dt.datetime | None = None) -> str:
    now = now or utcnow()
    out = Exposition()
    out.family("simpletrust_up", "gauge", "The agent is up (always 1).",
               [({"agent": agent_id, "version": __version__}, 1)])
    instances = {i.id: i for i in session.scalars(select(IntegrationInstance))}

    def who(instance_id: uuid.UUID) -> Labels:
        instance = instances.get(instance_id)
        return {"instance_id": str(instance_id),
                "instance": instance.name if instance else "",
                "connector": instance.connector.key if instance else ""}

    out.family("simpletrust_instance_info", "gauge", "Each instance and its status.",
               [({**who(i.id), "status": i.status.value}, 1) for i in instances.values()])
    healths, connectors = all_health(session, config, now)
    out.family("simpletrust_instance_health_score", "gauge",
               "Health score 0-100 (see docs/guides/monitoring.md).",
               [(who(uuid.UUID(h.instance_id)), h.score) for h in healths])
    out.family("simpletrust_instance_health_state", "gauge",
               "1 for the instance's current health state.",
               [({**who(uuid.UUID(h.instance_id)), "state": h.health}, 1) for h in healths])
    out.family("simpletrust_connector_health_score", "gauge",
               "Mean health score of a connector's active instances.",
               [({"connector": c.connector}, c.score) for c in connectors
                if c.score is not None])
    syncs = session.execute(select(SyncExecution.instance_id, SyncExecution.status, func.count(),
                                   func.coalesce(func.sum(SyncExecution.records_processed), 0))
                            .group_by(SyncExecution.instance_id, SyncExecution.status)).all()
    out.family("simpletrust_syncs_total", "counter", "Syncs by final or current status.",
               [({**who(iid), "status": status.value}, n) for iid, status, n, _ in syncs])
    records: dict[uuid.UUID, int] = defaultdict(int)
    for iid, status, _, processed in syncs:
        if status in (SyncStatus.COMPLETED, SyncStatus.FAILED, SyncStatus.CANCELLED):
            records[iid] += int(processed or 0)
    out.family("simpletrust_records_processed_total", "counter",
               "Records processed by finished syncs.",
               [(who(iid), n) for iid, n in records.items()])
    last = session.execute(select(SyncExecution.instance_id, func.max(SyncExecution.end_time))
                           .where(SyncExecution.status == SyncStatus.COMPLETED)
                           .group_by(SyncExecution.instance_id)).all()
    out.family("simpletrust_last_success_timestamp_seconds", "gauge",
               "End of the last completed sync (Unix time).",
               [(who(iid), when.timestamp()) for iid, when in last if when is not None])
    _requests(session, out, who, now)
    active = session.execute(select(Alert.severity, Alert.kind, func.count())
                             .where(Alert.status != AlertStatus.RESOLVED)
                             .group_by(Alert.severity, Alert.kind)).all()
    out.family("simpletrust_alerts_active", "gauge", "Open or acknowledged alerts.",
               [({"severity": sev.value, "kind": kind.value}, n) for sev, kind, n in active])
    open_tasks = session.scalar(select(func.count()).select_from(Task)
                                .where(Task.status == TaskStatus.OPEN)) or 0
    out.family("simpletrust_tasks_open", "gauge", "Tasks waiting for a person.",
               [({}, open_tasks)])
    return out.text()


def _requests(session: Session, out: Exposition, who: Callable[[uuid.UUID], Labels],
              now: dt.datetime) -> None:
    rows = session.execute(select(
        MetricSample.instance_id, MetricSample.duration_ms, MetricSample.ok,
        MetricSample.throttled, MetricSample.bytes_sent, MetricSample.bytes_received)
        .where(MetricSample.kind == SampleKind.REQUEST,
               MetricSample.recorded_at >= now - dt.timedelta(hours=1))).all()
    per: dict[uuid.UUID, list[Row[uuid.UUID, float, bool, bool, int, int]]] = defaultdict(list)
    for row in rows:
        per[row.instance_id].append(row)
    figures: dict[str, list[tuple[Labels, float]]] = defaultdict(list)
    for iid, items in per.items():
        labels = who(iid)
        latencies = sorted(float(r.duration_ms) for r in items)
        figures["requests"].append((labels, len(items)))
        figures["errors"].append((labels, sum(1 for r in items
                                              if not r.ok and not r.throttled)))
        figures["throttled"].append((labels, sum(1 for r in items if r.throttled)))
        figures["bytes"].append((labels, sum(int(r.bytes_sent) + int(r.bytes_received)
                                             for r in items)))
        figures["p50"].append((labels, percentile(latencies, 50) / 1000))
        figures["p95"].append((labels, percentile(latencies, 95) / 1000))
    out.family("simpletrust_http_requests_last_hour", "gauge",
               "HTTP attempts to remote systems in the last hour.", figures["requests"])
    out.family("simpletrust_http_errors_last_hour", "gauge",
               "Failed HTTP attempts (not throttled) in the last hour.", figures["errors"])
    out.family("simpletrust_http_throttled_last_hour", "gauge",
               "Throttled HTTP attempts (429, 503 with Retry-After) in the last hour.",
               figures["throttled"])
    out.family("simpletrust_http_bytes_last_hour", "gauge",
               "Bytes sent and received in the last hour.", figures["bytes"])
    out.family("simpletrust_http_response_time_p50_seconds", "gauge",
               "Median HTTP latency over the last hour.", figures["p50"])
    out.family("simpletrust_http_response_time_p95_seconds", "gauge",
               "95th percentile HTTP latency over the last hour.", figures["p95"])
