"""What a revision keeps of each kind of configuration object.

Only configuration: runtime state (last sync, last use, error messages) is left out, so a sync
finishing does not make a revision. Credentials keep metadata only: their name, type, the
non-secret fields and expiry, never the sealed secrets.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from server.db.models import (
    AuthenticationConfig,
    DataMapping,
    EventSubscription,
    InstanceStatus,
    IntegrationConnector,
    IntegrationInstance,
    SyncSchedule,
)
from server.sync.mappings import spec_of

Tracked = (IntegrationInstance | AuthenticationConfig | DataMapping | SyncSchedule
           | EventSubscription)

#: Object type (as the audit trail and the API name it) of each tracked model.
TYPES: dict[type[Any], str] = {
    IntegrationInstance: "instance", AuthenticationConfig: "credential",
    DataMapping: "mapping", SyncSchedule: "schedule", EventSubscription: "subscription",
}
MODELS: dict[str, type[Any]] = {name: model for model, name in TYPES.items()}


def _value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return getattr(value, "value", value)


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def snapshot(session: Session, obj: Any) -> dict[str, Any]:
    """The object's configuration as a plain JSON document."""
    if isinstance(obj, IntegrationInstance):
        connector = session.get(IntegrationConnector, obj.connector_id)
        credential = (session.get(AuthenticationConfig, obj.auth_config_id)
                      if obj.auth_config_id else None)
        return {
            "name": obj.name, "connector": connector.key if connector else None,
            "connector_id": _id(obj.connector_id),
            "credential": credential.name if credential else None,
            "auth_config_id": _id(obj.auth_config_id),
            "configuration": obj.configuration or {}, "options": obj.options or {},
            "connection_url": obj.connection_url,
            "version_compatibility": obj.version_compatibility,
            "enabled": obj.status in (InstanceStatus.ACTIVE, InstanceStatus.ERROR),
        }
    if isinstance(obj, AuthenticationConfig):
        return {"name": obj.name, "auth_type": _value(obj.auth_type),
                "fields": obj.oauth_config or {}, "expiration": _value(obj.expiration),
                "is_system_account": bool(obj.is_system_account)}
    if isinstance(obj, DataMapping):
        try:
            fingerprint: str | None = spec_of(obj).fingerprint()
        except (ValidationError, ValueError):
            fingerprint = None
        return {
            "instance_id": _id(obj.instance_id), "name": obj.name, "source": obj.source,
            "target": obj.target, "direction": obj.direction, "description": obj.description,
            "source_schema": obj.source_schema or {}, "target_schema": obj.target_schema or {},
            "field_mappings": obj.field_mappings or [],
            "transformations": obj.transformations or [], "is_active": bool(obj.is_active),
            "version": obj.version, "fingerprint": fingerprint,
        }
    if isinstance(obj, SyncSchedule):
        return {"instance_id": _id(obj.instance_id), "schedule_type": _value(obj.schedule_type),
                "interval_minutes": obj.interval_minutes,
                "cron_expression": obj.cron_expression, "timezone": obj.timezone,
                "event_trigger": obj.event_trigger, "is_active": bool(obj.is_active)}
    if isinstance(obj, EventSubscription):
        return {"instance_id": _id(obj.instance_id), "event_type": obj.event_type,
                "filter_criteria": obj.filter_criteria or {},
                "action_type": _value(obj.action_type), "action_config": obj.action_config or {},
                "is_active": bool(obj.is_active)}
    raise TypeError(f"no revisions are kept for {type(obj).__name__}")
