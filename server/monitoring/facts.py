"""What health scores and alerts look at for one instance, read in a few queries."""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from sqlalchemy import bindparam, func, literal, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from server.db.models import (
    Alert,
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


class Finished(NamedTuple):
    """What the facts use of a finished sync (a row, not an ORM object: ten are read at the end
    of every sync, and loading them whole, stats included, was most of the alerts' cost)."""

    id: uuid.UUID
    status: SyncStatus
    start_time: dt.datetime
    end_time: dt.datetime | None
    error_details: dict[str, Any] | None
    error_count: int | None


class Running(NamedTuple):
    id: uuid.UUID
    start_time: dt.datetime


class Timing(Protocol):
    """The schedule fields :func:`schedule_interval` reads (a SyncSchedule or a row)."""

    @property
    def schedule_type(self) -> ScheduleType: ...
    @property
    def interval_minutes(self) -> int | None: ...
    @property
    def cron_expression(self) -> str | None: ...
    @property
    def timezone(self) -> str: ...


_E, _S, _M = SyncExecution, SyncSchedule, MetricSample
_IID: BindParameter[uuid.UUID] = bindparam("iid")
#: Built once: a statement's cache key is then computed once, not at every sync's end.
_RECENT = (select(_E.id, _E.status, _E.start_time, _E.end_time, _E.error_details,
                  _E.error_count)
           .where(_E.instance_id == _IID,
                  _E.status.in_((SyncStatus.COMPLETED, SyncStatus.FAILED)))
           .order_by(_E.start_time.desc(), _E.id).limit(RECENT))
_LAST_SUCCESS = select(func.max(_E.end_time)).where(
    _E.instance_id == _IID, _E.status == SyncStatus.COMPLETED).scalar_subquery()
_THROTTLED_1H = select(func.count()).select_from(_M).where(
    _M.instance_id == _IID, _M.kind == SampleKind.REQUEST,
    _M.recorded_at >= bindparam("hour_ago"), _M.throttled.is_(True)).scalar_subquery()
_RUN = (select(_E.id, _E.start_time)
        .where(_E.instance_id == _IID, _E.status == SyncStatus.RUNNING).limit(1).subquery())
_LIVE_ALERTS = select(Alert.id).where(Alert.instance_id == _IID,
                                      Alert.active_key.is_not(None)).exists()
#: The running sync, the last success, the hour's throttled requests and whether any alert
#: is live, in one round trip (one row: the running sync's columns are NULL without one).
_COUNTS = (select(_RUN.c.id, _RUN.c.start_time, _LAST_SUCCESS, _THROTTLED_1H, _LIVE_ALERTS)
           .select_from(select(literal(1).label("one")).subquery())
           .outerjoin(_RUN, true()))
_SCHEDULES = (select(_S.schedule_type, _S.interval_minutes, _S.cron_expression, _S.timezone)
              .where(_S.instance_id == _IID, _S.is_active.is_(True)))


@dataclass
class InstanceFacts:
    instance: IntegrationInstance
    now: dt.datetime
    #: Finished (completed or failed) syncs, newest first, at most RECENT.
    recent: list[Finished] = field(default_factory=list)
    running: Running | None = None
    last_success: dt.datetime | None = None
    #: How often the instance's schedules expect it to sync (None: no schedule).
    expected_every: dt.timedelta | None = None
    usual_duration: float | None = None  # seconds, median of recent completed syncs
    requests_24h: int = 0
    throttled_24h: int = 0
    throttled_1h: int = 0
    p95_ms_24h: float | None = None
    credential: AuthenticationConfig | None = None
    #: Whether the instance has an alert not yet resolved (none to load when it has not).
    live_alerts: bool = True

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


def schedule_interval(schedule: Timing, now: dt.datetime) -> dt.timedelta | None:
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
    hour_ago = now - dt.timedelta(hours=1)
    conn = session.connection()  # plain rows: nothing here is changed through the ORM
    facts.recent = [Finished(*row) for row in conn.execute(_RECENT, {"iid": iid})]
    run_id, run_start, last_success, throttled_1h, live = conn.execute(
        _COUNTS, {"iid": iid, "hour_ago": hour_ago}).one()
    facts.running = Running(run_id, run_start) if run_id is not None else None
    facts.last_success = last_success
    facts.live_alerts = bool(live)
    durations = [(e.end_time - e.start_time).total_seconds() for e in facts.recent
                 if e.status == SyncStatus.COMPLETED and e.end_time is not None]
    facts.usual_duration = statistics.median(durations) if durations else None
    intervals = [schedule_interval(s, now) for s in conn.execute(_SCHEDULES, {"iid": iid})]
    known = [i for i in intervals if i is not None]
    facts.expected_every = min(known) if known else None
    facts.throttled_1h = int(throttled_1h or 0)
    if requests_24h:
        rows = session.execute(select(MetricSample.duration_ms, MetricSample.throttled,
                                      MetricSample.recorded_at).where(
            MetricSample.instance_id == iid, MetricSample.kind == SampleKind.REQUEST,
            MetricSample.recorded_at >= now - WINDOW)).all()
        facts.requests_24h = len(rows)
        facts.throttled_24h = sum(1 for r in rows if r.throttled)
        if rows:
            facts.p95_ms_24h = percentile(sorted(float(r.duration_ms) for r in rows), 95)
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
