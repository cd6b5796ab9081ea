"""Inbound webhooks: how an instance verifies deliveries, and every delivery it accepted.

A delivery is stored (body included) before the sender gets its 2xx, so nothing accepted is
lost if the agent stops; an agent worker turns stored deliveries into events afterwards.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, Timestamps, UuidPk, enum_column
from server.db.models.enums import StrEnum
from server.db.types import utcnow


class WebhookScheme(StrEnum):
    CONNECTOR = "connector"  # the connector verifies (GitHub: X-Hub-Signature-256)
    STANDARD = "standard_webhooks"  # webhook-id / webhook-timestamp / webhook-signature
    SHARED_SECRET = "shared_secret"  # noqa: S105 - a scheme name: a secret header compared in constant time


class DeliveryStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"


class WebhookEndpoint(Timestamps, Base):
    """The verification settings of one instance's inbound webhook."""

    __tablename__ = "webhook_endpoints"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), primary_key=True)
    scheme: Mapped[WebhookScheme] = mapped_column(enum_column(WebhookScheme, "webhook_scheme"))
    #: The vault's envelope of ``{"secrets": [...]}`` (several during a rotation); never clear.
    secrets: Mapped[dict[str, Any] | None]
    #: The header carrying the secret (shared-secret scheme).
    header_name: Mapped[str | None] = mapped_column(String(100))
    tolerance_seconds: Mapped[int] = mapped_column(default=300)


class WebhookDelivery(UuidPk, Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # Replay protection: a delivery id is accepted once per instance.
        UniqueConstraint("instance_id", "delivery_id"),
        Index(None, "status", "received_at"),
    )

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(200))
    scheme: Mapped[WebhookScheme] = mapped_column(enum_column(WebhookScheme, "webhook_scheme"))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    content_type: Mapped[str] = mapped_column(String(200))
    #: The request headers a connector may need to parse it (signatures left out).
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus, "delivery_status"), default=DeliveryStatus.RECEIVED)
    events: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[dt.datetime | None]
    processed_at: Mapped[dt.datetime | None]
