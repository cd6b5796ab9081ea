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

from sqlalchemy import (
    Connection,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
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

    # A reference to integration_instances kept by triggers, not a foreign key (see
    # INSTANCE_REFERENCE): a missing instance is refused, and deleting one sets its records'
    # instance_id to NULL, as ON DELETE SET NULL did (evidence outlives the instance that
    # collected it; provenance keeps its name).
    instance_id: Mapped[uuid.UUID | None]
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


# ---- evidence_records.instance_id: a reference kept by triggers ---------------------------
#
# A foreign key is checked row by row: on PostgreSQL one RI trigger per inserted record
# (``SELECT ... FOR KEY SHARE`` of the instance), ~3 us of backend CPU per row of a sync's
# batch, a fifth of the INSERT (measured 2026-11-26: 14.5 -> 11.8 us per row). On PostgreSQL
# the check is made once per statement over its transition table, taking the same FOR KEY
# SHARE lock on each instance the statement wrote (a concurrent delete waits for the insert to
# commit; then its trigger, running after the lock, sees the new records and clears them: the
# agent runs READ COMMITTED). SQLite checks per row, as its foreign key did. Both refuse to
# change the id of an instance records refer to.
#
# SQLite drops a table's triggers when alembic's batch mode recreates the table: a later
# migration that batch-alters evidence_records or integration_instances must create them again
# (tests/sync/test_instance_reference.py fails otherwise).

_PG_CHECK = """CREATE OR REPLACE FUNCTION evidence_records_instance_exists() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    wanted uuid[];
    locked integer;
    missing text;
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        wanted := ARRAY[NEW.instance_id];
    ELSE
        SELECT array_agg(DISTINCT instance_id) INTO wanted
        FROM written WHERE instance_id IS NOT NULL;
    END IF;
    IF wanted IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM integration_instances WHERE id = ANY (wanted) FOR KEY SHARE) AS found;
    IF locked < cardinality(wanted) THEN
        SELECT string_agg(CAST(w AS text), ', ') INTO missing FROM unnest(wanted) AS w
        WHERE NOT EXISTS (SELECT 1 FROM integration_instances AS i WHERE i.id = w);
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', TABLE = 'evidence_records',
            COLUMN = 'instance_id',
            MESSAGE = 'evidence_records.instance_id: no integration instance ' || missing;
    END IF;
    RETURN NULL;
END
$$"""

_PG_RELEASE = """CREATE OR REPLACE FUNCTION integration_instances_release_evidence()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE evidence_records SET instance_id = NULL
    WHERE instance_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$"""

_PG_KEEP_ID = """CREATE OR REPLACE FUNCTION integration_instances_keep_evidence_id()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM evidence_records WHERE instance_id = OLD.id) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            TABLE = 'integration_instances', COLUMN = 'id',
            MESSAGE = 'integration_instances.id: evidence records refer to instance '
                      || CAST(OLD.id AS text);
    END IF;
    RETURN NULL;
END
$$"""

_SQLITE_MISSING = ("NEW.instance_id IS NOT NULL AND NOT EXISTS "
                   "(SELECT 1 FROM integration_instances WHERE id = NEW.instance_id)")
_SQLITE_REFUSE = ("BEGIN SELECT RAISE(ABORT, 'evidence_records.instance_id: no integration "
                  "instance with that id'); END")

#: (trigger, table) of each dialect, for dropping them.
_TRIGGERS = (("evidence_records_instance_insert", "evidence_records"),
             ("evidence_records_instance_update", "evidence_records"),
             ("integration_instances_release_evidence", "integration_instances"),
             ("integration_instances_keep_evidence_id", "integration_instances"))
_PG_FUNCTIONS = ("evidence_records_instance_exists", "integration_instances_release_evidence",
                 "integration_instances_keep_evidence_id")

#: The statements creating the reference's triggers, per dialect (idempotent).
INSTANCE_REFERENCE: dict[str, tuple[str, ...]] = {
    "postgresql": (
        _PG_CHECK, _PG_RELEASE, _PG_KEEP_ID,
        *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in _TRIGGERS),
        "CREATE TRIGGER evidence_records_instance_insert AFTER INSERT ON evidence_records "
        "REFERENCING NEW TABLE AS written FOR EACH STATEMENT "
        "EXECUTE FUNCTION evidence_records_instance_exists()",
        # Per row, but only when an UPDATE sets instance_id to another instance: the store's
        # updates never name the column, so this costs them nothing.
        "CREATE TRIGGER evidence_records_instance_update AFTER UPDATE OF instance_id "
        "ON evidence_records FOR EACH ROW WHEN (NEW.instance_id IS NOT NULL AND "
        "NEW.instance_id IS DISTINCT FROM OLD.instance_id) "
        "EXECUTE FUNCTION evidence_records_instance_exists()",
        "CREATE TRIGGER integration_instances_release_evidence AFTER DELETE "
        "ON integration_instances REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
        "EXECUTE FUNCTION integration_instances_release_evidence()",
        "CREATE TRIGGER integration_instances_keep_evidence_id AFTER UPDATE OF id "
        "ON integration_instances FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) "
        "EXECUTE FUNCTION integration_instances_keep_evidence_id()",
    ),
    "sqlite": (
        "CREATE TRIGGER IF NOT EXISTS evidence_records_instance_insert BEFORE INSERT ON "
        f"evidence_records FOR EACH ROW WHEN {_SQLITE_MISSING} {_SQLITE_REFUSE}",
        "CREATE TRIGGER IF NOT EXISTS evidence_records_instance_update BEFORE UPDATE OF "
        f"instance_id ON evidence_records FOR EACH ROW WHEN {_SQLITE_MISSING} {_SQLITE_REFUSE}",
        "CREATE TRIGGER IF NOT EXISTS integration_instances_release_evidence AFTER DELETE ON "
        "integration_instances FOR EACH ROW BEGIN UPDATE evidence_records SET instance_id = "
        "NULL WHERE instance_id = OLD.id; END",
        "CREATE TRIGGER IF NOT EXISTS integration_instances_keep_evidence_id BEFORE UPDATE OF "
        "id ON integration_instances FOR EACH ROW WHEN OLD.id IS NOT NEW.id AND EXISTS "
        "(SELECT 1 FROM evidence_records WHERE instance_id = OLD.id) BEGIN SELECT RAISE(ABORT, "
        "'integration_instances.id: evidence records refer to this instance'); END",
    ),
}

#: The statements removing them again, per dialect.
INSTANCE_REFERENCE_DROP: dict[str, tuple[str, ...]] = {
    "postgresql": (*(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in _TRIGGERS),
                   *(f"DROP FUNCTION IF EXISTS {name}()" for name in _PG_FUNCTIONS)),
    "sqlite": tuple(f"DROP TRIGGER IF EXISTS {name}" for name, _ in _TRIGGERS),
}


@event.listens_for(Base.metadata, "after_create")
def _create_instance_reference(metadata: MetaData, connection: Connection, **kw: Any) -> None:
    """``metadata.create_all`` (some tests build their schema that way) gets the triggers too;
    the migration creates them from the same statements."""
    tables = kw.get("tables")
    names = {t.name for t in tables} if tables is not None else set(metadata.tables)
    if {"evidence_records", "integration_instances"} <= names:
        for statement in INSTANCE_REFERENCE.get(connection.dialect.name, ()):
            connection.exec_driver_sql(statement)
