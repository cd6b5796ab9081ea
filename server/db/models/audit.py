"""The tamper-evident audit trail: a hash-chained, append-only table and signed checkpoints.

The chain lives apart from the operational log (``integration_logs``), so retention of the
operational log never touches it. ``audit_chain_head`` holds one row: the last sequence number
and hash. Appenders lock that row first, which serialises appends from every agent sharing the
database into one unbroken chain (see :mod:`server.audit.chain`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk
from server.db.types import utcnow


class AuditEntry(Base):
    """One audited event. ``entry_hash`` covers every other column and ``prev_hash``."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index(None, "recorded_at"),
        Index(None, "object_type", "object_id"),
        Index(None, "action"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(200))
    before_hash: Mapped[str | None] = mapped_column(String(64))
    after_hash: Mapped[str | None] = mapped_column(String(64))
    #: Canonical JSON text, hashed exactly as stored (no JSONB normalisation in between).
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The single row every appender locks: the chain's last sequence number and hash."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    entry_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditCheckpoint(UuidPk, Base):
    """An Ed25519 signature over (seq, entry_hash, signed_at): verifiable offline."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("seq", "key_id"),)

    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    key_id: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(String(100))
    signature: Mapped[str] = mapped_column(String(200))

