"""Integration health (issue 7): raw operation samples, alerts, tasks and circuit breakers.

Samples are the raw measurements ConnectorMetrics rolls up (one row per HTTP attempt a sync
made, one per sync); they are pruned after a retention period while the rollups stay. Alerts
and tasks carry an ``active_key`` that is set while they are unresolved and cleared when they
resolve: its unique constraint lets several agents evaluate the same condition at once and
still open one alert (NULLs never collide, on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, Timestamps, UuidPk, enum_column
from server.db.models.enums import StrEnum
from server.db.types import utcnow


class SampleKind(StrEnum):
    REQUEST = "request"  # one HTTP attempt against the remote system
    SYNC = "sync"  # one finished sync execution


class AlertKind(StrEnum):
    CONSECUTIVE_FAILURES = "consecutive_failures"
    INSTANCE_ERROR = "instance_error"
    SYNC_HUNG = "sync_hung"
    INSTANCE_STALE = "instance_stale"
    CREDENTIAL_EXPIRING = "credential_expiring"
    THROTTLING_SPIKE = "throttling_spike"
    VERSION_INCOMPATIBLE = "version_incompatible"


class AlertSeverity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # a person has seen it; it still resolves by itself
    RESOLVED = "resolved"


class TaskStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"  # the condition cleared (a later sync succeeded) or a person closed it


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"  # scheduled syncs are skipped until ``retry_at`` (None: until an admin acts)


class MetricSample(UuidPk, Base):
    __tablename__ = "metric_samples"
    __table_args__ = (Index(None, "instance_id", "recorded_at"), Index(None, "recorded_at"))

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"))
    # SET NULL: samples outlive pruned executions until their own retention ends.
    sync_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sync_executions.id", ondelete="SET NULL"), index=True)
    kind: Mapped[SampleKind] = mapped_column(enum_column(SampleKind, "sample_kind"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: Request latency, or the sync's duration, in milliseconds.
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    #: The request got an answer that is not an error / the sync completed.
    ok: Mapped[bool] = mapped_column(default=True)
    #: The remote side was unavailable (network error, timeout, 5xx) / not used for syncs.
    unavailable: Mapped[bool] = mapped_column(default=False)
    throttled: Mapped[bool] = mapped_column(default=False)
    status_code: Mapped[int | None]
    bytes_sent: Mapped[int] = mapped_column(default=0)
    bytes_received: Mapped[int] = mapped_column(default=0)
    records: Mapped[int] = mapped_column(default=0)
    error_category: Mapped[str | None] = mapped_column(String(32))


class Alert(UuidPk, Timestamps, Base):
    __tablename__ = "alerts"
    __table_args__ = (Index(None, "status", "last_seen_at"),)

    #: ``<kind>:<subject>`` while the alert is unresolved, NULL after (one live alert per key).
    active_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(300), index=True)
    kind: Mapped[AlertKind] = mapped_column(enum_column(AlertKind, "alert_kind"))
    severity: Mapped[AlertSeverity] = mapped_column(enum_column(AlertSeverity, "alert_severity"))
    status: Mapped[AlertStatus] = mapped_column(enum_column(AlertStatus, "alert_status"),
                                                default=AlertStatus.OPEN)
    instance_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    #: What the administrator should do.
    hint: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL"))
    resolved_at: Mapped[dt.datetime | None]


class Task(UuidPk, Timestamps, Base):
    """A failure the product could not resolve by itself: a person has to act."""

    __tablename__ = "tasks"

    #: ``<instance>:<category>`` while open, NULL after (one open task per instance and class).
    active_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    status: Mapped[TaskStatus] = mapped_column(enum_column(TaskStatus, "task_status"),
                                               default=TaskStatus.OPEN, index=True)
    instance_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), index=True)
    sync_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sync_executions.id", ondelete="SET NULL"))
    error_category: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    hint: Mapped[str | None] = mapped_column(Text)
    occurrences: Mapped[int] = mapped_column(default=1)
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[dt.datetime | None]
    #: Where the task was pushed (an ITSM instance) and what it answered (e.g. the issue key).
    external_instance_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="SET NULL"))
    external_ref: Mapped[dict[str, Any] | None]


class CircuitBreaker(Base):
    __tablename__ = "circuit_breakers"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[BreakerState] = mapped_column(enum_column(BreakerState, "breaker_state"),
                                                default=BreakerState.CLOSED)
    opened_at: Mapped[dt.datetime | None]
    #: When a scheduled sync may probe again (None while open: only a person closes it).
    retry_at: Mapped[dt.datetime | None]
    #: Times the breaker re-opened in a row (the probe delay doubles each time).
    trips: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
