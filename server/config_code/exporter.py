"""The live configuration as a canonical document (see :mod:`server.config_code.document`)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.sdk.auth.models import FIELD_MODELS, auth_method, public_values
from connectors.sdk.fields import secret_field_names
from server.config_code.document import (
    ConnectorDoc,
    CredentialDoc,
    InstanceDoc,
    MappingDoc,
    ScheduleDoc,
    SubscriptionDoc,
    canonical_connector,
    canonical_credential,
    canonical_instance,
    document,
)
from server.db.models import (
    AuthenticationConfig,
    AuthType,
    ConnectorOrigin,
    DataMapping,
    EventSubscription,
    InstanceStatus,
    IntegrationConnector,
    IntegrationInstance,
    SyncSchedule,
)
from server.events import action_secrets


def secret_names(auth_type: AuthType) -> list[str]:
    return sorted(secret_field_names(FIELD_MODELS[auth_method(auth_type.value)]))


def public_fields(auth_type: AuthType, fields: dict[str, Any]) -> dict[str, Any]:
    """The non-secret fields with the method's defaults filled in (as the API stores them),
    so a minimal file and the stored credential compare equal; unchanged if invalid."""
    model = FIELD_MODELS[auth_method(auth_type.value)]
    stand_ins = {n: "stand-in" for n in secret_field_names(model) if n not in fields}
    try:
        return public_values(model.model_validate({**fields, **stand_ins}))
    except ValidationError:
        return dict(fields)


def _version(value: str) -> int:
    return int(value) if value.isdigit() and int(value) >= 1 else 1


def action_config_out(config: dict[str, Any], names: dict[uuid.UUID, str]) -> dict[str, Any]:
    """An action's reference to an instance by id becomes a reference by name."""
    out = dict(config)
    raw = out.get("instance_id")
    if raw:
        try:
            name = names.get(uuid.UUID(str(raw)))
        except ValueError:
            name = None
        if name is not None:
            del out["instance_id"]
            out["instance"] = name
    return out


def export_document(session: Session) -> dict[str, Any]:
    """Custom connectors, credentials (references), instances with their mappings,
    schedules and subscriptions."""
    connectors = [canonical_connector(ConnectorDoc(key=c.key, spec=c.declarative_spec or {}))
                  for c in session.scalars(select(IntegrationConnector).where(
                      IntegrationConnector.origin == ConnectorOrigin.DECLARATIVE))]
    creds = list(session.scalars(select(AuthenticationConfig)))
    cred_names = {c.id: c.name for c in creds}
    credentials = [canonical_credential(CredentialDoc(
        name=c.name, type=c.auth_type, fields=public_fields(c.auth_type, c.oauth_config or {}),
        expiration=c.expiration, system_account=c.is_system_account),
        secret_names(c.auth_type)) for c in creds]
    keys = dict(session.execute(select(IntegrationConnector.id, IntegrationConnector.key)).all())
    instances = list(session.scalars(select(IntegrationInstance)))
    names = {i.id: i.name for i in instances}
    children: dict[uuid.UUID, dict[str, list[Any]]] = {
        i.id: {"mappings": [], "schedules": [], "subscriptions": []} for i in instances}
    for m in session.scalars(select(DataMapping)):
        children[m.instance_id]["mappings"].append(MappingDoc(
            name=m.name, version=_version(m.version), source=m.source or m.name,
            target=m.target or "unknown", direction=m.direction or "inbound",
            active=m.is_active, description=m.description or "",
            source_schema=m.source_schema or {}, target_schema=m.target_schema or {},
            field_mappings=m.field_mappings or [], transformations=m.transformations or []))
    for s in session.scalars(select(SyncSchedule)):
        children[s.instance_id]["schedules"].append(ScheduleDoc(
            type=s.schedule_type, interval_minutes=s.interval_minutes, cron=s.cron_expression,
            timezone=s.timezone or "UTC", event_trigger=s.event_trigger, active=s.is_active))
    for e in session.scalars(select(EventSubscription)):
        children[e.instance_id]["subscriptions"].append(SubscriptionDoc(
            event_type=e.event_type, action_type=e.action_type,
            filter=e.filter_criteria or {},
            action_config=action_config_out(action_secrets.public(e.action_config), names),
            secrets=action_secrets.declared(e.action_config), active=e.is_active))
    docs = [canonical_instance(InstanceDoc(
        name=i.name, connector=keys[i.connector_id],
        credential=cred_names.get(i.auth_config_id) if i.auth_config_id else None,
        enabled=i.status in (InstanceStatus.ACTIVE, InstanceStatus.ERROR),
        configuration=i.configuration or {}, options=i.options or {},
        connection_url=i.connection_url, version_compatibility=i.version_compatibility,
        **children[i.id])) for i in instances]
    return document(connectors, credentials, docs)
