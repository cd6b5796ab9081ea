"""The canonical evidence store: records keyed by (instance, entity type, external id).

Evidence is never hard-deleted: a record the source no longer has is marked deleted, and
every change keeps a version (what changed, when, which sync) — the trail auditors follow.
The record row holds the current version; each superseded version moves to
``evidence_record_versions`` when it is replaced (copy on write), so a first load writes each
record once.

Provenance (instance, connector and its version, API version, stream, sync, fetched at) is the
same for every record of a written batch: it is stored once per batch in ``record_provenance``
and each version points at it; the per-record part, the content hash, is a column. The
``provenance`` attribute of a record or version joins them back, so readers see the full
provenance of every version.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Protocol

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from server.db.base import Base, UuidPk
from server.db.types import utcnow


class RecordProvenance(UuidPk, Base):
    """Where one written batch of record versions came from, shared by all of them.

    ``provenance``: instance id and name, connector and its version, API version, stream,
    sync id, mapping, and ``fetched_at`` (or ``deleted_at`` for a batch of deletion marks).
    Rows are never deleted: evidence outlives syncs, instances and retention.
    """

    __tablename__ = "record_provenance"

    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)


class _Stored(Protocol):
    @property
    def origin(self) -> RecordProvenance | None: ...
    @property
    def stored_changed_fields(self) -> list[Any] | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


class _VersionView:
    """What readers see of a record's current version and of a superseded one alike."""

    @property
    def provenance(self: _Stored) -> dict[str, Any]:
        return dict(self.origin.provenance) if self.origin is not None else {}

    @property
    def changed_fields(self: _Stored) -> list[Any]:
        # A created version changed all of its fields; it stores NULL instead of the list.
        stored = self.stored_changed_fields
        return list(stored) if stored is not None else sorted(self.data)


class EvidenceRecord(UuidPk, _VersionView, Base):
    __tablename__ = "evidence_records"
    __table_args__ = (
        # external_id leads: a batch lookup is then an index probe per key whatever the
        # planner thinks of the table's size. With (instance_id, entity_type, external_id)
        # PostgreSQL 15 filtered the instance's rows by the key list instead (unanalysed) or
        # scanned the table (analysed, 100,000 rows): checked with EXPLAIN, 2026-11-26.
        UniqueConstraint("external_id", "instance_id", "entity_type"),
        Index(None, "instance_id", "entity_type", "is_deleted"),
        Index(None, "entity_type", "updated_at"),
    )

    # SET NULL: evidence outlives the instance that collected it (provenance keeps its name).
    instance_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="SET NULL")
    )
    entity_type: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(512))
    stream: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    #: How the current version came about: created, updated, deleted or restored.
    last_change: Mapped[str] = mapped_column(String(16), default="created")
    #: NULL for a created version (all fields changed): see ``changed_fields``.
    stored_changed_fields: Mapped[list[Any] | None] = mapped_column("changed_fields")
    #: The sync that wrote the current version (no foreign key: it outlives retention).
    last_sync_id: Mapped[uuid.UUID | None]
    is_deleted: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[dt.datetime | None]
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # No foreign key: checked per row, it is a measurable share of a large sync's writes.
    provenance_id: Mapped[uuid.UUID | None]
    origin: Mapped[RecordProvenance | None] = relationship(
        primaryjoin=lambda: foreign(EvidenceRecord.provenance_id) == RecordProvenance.id,
        lazy="joined", viewonly=True)


class EvidenceRecordVersion(UuidPk, _VersionView, Base):
    """A superseded version of a record, exactly as it was stored."""

    __tablename__ = "evidence_record_versions"
    __table_args__ = (UniqueConstraint("record_id", "version"),)

    record_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evidence_records.id", ondelete="CASCADE")
    )
    version: Mapped[int]
    change: Mapped[str] = mapped_column(String(16))  # created, updated, deleted, restored
    stored_changed_fields: Mapped[list[Any] | None] = mapped_column("changed_fields")
    data: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    # No foreign key: the trail must survive the execution rows' retention.
    sync_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    provenance_id: Mapped[uuid.UUID | None]
    origin: Mapped[RecordProvenance | None] = relationship(
        primaryjoin=lambda: foreign(EvidenceRecordVersion.provenance_id) == RecordProvenance.id,
        lazy="joined", viewonly=True)


class StreamState(Base):
    """The checkpoint of one stream of one instance, committed with the records it covers."""

    __tablename__ = "stream_states"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), primary_key=True
    )
    stream: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sync_id: Mapped[uuid.UUID | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncSeenKey(Base):
    """Records a full-refresh sync has seen so far (survives a crash; gone when it completes).

    At the end of a full refresh, records of the stream not seen are marked deleted.
    """

    __tablename__ = "sync_seen_keys"

    # No foreign key: a row per record of a full refresh, checked per row by PostgreSQL, is a
    # measurable share of a large sync. The engine removes a sync's keys when it ends.
    sync_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


class DeadLetter(UuidPk, Base):
    """A record that failed mapping or validation: kept raw with its errors, never fatal."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index(None, "instance_id", "created_at"),)

    instance_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE")
    )
    sync_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sync_executions.id", ondelete="SET NULL")
    )
    stream: Mapped[str] = mapped_column(String(200))
    raw: Mapped[dict[str, Any]]
    errors: Mapped[list[Any]] = mapped_column(default=list)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
