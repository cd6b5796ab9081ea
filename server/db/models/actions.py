"""Write actions run against external systems, kept for idempotency and for the record."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk
from server.db.types import utcnow


class ActionInvocation(UuidPk, Base):
    """One call of a connector write action. With an Idempotency-Key, a repeat of the same
    call returns this row's result instead of acting twice."""

    __tablename__ = "action_invocations"
    __table_args__ = (UniqueConstraint("instance_id", "idempotency_key"),)

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # running, succeeded, failed
    result: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]
    principal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
