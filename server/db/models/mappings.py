"""Data mappings from a connector's records to SimpleTrust's canonical model."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, Timestamps, UuidPk
from server.db.types import utcnow


class DataMapping(UuidPk, Timestamps, Base):
    __tablename__ = "data_mappings"
    __table_args__ = (UniqueConstraint("instance_id", "name"),)

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
    # What the mapping connects: a connector stream to a canonical entity type (inbound) or an
    # entity type to an external object (outbound). One active inbound mapping per stream.
    source: Mapped[str] = mapped_column(String(300), default="")
    target: Mapped[str] = mapped_column(String(300), default="")
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    is_active: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )


class DataMappingVersion(UuidPk, Base):
    """Every version of a mapping, as the engine ran it (executions name the version)."""

    __tablename__ = "data_mapping_versions"
    __table_args__ = (UniqueConstraint("mapping_id", "version"),)

    mapping_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("data_mappings.id", ondelete="CASCADE")
    )
    version: Mapped[int]
    spec: Mapped[dict[str, Any]]
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
