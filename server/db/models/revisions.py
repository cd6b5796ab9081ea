"""Revision history of configuration objects: every change keeps a snapshot."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk
from server.db.types import utcnow


class ConfigRevision(UuidPk, Base):
    """A snapshot of an instance, credential (metadata only), mapping, schedule or subscription.

    No foreign key to the object: its history outlives it (a deleted object's revisions stay).
    """

    __tablename__ = "config_revisions"
    __table_args__ = (
        UniqueConstraint("object_type", "object_id", "revision"),
        Index(None, "created_at"),
    )

    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[uuid.UUID]
    revision: Mapped[int]
    #: create, update, delete or rollback.
    operation: Mapped[str] = mapped_column(String(16))
    snapshot: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    #: The revision a rollback restored.
    restored_from: Mapped[int | None]
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    #: The author's name as it was (it outlives the principal).
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
