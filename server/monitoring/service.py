"""The agent's monitoring loop: roll metrics up, evaluate alerts, prune old samples.

Started and stopped by the app's lifespan. Each pass re-rolls the current and the previous
hour and day (late samples land in them), evaluates every instance's alerts (hung and stale
syncs, expiring credentials appear without any sync ending), and deletes samples older than
the retention. Several agents may run it at once: rollups are idempotent and alerts are
unique while live.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import MetricSample, SyncExecution, SyncSeenKey, SyncStatus
from server.db.types import utcnow
from server.monitoring import alerts
from server.monitoring.config import MonitoringConfig
from server.monitoring.rollup import STEP, period_start, rollup

log = logging.getLogger(__name__)


class MonitoringService:
    def __init__(self, session_factory: sessionmaker[Session], config: MonitoringConfig
                 ) -> None:
        self.session_factory = session_factory
        self.config = config
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                                name="monitoring")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval_seconds)
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:  # the loop must survive a bad pass; it is logged
                log.exception("monitoring pass failed; trying again next interval")

    def run_once(self, now: dt.datetime | None = None) -> None:
        """One pass (in a worker thread): rollups, alerts, pruning; each in its own commit."""
        now = now or utcnow()
        with self.session_factory() as session:
            for granularity in ("hour", "day"):
                current = period_start(now, granularity)
                rollup(session, current - STEP[granularity], now + dt.timedelta(seconds=1),
                       granularity)
            session.commit()
        with self.session_factory() as session:
            alerts.evaluate_all(session, self.config, now)
            session.commit()
        with self.session_factory() as session:
            self.prune(session, now)
            session.commit()
        self.passes += 1

    def prune(self, session: Session, now: dt.datetime) -> None:
        """Samples past their retention; seen keys of failed syncs that can no longer be
        retried (a newer sync of the instance started)."""
        session.execute(delete(MetricSample).where(
            MetricSample.recorded_at < now - self.config.retention))
        failed = select(SyncExecution.id).where(SyncExecution.status == SyncStatus.FAILED)
        stale = [eid for eid in session.scalars(
            select(SyncSeenKey.sync_id).where(SyncSeenKey.sync_id.in_(failed)).distinct())
            if not _latest(session, eid)]
        if stale:
            session.execute(delete(SyncSeenKey).where(SyncSeenKey.sync_id.in_(stale)))


def _latest(session: Session, execution_id: object) -> bool:
    execution = session.get(SyncExecution, execution_id)
    if execution is None:
        return False
    newer = session.scalar(select(SyncExecution.id).where(
        SyncExecution.instance_id == execution.instance_id,
        SyncExecution.start_time > execution.start_time).limit(1))
    return newer is None
