"""Events and the actions they cause: a transactional outbox processed by the agents.

An event is written in the same transaction as what caused it (a sync ending, a webhook
parsed), under a unique ``dedupe_key`` so a repeat of the cause adds nothing. An agent then
fans it out into one ``EventAction`` per matching subscription or event-based schedule (unique
per event and target, so a second dispatch adds nothing either) and runs each action until it
succeeds or runs out of attempts: delivery is at least once, de-duplicated by those keys.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk, enum_column
from server.db.models.enums import StrEnum
from server.db.types import utcnow


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"


class EventActionStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # out of attempts, or failed for good


class OutboxEvent(UuidPk, Base):
    __tablename__ = "event_outbox"
    __table_args__ = (Index(None, "status", "created_at"),)

    event_type: Mapped[str] = mapped_column(String(200), index=True)
    # SET NULL: the event history outlives the instance (the payload names it).
    instance_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="SET NULL"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[dt.datetime | None]


class EventAction(UuidPk, Base):
    __tablename__ = "event_actions"
    __table_args__ = (
        UniqueConstraint("event_id", "target"),
        Index(None, "status", "next_attempt_at"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("event_outbox.id", ondelete="CASCADE"))
    #: ``subscription:<id>`` or ``schedule:<id>``: what the event is delivered to.
    target: Mapped[str] = mapped_column(String(100))
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("event_subscriptions.id", ondelete="SET NULL"), index=True)
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sync_schedules.id", ondelete="SET NULL"))
    action_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[EventActionStatus] = mapped_column(
        enum_column(EventActionStatus, "event_action_status"),
        default=EventActionStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]


class EventActionAttempt(UuidPk, Base):
    """One try of an action: the delivery log of outbound webhooks and notifications."""

    __tablename__ = "event_action_attempts"

    action_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("event_actions.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int]
    agent_id: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[int] = mapped_column(default=0)
    ok: Mapped[bool]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)


class SubscriptionSecret(Base):
    """The signing secrets of a webhook subscription, sealed by the vault.

    The envelope holds ``{"secrets": ["whsec_new", "whsec_old"...]}``: the first signs, and
    while a rotation is young the previous one signs too, so receivers can switch calmly.
    """

    __tablename__ = "subscription_secrets"

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("event_subscriptions.id", ondelete="CASCADE"), primary_key=True)
    secrets: Mapped[dict[str, Any]]
    rotated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: Until when the previous secret still signs (None: only the current one).
    previous_until: Mapped[dt.datetime | None]
