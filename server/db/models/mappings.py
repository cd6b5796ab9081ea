"""Data mappings from a connector's records to SimpleTrust's canonical model."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, Timestamps, UuidPk


class DataMapping(UuidPk, Timestamps, Base):
    __tablename__ = "data_mappings"

    # A mapping belongs to its instance and goes with it.
    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    source_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    target_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    field_mappings: Mapped[list[Any]] = mapped_column(default=list)
    transformations: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[str] = mapped_column(String(50), default="1")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
