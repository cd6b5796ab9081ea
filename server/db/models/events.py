"""Event subscriptions: what happens when an event of a type arrives."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, Timestamps, UuidPk, enum_column
from server.db.models.enums import ActionType


class EventSubscription(UuidPk, Timestamps, Base):
    __tablename__ = "event_subscriptions"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(200), index=True)
    filter_criteria: Mapped[dict[str, Any]] = mapped_column(default=dict)
    action_type: Mapped[ActionType] = mapped_column(enum_column(ActionType, "action_type"))
    action_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
