"""What happened (logs) and how well (metrics)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk, enum_column
from server.db.models.enums import LogType
from server.db.types import utcnow


class IntegrationLog(UuidPk, Base):
    __tablename__ = "integration_logs"
    __table_args__ = (
        Index(None, "instance_id", "timestamp"),
        Index(None, "timestamp"),
    )

    # SET NULL: the log outlives the instance it speaks of (details keep its name).
    instance_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="SET NULL")
    )
    log_type: Mapped[LogType] = mapped_column(enum_column(LogType, "log_type"))
    timestamp: Mapped[dt.datetime] = mapped_column(default=utcnow)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    operation: Mapped[str] = mapped_column(String(100), index=True)
    sync_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sync_executions.id", ondelete="SET NULL"), index=True
    )


class ConnectorMetrics(UuidPk, Base):
    """One instance's figures for one hour or one day, rolled up from ``metric_samples``."""

    __tablename__ = "connector_metrics"
    __table_args__ = (UniqueConstraint("instance_id", "period_start", "period_end"),)

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE")
    )
    period_start: Mapped[dt.datetime] = mapped_column(index=True)
    period_end: Mapped[dt.datetime]
    availability_percentage: Mapped[Decimal] = mapped_column(Numeric(6, 3), default=Decimal(100))
    average_response_time: Mapped[int] = mapped_column(default=0)  # milliseconds
    error_rate: Mapped[Decimal] = mapped_column(Numeric(6, 3), default=Decimal(0))  # percent
    total_operations: Mapped[int] = mapped_column(default=0)
    data_transferred: Mapped[int] = mapped_column(default=0)  # bytes
    api_calls: Mapped[int] = mapped_column(default=0)
    throttling_events: Mapped[int] = mapped_column(default=0)
    #: "hour" or "day" (issue 7); the percentiles are of request latencies, in milliseconds.
    granularity: Mapped[str] = mapped_column(String(8), default="hour")
    response_time_p50: Mapped[int] = mapped_column(default=0)
    response_time_p95: Mapped[int] = mapped_column(default=0)
    records_processed: Mapped[int] = mapped_column(default=0)
    syncs: Mapped[int] = mapped_column(default=0)
    failed_syncs: Mapped[int] = mapped_column(default=0)
    average_sync_duration: Mapped[int] = mapped_column(default=0)  # milliseconds
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
