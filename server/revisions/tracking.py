"""Every change of a tracked object keeps a revision, whoever made it and however.

The ORM reports each flushed change (:func:`collect`, from ``before_flush``); at commit
(:func:`write`, called by the audit hook with the chain lock held) each changed object gets a
revision when its snapshot differs from its latest revision. Changes made by the API, by a
config import and by a rollback are all caught the same way, so no code path can forget one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from server.audit.canonical import content_hash
from server.audit.chain import current_actor
from server.db.models import (
    ConfigRevision,
    DataMapping,
    EventSubscription,
    IntegrationInstance,
    SyncSchedule,
)
from server.db.types import utcnow
from server.revisions.snapshots import TYPES, snapshot
from server.vault.envelope import without_wrapping

CHANGED = "simpletrust.revisions.changed"
OPERATION = "simpletrust.revisions.operation"
_CHILDREN = (DataMapping, SyncSchedule, EventSubscription)

Key = tuple[str, uuid.UUID]


@dataclass
class Change:
    kind: str  # create, update, delete
    obj: Any
    #: Taken before the row goes (a deleted object cannot be read at commit).
    deleted_snapshot: dict[str, Any] | None = None


@dataclass(frozen=True)
class Written:
    """A revision made at commit, with the hashes the audit entry quotes."""

    object_type: str
    object_id: uuid.UUID
    revision: int
    operation: str
    before_hash: str | None
    after_hash: str | None


def mark_operation(session: Session, object_type: str, object_id: uuid.UUID, operation: str,
                   restored_from: int | None = None) -> None:
    """Name the next revision of an object (e.g. ``rollback``) instead of ``update``."""
    session.info.setdefault(OPERATION, {})[(object_type, object_id)] = (operation, restored_from)


def _key(obj: Any) -> Key | None:
    kind = TYPES.get(type(obj))
    obj_id = getattr(obj, "id", None)
    return (kind, obj_id) if kind and isinstance(obj_id, uuid.UUID) else None


def collect(session: Session) -> None:
    """Note the tracked objects this flush creates, changes or deletes."""
    changed: dict[Key, Change] = session.info.setdefault(CHANGED, {})
    with session.no_autoflush:
        for obj in session.new:
            key = _key(obj)
            if key and key not in changed:
                changed[key] = Change("create", obj)
        for obj in session.dirty:
            key = _key(obj)
            if key and key not in changed and session.is_modified(obj):
                changed[key] = Change("update", obj)
        for obj in session.deleted:
            key = _key(obj)
            if key is None:
                continue
            if key in changed and changed[key].kind == "create":
                del changed[key]  # created and removed in one transaction: nothing to keep
                continue
            changed[key] = Change("delete", obj, snapshot(session, obj))
            if isinstance(obj, IntegrationInstance):
                _collect_children(session, obj.id, changed)


def _collect_children(session: Session, instance_id: uuid.UUID,
                      changed: dict[Key, Change]) -> None:
    """The database removes an instance's mappings, schedules and subscriptions with it."""
    for model in _CHILDREN:
        for child in session.scalars(select(model).where(model.instance_id == instance_id)):
            key = _key(child)
            if key and (key not in changed or changed[key].kind != "delete"):
                changed[key] = Change("delete", child, snapshot(session, child))


def has_pending(session: Session) -> bool:
    return bool(session.info.get(CHANGED))


def clear(session: Session) -> None:
    session.info.pop(CHANGED, None)
    session.info.pop(OPERATION, None)


def write(session: Session) -> list[Written]:
    """Write a revision for each collected change whose content really changed."""
    changed: dict[Key, Change] = session.info.pop(CHANGED, {})
    operations: dict[Key, tuple[str, int | None]] = session.info.pop(OPERATION, {})
    actor = current_actor(session)
    rows: list[dict[str, Any]] = []
    written: list[Written] = []
    for key in sorted(changed, key=lambda k: (k[0], str(k[1]))):
        change = changed[key]
        object_type, object_id = key
        last = session.execute(
            select(ConfigRevision.revision, ConfigRevision.content_hash, ConfigRevision.operation)
            .where(ConfigRevision.object_type == object_type,
                   ConfigRevision.object_id == object_id)
            .order_by(ConfigRevision.revision.desc()).limit(1)).first()
        if change.kind == "delete":
            if last is not None and last.operation == "delete":
                continue
            document = change.deleted_snapshot or {}
        else:
            document = snapshot(session, change.obj)
        # Re-wrapping secrets under a new master key is not a change of configuration.
        digest = content_hash(without_wrapping(document))
        if change.kind != "delete" and last is not None and last.content_hash == digest \
                and last.operation != "delete":
            continue  # runtime state moved (last sync, status), not configuration
        operation, restored_from = operations.get(key, (change.kind, None))
        number = (last.revision if last is not None else 0) + 1
        rows.append({
            "id": uuid.uuid4(), "object_type": object_type, "object_id": object_id,
            "revision": number, "operation": operation, "snapshot": document,
            "content_hash": digest, "restored_from": restored_from,
            "author_id": actor.principal_id, "author": actor.name[:200],
            "created_at": utcnow(),
        })
        written.append(Written(object_type, object_id, number, operation,
                               last.content_hash if last is not None else None,
                               None if change.kind == "delete" else digest))
    if rows:
        session.execute(insert(ConfigRevision), rows)
    return written


def latest_revision(session: Session, object_type: str, object_id: uuid.UUID) -> int:
    return int(session.scalar(select(func.max(ConfigRevision.revision)).where(
        ConfigRevision.object_type == object_type,
        ConfigRevision.object_id == object_id)) or 0)
