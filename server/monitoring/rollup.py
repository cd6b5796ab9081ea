"""Rolling raw samples up into ``ConnectorMetrics`` rows, one per instance and hour or day.

Every figure of a rollup is computed from the raw samples of its period (the day's
percentiles too, not averaged from hours), so a period can be re-rolled at any time with the
same result; the agent re-rolls the current and the previous period on each pass.

Definitions (``api_calls`` = HTTP attempts in the period):

* ``availability_percentage``: attempts the remote system answered without failing on its
  side (no network error or timeout, no 5xx), in percent of attempts; with no attempts, the
  share of completed syncs; 100 when nothing happened;
* ``error_rate``: attempts that failed (network error, timeout, any 4xx/5xx except
  throttling), in percent of attempts;
* ``average_response_time`` / ``response_time_p50`` / ``_p95``: of attempt latencies, in ms
  (nearest-rank percentiles);
* ``throttling_events``: attempts answered 429 (or 503 with ``Retry-After``);
* ``data_transferred``: bytes sent plus bytes received;
* ``total_operations``: attempts plus syncs; ``records_processed``, ``syncs``,
  ``failed_syncs``, ``average_sync_duration`` (ms): of the syncs that ended in the period.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import ConnectorMetrics, MetricSample, SampleKind

Granularity = Literal["hour", "day"]
STEP = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}
_PLACES = Decimal("0.001")


def period_start(moment: dt.datetime, granularity: Granularity) -> dt.datetime:
    moment = moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if granularity == "day" else moment


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``values`` (0 for none)."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[rank - 1]


def _percent(part: int, whole: int) -> Decimal:
    return (Decimal(100) * part / whole).quantize(_PLACES)


def summarise(samples: Sequence[Any]) -> dict[str, Any]:
    """The figures of one instance and period (see the module docstring)."""
    requests = [s for s in samples if s.kind == SampleKind.REQUEST]
    syncs = [s for s in samples if s.kind == SampleKind.SYNC]
    latencies = sorted(float(s.duration_ms) for s in requests)
    calls = len(requests)
    errors = sum(1 for s in requests if not s.ok and not s.throttled)
    unavailable = sum(1 for s in requests if s.unavailable)
    if calls:
        availability = _percent(calls - unavailable, calls)
    elif syncs:
        availability = _percent(sum(1 for s in syncs if s.ok), len(syncs))
    else:
        availability = Decimal(100).quantize(_PLACES)
    durations = [float(s.duration_ms) for s in syncs]
    return {
        "availability_percentage": availability,
        "average_response_time": round(sum(latencies) / calls) if calls else 0,
        "response_time_p50": round(percentile(latencies, 50)),
        "response_time_p95": round(percentile(latencies, 95)),
        "error_rate": _percent(errors, calls) if calls else Decimal(0).quantize(_PLACES),
        "total_operations": calls + len(syncs),
        "api_calls": calls,
        "data_transferred": sum(s.bytes_sent + s.bytes_received for s in requests),
        "throttling_events": sum(1 for s in requests if s.throttled),
        "records_processed": sum(s.records for s in syncs),
        "syncs": len(syncs),
        "failed_syncs": sum(1 for s in syncs if not s.ok),
        "average_sync_duration": round(sum(durations) / len(durations)) if durations else 0,
    }


def rollup(session: Session, start: dt.datetime, end: dt.datetime,
           granularity: Granularity, *, instance_id: uuid.UUID | None = None) -> int:
    """(Re)write the rollups of every period of ``granularity`` overlapping [start, end).

    Returns the number of rows written; periods without samples get no row.
    """
    step = STEP[granularity]
    written = 0
    bucket = period_start(start, granularity)
    while bucket < end:
        stmt = select(MetricSample).where(MetricSample.recorded_at >= bucket,
                                          MetricSample.recorded_at < bucket + step)
        if instance_id is not None:
            stmt = stmt.where(MetricSample.instance_id == instance_id)
        by_instance: dict[uuid.UUID, list[MetricSample]] = defaultdict(list)
        for sample in session.scalars(stmt):
            by_instance[sample.instance_id].append(sample)
        for owner, samples in by_instance.items():
            figures = summarise(samples)
            row = session.scalar(select(ConnectorMetrics).where(
                ConnectorMetrics.instance_id == owner, ConnectorMetrics.period_start == bucket,
                ConnectorMetrics.period_end == bucket + step))
            if row is None:
                row = ConnectorMetrics(id=uuid.uuid4(), instance_id=owner, period_start=bucket,
                                       period_end=bucket + step, granularity=granularity)
                session.add(row)
            for name, value in figures.items():
                setattr(row, name, value)
            written += 1
        bucket += step
    session.flush()
    return written
