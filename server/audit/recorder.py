"""The bridge from the operational log (``activity.record``) to the audit trail."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from server.audit.chain import Note, note, set_actor
from server.db.models import LogType, Principal

#: Where each kind of operation names its object (``instance.update`` -> details/instance_id).
_ID_KEYS = {"instance": "instance_id", "credential": "auth_config_id", "mapping": "mapping_id",
            "schedule": "schedule_id", "subscription": "subscription_id",
            "connector": "connector_id", "principal": "principal_id", "token": "token_id",
            "sync": "sync_id", "webhook": "delivery_id", "delivery": "delivery_id"}


def from_activity(
    session: Session, operation: str, message: str, *, principal: Principal | None,
    instance_id: uuid.UUID | None, sync_id: uuid.UUID | None, log_type: LogType,
    details: dict[str, Any] | None,
) -> None:
    """Queue the audit entry of one ``activity.record`` call (appended at commit)."""
    if principal is not None:
        set_actor(session, principal)
    prefix = operation.split(".", 1)[0]
    data = dict(details or {})
    key = _ID_KEYS.get(prefix, f"{prefix}_id")
    object_id: Any = data.get(key) or data.get("id")
    if object_id is None:
        object_id = sync_id if prefix == "sync" else instance_id if prefix == "instance" else None
    audit_details: dict[str, Any] = {"message": message, "level": log_type.value, **data}
    if instance_id is not None:
        audit_details["instance_id"] = str(instance_id)
    if sync_id is not None:
        audit_details["sync_id"] = str(sync_id)
    written = data.get("written")
    after_hash = written.get("sha256") if isinstance(written, dict) else None
    note(session, Note(operation, prefix, str(object_id) if object_id is not None else None,
                       actor=principal.name if principal is not None else None,
                       after_hash=after_hash if isinstance(after_hash, str) else None,
                       details=audit_details))
