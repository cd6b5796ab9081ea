"""Reading revisions, comparing two, and rolling an object back to one.

A rollback writes the revision's configuration back through the same rules as an edit (names
unique, mapping specs valid, schedules complete), records it in the activity log and so in the
audit trail, and becomes a new revision itself (operation ``rollback``, ``restored_from`` N).
A mapping rolled back gets a new mapping version with the old content, which the next sync
resolves and records in its execution.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import (
    ActionType,
    AuthenticationConfig,
    AuthType,
    ConfigRevision,
    DataMapping,
    EventSubscription,
    IntegrationInstance,
    Principal,
    ScheduleType,
    SyncSchedule,
)
from server.db.types import utcnow
from server.revisions.diff import Change, diff
from server.revisions.snapshots import MODELS
from server.revisions.tracking import mark_operation
from server.services import activity, credentials
from server.services.mappings import MappingShapeError, checked_spec, record_version
from server.services.schedules import next_run, schedule_problems
from server.vault import Vault
from server.vault.rotation import snapshot_envelope

#: How activity details name each kind of object (the audit trail reads the same keys).
ID_KEYS = {"instance": "instance_id", "credential": "auth_config_id",
           "mapping": "mapping_id", "schedule": "schedule_id",
           "subscription": "subscription_id"}


class RevisionNotFound(LookupError):
    pass


class RollbackRefused(ValueError):
    """The revision cannot be restored; ``errors`` are (field, message) pairs."""

    def __init__(self, message: str, errors: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


def list_revisions(session: Session, object_type: str, object_id: uuid.UUID
                   ) -> list[ConfigRevision]:
    return list(session.scalars(select(ConfigRevision).where(
        ConfigRevision.object_type == object_type, ConfigRevision.object_id == object_id)
        .order_by(ConfigRevision.revision)))


def get_revision(session: Session, object_type: str, object_id: uuid.UUID,
                 revision: int) -> ConfigRevision:
    row = session.scalar(select(ConfigRevision).where(
        ConfigRevision.object_type == object_type, ConfigRevision.object_id == object_id,
        ConfigRevision.revision == revision))
    if row is None:
        raise RevisionNotFound(f"{object_type} {object_id} has no revision {revision}")
    return row


def latest(session: Session, object_type: str, object_id: uuid.UUID) -> int:
    return int(session.scalar(select(func.max(ConfigRevision.revision)).where(
        ConfigRevision.object_type == object_type,
        ConfigRevision.object_id == object_id)) or 0)


def compare(session: Session, object_type: str, object_id: uuid.UUID, older: int,
            newer: int) -> list[Change]:
    a = get_revision(session, object_type, object_id, older)
    b = get_revision(session, object_type, object_id, newer)
    return diff(a.snapshot, b.snapshot)


def _set(obj: Any, values: dict[str, Any]) -> list[str]:
    changed = []
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed.append(key)
    return changed


def _name_free(session: Session, model: Any, obj: Any, name: str, **scope: Any) -> None:
    stmt = select(func.count()).select_from(model).where(model.name == name, model.id != obj.id)
    for key, value in scope.items():
        stmt = stmt.where(getattr(model, key) == value)
    if session.scalar(stmt):
        raise RollbackRefused(f"the name {name!r} is taken by another object now",
                              [("name", "already taken")])


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


def _instance(session: Session, obj: IntegrationInstance, snap: dict[str, Any]) -> list[str]:
    _name_free(session, IntegrationInstance, obj, snap["name"])
    auth_id = _uuid(snap.get("auth_config_id"))
    if auth_id is not None and session.get(AuthenticationConfig, auth_id) is None:
        raise RollbackRefused("the credential this revision used no longer exists",
                              [("auth_config_id", f"credential {snap.get('credential')!r} "
                                                  "was deleted")])
    return _set(obj, {"name": snap["name"], "configuration": snap.get("configuration") or {},
                      "options": snap.get("options") or {},
                      "connection_url": snap.get("connection_url"),
                      "version_compatibility": snap.get("version_compatibility"),
                      "auth_config_id": auth_id})


def _credential(session: Session, vault: Vault, obj: AuthenticationConfig,
                snap: dict[str, Any]) -> list[str]:
    _name_free(session, AuthenticationConfig, obj, snap["name"])
    if AuthType(snap["auth_type"]) != obj.auth_type:
        raise RollbackRefused(
            "the credential's type changed since that revision; a rollback restores metadata "
            "only, never secrets: set the type and its secrets with PUT /auth-configs/{id}",
            [("auth_type", f"was {snap['auth_type']}, is {obj.auth_type.value}")])
    changed = []
    fields = dict(snap.get("fields") or {})
    if fields != (obj.oauth_config or {}):
        try:
            merged = credentials.merged(vault, obj, obj.auth_type, fields)
        except credentials.CredentialFieldsError as exc:
            raise RollbackRefused("the revision's fields do not fit the stored secrets",
                                  exc.errors) from None
        credentials.store(vault, obj, merged)
        changed.append("fields")
    expiration = snap.get("expiration")
    changed += _set(obj, {"name": snap["name"],
                          "expiration": dt.datetime.fromisoformat(expiration)
                          if expiration else None,
                          "is_system_account": bool(snap.get("is_system_account"))})
    return changed


def _mapping(session: Session, obj: DataMapping, snap: dict[str, Any],
             who: Principal | None) -> list[str]:
    _name_free(session, DataMapping, obj, snap["name"], instance_id=obj.instance_id)
    keys = ("name", "source", "target", "direction", "description", "source_schema",
            "target_schema", "field_mappings", "transformations", "is_active")
    changed = _set(obj, {k: snap[k] for k in keys if k in snap})
    if changed:
        obj.version = str(int(obj.version) + 1 if obj.version.isdigit() else 1)
        try:
            spec = checked_spec(obj)
        except MappingShapeError as exc:
            raise RollbackRefused("the revision's mapping no longer validates",
                                  exc.errors) from None
        record_version(session, obj, spec, who.id if who else None)
    return changed


def _schedule(obj: SyncSchedule, snap: dict[str, Any]) -> list[str]:
    changed = _set(obj, {"schedule_type": ScheduleType(snap["schedule_type"]),
                         "interval_minutes": snap.get("interval_minutes"),
                         "cron_expression": snap.get("cron_expression"),
                         "timezone": snap.get("timezone") or "UTC",
                         "event_trigger": snap.get("event_trigger"),
                         "is_active": bool(snap.get("is_active", True))})
    problems = schedule_problems(obj)
    if problems:
        raise RollbackRefused("the revision's schedule is incomplete", problems)
    obj.next_execution = next_run(obj, utcnow())
    return changed


def _subscription(obj: EventSubscription, snap: dict[str, Any]) -> list[str]:
    return _set(obj, {"event_type": snap["event_type"],
                      "filter_criteria": snap.get("filter_criteria") or {},
                      "action_type": ActionType(snap["action_type"]),
                      "action_config": snap.get("action_config") or {},
                      "is_active": bool(snap.get("is_active", True))})


def rollback(session: Session, vault: Vault, object_type: str, object_id: uuid.UUID,
             revision: int, who: Principal | None) -> list[str]:
    """Restore revision ``revision``; returns the fields that changed (empty: already so).

    The caller commits; the commit writes the new revision.
    """
    rev = get_revision(session, object_type, object_id, revision)
    if rev.operation == "delete":
        raise RollbackRefused(f"revision {revision} records the deletion; roll back to an "
                              "earlier revision", [("revision", "is a deletion")])
    obj = session.get(MODELS[object_type], object_id)
    if obj is None:
        raise RevisionNotFound(f"{object_type} {object_id} no longer exists")
    snap = dict(rev.snapshot)
    sealed = snapshot_envelope(object_type, snap)
    if sealed is not None and sealed.get("kid") not in vault.keys:
        raise RollbackRefused(
            f"revision {revision} holds secrets sealed by master key {sealed.get('kid')}, "
            "which this agent no longer has (it was rotated away before rotations re-wrapped "
            "revisions); nothing was changed", [("revision", "secrets sealed by a retired key")])
    if isinstance(obj, IntegrationInstance):
        changed = _instance(session, obj, snap)
    elif isinstance(obj, AuthenticationConfig):
        changed = _credential(session, vault, obj, snap)
    elif isinstance(obj, DataMapping):
        changed = _mapping(session, obj, snap, who)
    elif isinstance(obj, SyncSchedule):
        changed = _schedule(obj, snap)
    else:
        changed = _subscription(obj, snap)
    if changed:
        mark_operation(session, object_type, object_id, "rollback", restored_from=revision)
        instance_id = obj.id if isinstance(obj, IntegrationInstance) else \
            getattr(obj, "instance_id", None)
        label = getattr(obj, "name", None) or str(object_id)
        activity.record(session, f"{object_type}.rollback",
                        f"{object_type} {label!r} rolled back to revision {revision}",
                        principal=who, instance_id=instance_id,
                        details={ID_KEYS[object_type]: str(object_id),
                                 "restored_from": revision, "fields": sorted(changed)})
    return changed
