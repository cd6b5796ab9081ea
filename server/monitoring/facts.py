"""What health scores and alerts look at for one instance, read in a few queries."""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import (
    AuthenticationConfig,
    IntegrationInstance,
    MetricSample,
    SampleKind,
    ScheduleType,
    SyncExecution,
    SyncSchedule,
    SyncStatus,
)
from server.monitoring.rollup import percentile
from server.services.schedules import cron_trigger

RECENT = 10
WINDOW = dt.timedelta(hours=24)


@dataclass
class InstanceFacts:
    instance: IntegrationInstance
    now: dt.datetime
    #: Finished (completed or failed) syncs, newest first, at most RECENT.
    recent: list[SyncExecution] = field(default_factory=list)
    running: SyncExecution | None = None
    last_success: dt.datetime | None = None
    #: How often the instance's schedules expect it to sync (None: no schedule).
    expected_every: dt.timedelta | None = None
    usual_duration: float | None = None  # seconds, median of recent completed syncs
    requests_24h: int = 0
    throttled_24h: int = 0
    throttled_1h: int = 0
    p95_ms_24h: float | None = None
    credential: AuthenticationConfig | None = None

    @property
    def consecutive_failures(self) -> int:
        count = 0
        for execution in self.recent:
            if execution.status != SyncStatus.FAILED:
                break
            count += 1
        return count

    @property
    def last_error(self) -> dict[str, Any]:
        if self.recent and self.recent[0].status == SyncStatus.FAILED:
            return dict(self.recent[0].error_details or {})
        return {}


def schedule_interval(schedule: SyncSchedule, now: dt.datetime) -> dt.timedelta | None:
    if schedule.schedule_type == ScheduleType.INTERVAL and schedule.interval_minutes:
        return dt.timedelta(minutes=schedule.interval_minutes)
    if schedule.schedule_type == ScheduleType.CRON and schedule.cron_expression:
        try:
            trigger = cron_trigger(schedule.cron_expression, schedule.timezone)
        except ValueError:
            return None
        first = trigger.get_next_fire_time(None, now)
        second = trigger.get_next_fire_time(first, first + dt.timedelta(seconds=1)) \
            if first else None
        if first and second:
            gap: dt.timedelta = second - first
            return max(dt.timedelta(minutes=1), gap)
    return None


def gather(session: Session, instance: IntegrationInstance, now: dt.datetime, *,
           requests_24h: bool = True) -> InstanceFacts:
    """The instance's facts. ``requests_24h=False`` (alerts, at every sync's end) counts only
    the last hour's throttled requests, in the database: the 24 h figures (health scores) read
    every request sample of a day, which grows with the instance's traffic."""
    facts = InstanceFacts(instance=instance, now=now)
    iid: uuid.UUID = instance.id
    facts.recent = list(session.scalars(
        select(SyncExecution)
        .where(SyncExecution.instance_id == iid,
               SyncExecution.status.in_((SyncStatus.COMPLETED, SyncStatus.FAILED)))
        .order_by(SyncExecution.start_time.desc(), SyncExecution.id).limit(RECENT)))
    facts.running = session.scalar(select(SyncExecution).where(
        SyncExecution.instance_id == iid, SyncExecution.status == SyncStatus.RUNNING).limit(1))
    facts.last_success = session.scalar(select(func.max(SyncExecution.end_time)).where(
        SyncExecution.instance_id == iid, SyncExecution.status == SyncStatus.COMPLETED))
    durations = [(e.end_time - e.start_time).total_seconds() for e in facts.recent
                 if e.status == SyncStatus.COMPLETED and e.end_time is not None]
    facts.usual_duration = statistics.median(durations) if durations else None
    intervals = [schedule_interval(s, now) for s in session.scalars(select(SyncSchedule).where(
        SyncSchedule.instance_id == iid, SyncSchedule.is_active.is_(True)))]
    known = [i for i in intervals if i is not None]
    facts.expected_every = min(known) if known else None
    hour_ago = now - dt.timedelta(hours=1)
    if requests_24h:
        rows = session.execute(select(MetricSample.duration_ms, MetricSample.throttled,
                                      MetricSample.recorded_at).where(
            MetricSample.instance_id == iid, MetricSample.kind == SampleKind.REQUEST,
            MetricSample.recorded_at >= now - WINDOW)).all()
        facts.requests_24h = len(rows)
        facts.throttled_24h = sum(1 for r in rows if r.throttled)
        facts.throttled_1h = sum(1 for r in rows if r.throttled and r.recorded_at >= hour_ago)
        if rows:
            facts.p95_ms_24h = percentile(sorted(float(r.duration_ms) for r in rows), 95)
    else:
        facts.throttled_1h = session.scalar(select(func.count()).select_from(MetricSample).where(
            MetricSample.instance_id == iid, MetricSample.kind == SampleKind.REQUEST,
            MetricSample.recorded_at >= hour_ago, MetricSample.throttled.is_(True))) or 0
    if instance.auth_config_id is not None:
        facts.credential = session.get(AuthenticationConfig, instance.auth_config_id)
    return facts


def human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"
