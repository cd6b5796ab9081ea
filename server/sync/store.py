"""The evidence store's write path: batched upserts keyed by (instance, entity, external id).

Unchanged records (same content hash) are not rewritten; every change writes a version row.
All writes of a batch happen in the caller's transaction, together with the stream's
checkpoint, so a crash loses or duplicates nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, insert, not_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.db.models import EvidenceRecord, EvidenceRecordVersion, SyncSeenKey
from server.db.types import utcnow

IN_CHUNK = 900  # bound parameters per IN list, well inside SQLite's limit


def content_hash(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str,
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    skipped: int = 0
    #: Content hashes of the records this sync wrote (for the audit trail).
    written_hashes: list[str] = field(default_factory=list)

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


def _insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(table).on_conflict_do_nothing(), rows)


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
    hashes = {ext: content_hash(data) for ext, data in latest.items()}
    existing: dict[str, tuple[uuid.UUID, str, int, bool]] = {}
    keys = list(latest)
    for chunk in _chunks(keys):
        rows = session.execute(
            select(EvidenceRecord.external_id, EvidenceRecord.id, EvidenceRecord.content_hash,
                   EvidenceRecord.version, EvidenceRecord.is_deleted)
            .where(EvidenceRecord.instance_id == scope.instance_id,
                   EvidenceRecord.entity_type == scope.entity_type,
                   EvidenceRecord.external_id.in_(chunk)))
        existing.update({ext: (rid, h, v, d) for ext, rid, h, v, d in rows})

    new_rows: list[dict[str, Any]] = []
    version_rows: list[dict[str, Any]] = []
    changed: dict[uuid.UUID, tuple[str, int, bool]] = {}
    seen: list[dict[str, Any]] = []
    for ext, data in latest.items():
        digest = hashes[ext]
        provenance = {**scope.provenance, "content_hash": digest, "fetched_at": now.isoformat()}
        found = existing.get(ext)
        if found is None:
            rid = uuid.uuid4()
            new_rows.append({
                "id": rid, "instance_id": scope.instance_id, "entity_type": scope.entity_type,
                "external_id": ext, "stream": scope.stream, "data": data,
                "content_hash": digest, "version": 1, "is_deleted": False,
                "first_seen_at": now, "updated_at": now, "provenance": provenance,
            })
            version_rows.append({
                "id": uuid.uuid4(), "record_id": rid, "version": 1, "change": "created",
                "changed_fields": sorted(data), "data": data, "content_hash": digest,
                "sync_id": scope.sync_id, "recorded_at": now, "provenance": provenance,
            })
            counts.created += 1
            counts.written_hashes.append(digest)
        else:
            rid, old_hash, version, was_deleted = found
            if old_hash == digest and not was_deleted:
                counts.unchanged += 1
            else:
                changed[rid] = (ext, version, was_deleted)
        if track_seen:
            seen.append({"sync_id": scope.sync_id,
                         "record_id": new_rows[-1]["id"] if found is None else found[0]})

    if changed:
        old_data: dict[uuid.UUID, dict[str, Any]] = {}
        for chunk in _chunks(list(changed)):
            old_data.update((rid, data) for rid, data in session.execute(
                select(EvidenceRecord.id, EvidenceRecord.data)
                .where(EvidenceRecord.id.in_(chunk))))
        updates = []
        for rid, (ext, version, was_deleted) in changed.items():
            data, digest = latest[ext], hashes[ext]
            provenance = {**scope.provenance, "content_hash": digest,
                          "fetched_at": now.isoformat()}
            updates.append({"id": rid, "data": data, "content_hash": digest,
                            "version": version + 1, "is_deleted": False, "deleted_at": None,
                            "updated_at": now, "provenance": provenance,
                            "stream": scope.stream})
            version_rows.append({
                "id": uuid.uuid4(), "record_id": rid, "version": version + 1,
                "change": "restored" if was_deleted else "updated",
                "changed_fields": _changed_fields(old_data.get(rid, {}), data), "data": data,
                "content_hash": digest, "sync_id": scope.sync_id, "recorded_at": now,
                "provenance": provenance,
            })
            counts.updated += 1
            counts.written_hashes.append(digest)
        session.execute(update(EvidenceRecord), updates)
    if new_rows:
        session.execute(insert(EvidenceRecord), new_rows)
    if version_rows:
        session.execute(insert(EvidenceRecordVersion), version_rows)
    _insert_ignore(session, SyncSeenKey, seen)
    return counts


def mark_unseen_deleted(session: Session, scope: Scope, *, chunk: int = 1000) -> int:
    """After a full refresh: records of the stream this sync did not see are marked deleted."""
    now = utcnow()
    total = 0
    unseen = (
        select(EvidenceRecord.id, EvidenceRecord.version, EvidenceRecord.data,
               EvidenceRecord.content_hash)
        .where(EvidenceRecord.instance_id == scope.instance_id,
               EvidenceRecord.entity_type == scope.entity_type,
               EvidenceRecord.stream == scope.stream,
               EvidenceRecord.is_deleted.is_(False),
               not_(exists().where(and_(SyncSeenKey.sync_id == scope.sync_id,
                                        SyncSeenKey.record_id == EvidenceRecord.id))))
        .limit(chunk)
    )
    while True:
        rows = session.execute(unseen).all()
        if not rows:
            return total
        provenance = {**scope.provenance, "deleted_at": now.isoformat()}
        session.execute(update(EvidenceRecord), [
            {"id": rid, "is_deleted": True, "deleted_at": now, "updated_at": now,
             "version": version + 1} for rid, version, _, _ in rows])
        session.execute(insert(EvidenceRecordVersion), [
            {"id": uuid.uuid4(), "record_id": rid, "version": version + 1, "change": "deleted",
             "changed_fields": [], "data": data, "content_hash": digest,
             "sync_id": scope.sync_id, "recorded_at": now, "provenance": provenance}
            for rid, version, data, digest in rows])
        total += len(rows)
        if len(rows) < chunk:
            return total
