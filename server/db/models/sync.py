"""Schedules and the executions they (or people, or events) start."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, Timestamps, UuidPk, enum_column
from server.db.models.enums import ScheduleType, SyncStatus, TriggerType
from server.db.types import utcnow


class SyncSchedule(UuidPk, Timestamps, Base):
    __tablename__ = "sync_schedules"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), index=True
    )
    schedule_type: Mapped[ScheduleType] = mapped_column(
        enum_column(ScheduleType, "schedule_type")
    )
    interval_minutes: Mapped[int | None]
    cron_expression: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # for cron schedules
    event_trigger: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    #: Each run starts up to this many seconds after its slot, to spread load (0: on time).
    jitter_seconds: Mapped[int] = mapped_column(default=0)
    last_execution: Mapped[dt.datetime | None]
    next_execution: Mapped[dt.datetime | None] = mapped_column(index=True)


class SyncExecution(UuidPk, Base):
    __tablename__ = "sync_executions"
    __table_args__ = (
        Index(None, "instance_id", "start_time"),
        # One running sync per instance, enforced by the database for every agent alike.
        Index("uq_sync_executions_one_running", "instance_id", unique=True,
              sqlite_where=text("status = 'running'"),
              postgresql_where=text("status = 'running'")),
    )

    # Executions are the instance's history and go with it; evidence records are kept apart.
    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE")
    )
    # SET NULL: deleting a schedule keeps the runs it caused.
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sync_schedules.id", ondelete="SET NULL")
    )
    trigger_type: Mapped[TriggerType] = mapped_column(enum_column(TriggerType, "trigger_type"))
    status: Mapped[SyncStatus] = mapped_column(
        enum_column(SyncStatus, "sync_status"), default=SyncStatus.PENDING, index=True
    )
    start_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    end_time: Mapped[dt.datetime | None]
    records_processed: Mapped[int | None]
    success_count: Mapped[int | None]
    error_count: Mapped[int | None]
    error_details: Mapped[dict[str, Any] | None]
    initiated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: Counts per outcome: created, updated, unchanged, deleted, failed, skipped, per stream too.
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The mapping versions the run used, by stream: {"users": {"mapping_id": …, "version": 3}}.
    mapping_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Streams to sync (empty: all) and whether to ignore saved state.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    #: Which agent runs it and until when its claim holds (renewed by heartbeats).
    agent_id: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None]
