"""The evidence store's write path: batched upserts keyed by (instance, entity, external id).

Unchanged records (same content hash) are not rewritten. A changed record moves its previous
version to the history table and takes the new one (copy on write), so a first load writes
each record once and a re-sync writes only what changed. On PostgreSQL new rows go in with
``COPY``; SQLite gets executemany. Everything happens in the caller's transaction, together
with the stream's checkpoint, so a crash loses or duplicates nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, insert, not_, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from server.db.models import EvidenceRecord, EvidenceRecordVersion, SyncSeenKey
from server.db.types import utcnow

IN_CHUNK = 900  # bound parameters per IN list, well inside SQLite's limit
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str,
                          ensure_ascii=False).encode


def canonical_json(data: dict[str, Any]) -> str:
    return _dumps(data)


def content_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    skipped: int = 0
    #: Failed control checks this batch created or changed: (record id, external id, data).
    failed_checks: list[tuple[uuid.UUID, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        for name in ("created", "updated", "unchanged", "deleted", "failed", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "deleted": self.deleted, "failed": self.failed, "skipped": self.skipped}


@dataclass(frozen=True)
class Scope:
    """Where a batch belongs and the provenance every record version carries."""

    instance_id: uuid.UUID
    entity_type: str
    stream: str
    sync_id: uuid.UUID
    provenance: dict[str, Any]


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


_RECORD_COLUMNS = ("id", "instance_id", "entity_type", "external_id", "stream", "data",
                   "content_hash", "version", "last_change", "changed_fields", "last_sync_id",
                   "is_deleted", "first_seen_at", "updated_at", "provenance")
_JSON_COLUMNS = {"data", "changed_fields", "provenance"}


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert_records(session: Session, rows: list[dict[str, Any]],
                    json_text: dict[uuid.UUID, str]) -> None:
    """New record rows; COPY on PostgreSQL, reusing the JSON text the hash was made from."""
    if not rows:
        return
    if not _is_postgres(session):
        session.execute(insert(EvidenceRecord), rows)
        return
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    columns = ", ".join(_RECORD_COLUMNS)
    # Rows of a batch share their provenance object and mostly their key lists: encode each
    # distinct object once, not once per row.
    encoded: dict[int, str] = {}

    def as_json(value: Any) -> str:
        key = id(value)
        text = encoded.get(key)
        if text is None:
            text = encoded[key] = _dumps(value)
        return text

    with cursor.copy(f"COPY evidence_records ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([
                json_text[row["id"]] if name == "data" else
                as_json(row[name]) if name in _JSON_COLUMNS else row[name]
                for name in _RECORD_COLUMNS])


def _insert_seen(session: Session, sync_id: uuid.UUID, record_ids: list[uuid.UUID]) -> None:
    """Note the records a full refresh saw (idempotent: a resumed sync sees some again)."""
    if not record_ids:
        return
    if _is_postgres(session):
        # One statement with an array instead of a row-per-key executemany.
        session.execute(text(
            "INSERT INTO sync_seen_keys (sync_id, record_id) "
            "SELECT :sync_id, unnest(CAST(:ids AS uuid[])) ON CONFLICT DO NOTHING"),
            {"sync_id": sync_id, "ids": record_ids})
        return
    rows = [{"sync_id": sync_id, "record_id": rid} for rid in record_ids]
    session.execute(sqlite.insert(SyncSeenKey).on_conflict_do_nothing(), rows)


def _supersede(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Copy the current versions of ``ids`` into the history; returns their old data."""
    old: dict[uuid.UUID, dict[str, Any]] = {}
    history = []
    for chunk in _chunks(list(ids)):
        for row in session.execute(select(
                EvidenceRecord.id, EvidenceRecord.version, EvidenceRecord.last_change,
                EvidenceRecord.changed_fields, EvidenceRecord.data, EvidenceRecord.content_hash,
                EvidenceRecord.last_sync_id, EvidenceRecord.updated_at,
                EvidenceRecord.provenance).where(EvidenceRecord.id.in_(chunk))):
            old[row.id] = row.data
            history.append({
                "id": uuid.uuid4(), "record_id": row.id, "version": row.version,
                "change": row.last_change, "changed_fields": row.changed_fields,
                "data": row.data, "content_hash": row.content_hash, "sync_id": row.last_sync_id,
                "recorded_at": row.updated_at, "provenance": row.provenance,
            })
    if history:
        session.execute(insert(EvidenceRecordVersion), history)
    return old


def _is_failed_check(scope: Scope, data: dict[str, Any]) -> bool:
    return scope.entity_type == "configuration_check" and data.get("status") == "fail"


def upsert_batch(
    session: Session, scope: Scope, records: Sequence[tuple[str, dict[str, Any]]],
    *, track_seen: bool,
) -> Counts:
    """Store ``(external_id, data)`` pairs; returns what happened to them."""
    counts = Counts()
    latest: dict[str, dict[str, Any]] = {}
    for external_id, data in records:
        latest[external_id] = data  # the last occurrence in a batch wins
    if not latest:
        return counts
    now = utcnow()
    provenance = {**scope.provenance, "fetched_at": now.isoformat()}
    texts = {ext: canonical_json(data) for ext, data in latest.items()}
    hashes = {ext: hashlib.sha256(text.encode()).hexdigest() for ext, text in texts.items()}
    existing: dict[str, tuple[uuid.UUID, str, int, bool]] = {}
    for chunk in _chunks(list(latest)):
        existing.update((ext, (rid, digest, version, deleted)) for ext, rid, digest, version,
                        deleted in session.execute(
            select(EvidenceRecord.external_id, EvidenceRecord.id, EvidenceRecord.content_hash,
                   EvidenceRecord.version, EvidenceRecord.is_deleted)
            .where(EvidenceRecord.external_id.in_(chunk),
                   EvidenceRecord.instance_id == scope.instance_id,
                   EvidenceRecord.entity_type == scope.entity_type)))

    new_rows: list[dict[str, Any]] = []
    json_text: dict[uuid.UUID, str] = {}
    key_lists: dict[tuple[str, ...], list[str]] = {}  # one shared list per key set
    changed: dict[uuid.UUID, tuple[str, int, bool]] = {}
    seen: list[uuid.UUID] = []
    for ext, data in latest.items():
        digest = hashes[ext]
        found = existing.get(ext)
        if found is None:
            rid = uuid.uuid4()
            json_text[rid] = texts[ext]
            new_rows.append({
                "id": rid, "instance_id": scope.instance_id, "entity_type": scope.entity_type,
                "external_id": ext, "stream": scope.stream, "data": data,
                "content_hash": digest, "version": 1, "last_change": "created",
                "changed_fields": key_lists.get(tuple(data)) or key_lists.setdefault(
                    tuple(data), sorted(data)),
                "last_sync_id": scope.sync_id,
                "is_deleted": False, "first_seen_at": now, "updated_at": now,
                "provenance": provenance,
            })
            counts.created += 1
            seen.append(rid)
            if _is_failed_check(scope, data):
                counts.failed_checks.append((rid, ext, data))
            continue
        rid, old_hash, version, was_deleted = found
        seen.append(rid)
        if old_hash == digest and not was_deleted:
            counts.unchanged += 1
        else:
            changed[rid] = (ext, version, was_deleted)

    if changed:
        old_data = _supersede(session, list(changed))
        updates = []
        for rid, (ext, version, was_deleted) in changed.items():
            data = latest[ext]
            updates.append({
                "id": rid, "data": data, "content_hash": hashes[ext], "version": version + 1,
                "last_change": "restored" if was_deleted else "updated",
                "changed_fields": _changed_fields(old_data.get(rid, {}), data),
                "last_sync_id": scope.sync_id, "is_deleted": False, "deleted_at": None,
                "updated_at": now, "provenance": provenance, "stream": scope.stream,
            })
            counts.updated += 1
            if _is_failed_check(scope, data):
                counts.failed_checks.append((rid, ext, data))
        session.execute(update(EvidenceRecord), updates)
    _insert_records(session, new_rows, json_text)
    if track_seen:
        _insert_seen(session, scope.sync_id, seen)
    return counts


def refresh_statistics(session: Session, written_since: int) -> bool:
    """ANALYZE the evidence table on PostgreSQL when it has grown by more than it held.

    A table filled by a first sync has no planner statistics yet; PostgreSQL then scans an
    instance's rows for every batch lookup, which makes a large first load quadratic.
    Re-analysing each time the table doubles costs a handful of ANALYZEs per load.
    """
    if not _is_postgres(session):
        return False
    estimate = session.execute(
        select(text("reltuples")).select_from(text("pg_class"))
        .where(text("relname = 'evidence_records'"))).scalar() or 0
    if written_since <= max(1000.0, float(estimate)):
        return False
    session.execute(text("ANALYZE evidence_records"))
    return True


def mark_unseen_deleted(session: Session, scope: Scope, *, chunk: int = 1000) -> int:
    """After a full refresh: records of the stream this sync did not see are marked deleted."""
    now = utcnow()
    total = 0
    unseen = (
        select(EvidenceRecord.id, EvidenceRecord.version)
        .where(EvidenceRecord.instance_id == scope.instance_id,
               EvidenceRecord.entity_type == scope.entity_type,
               EvidenceRecord.is_deleted.is_(False),
               EvidenceRecord.stream == scope.stream,
               not_(exists().where(and_(SyncSeenKey.sync_id == scope.sync_id,
                                        SyncSeenKey.record_id == EvidenceRecord.id))))
        .limit(chunk)
    )
    provenance = {**scope.provenance, "deleted_at": now.isoformat()}
    while True:
        rows = session.execute(unseen).all()
        if not rows:
            return total
        _supersede(session, [rid for rid, _ in rows])
        session.execute(update(EvidenceRecord), [
            {"id": rid, "is_deleted": True, "deleted_at": now, "updated_at": now,
             "version": version + 1, "last_change": "deleted", "changed_fields": [],
             "last_sync_id": scope.sync_id, "provenance": provenance}
            for rid, version in rows])
        total += len(rows)
        if len(rows) < chunk:
            return total
