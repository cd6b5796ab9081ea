"""The catalogue of event types and the JSON Schema of each one's ``data``.

Every event is delivered in one envelope::

    {"id": "…", "type": "sync.completed", "instance_id": "…", "occurred_at": "2026-…Z",
     "data": {…}}

Filters address envelope fields (``data.status``); outbound webhooks send the envelope as the
body. Connector webhook events are typed ``<connector key>.<event>`` (GitHub:
``github.workflow_run.completed``); deliveries verified by Standard Webhooks or a shared secret
become ``webhook.<type>`` from the body's ``type`` field (``webhook.received`` without one).
"""

from __future__ import annotations

from typing import Any

from connectors.registry import ConnectorEntry

_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_COUNTS = {"type": "object", "additionalProperties": {"type": ["integer", "object"]}}

_SYNC = {
    "type": "object",
    "required": ["execution_id", "instance_id", "instance", "trigger", "status"],
    "properties": {
        "execution_id": _UUID, "instance_id": _UUID, "instance": {"type": "string"},
        "connector": {"type": "string"},
        "trigger": {"enum": ["scheduled", "manual", "event"]},
        "status": {"enum": ["running", "completed", "failed", "cancelled"]},
        "schedule_id": {"type": ["string", "null"]},
        "started_at": _TIME, "ended_at": _TIME,
        "stats": {**_COUNTS, "description": "created, updated, unchanged, deleted, failed, "
                                            "skipped; per stream under streams"},
        "error": {"type": ["object", "null"],
                  "description": "category, message (failed syncs only)"},
    },
}

_RECORDS = {
    "type": "object",
    "required": ["execution_id", "instance_id", "count"],
    "properties": {
        "execution_id": _UUID, "instance_id": _UUID, "instance": {"type": "string"},
        "count": {"type": "integer", "minimum": 1},
        "by_entity_type": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
    "description": "One event per sync and kind of change (not one per record).",
}

_ALERT = {
    "type": "object",
    "required": ["alert_id", "kind", "severity", "status", "title", "message"],
    "properties": {
        "alert_id": _UUID, "instance_id": {"type": ["string", "null"]},
        "instance": {"type": ["string", "null"]},
        "kind": {"enum": ["consecutive_failures", "instance_error", "sync_hung",
                          "instance_stale", "credential_expiring", "throttling_spike",
                          "version_incompatible"]},
        "severity": {"enum": ["warning", "critical"]},
        "status": {"enum": ["open", "acknowledged", "resolved"]},
        "title": {"type": "string"}, "message": {"type": "string"},
        "hint": {"type": ["string", "null"]}, "details": {"type": "object"},
        "first_seen_at": _TIME,
    },
}

_TASK = {
    "type": "object",
    "required": ["task_id", "status", "error_category", "title"],
    "properties": {
        "task_id": _UUID, "status": {"enum": ["open", "resolved"]},
        "instance_id": {"type": ["string", "null"]}, "instance": {"type": ["string", "null"]},
        "error_category": {"type": "string"}, "title": {"type": "string"},
        "description": {"type": "string"}, "hint": {"type": ["string", "null"]},
        "occurrences": {"type": "integer"}, "sync_id": {"type": ["string", "null"]},
        "resolution": {"type": ["string", "null"]},
    },
}

_CHECK = {
    "type": "object",
    "required": ["record_id", "external_id", "check_id", "status", "instance_id"],
    "properties": {
        "record_id": _UUID, "external_id": {"type": "string"}, "instance_id": _UUID,
        "instance": {"type": ["string", "null"]}, "sync_id": _UUID,
        "check_id": {"type": ["string", "null"]}, "status": {"enum": ["fail"]},
        "severity": {"type": ["string", "null"]}, "title": {"type": ["string", "null"]},
        "resource": {"type": ["string", "null"]}, "content_hash": {"type": "string"},
        "check": {"type": "object", "description": "The canonical configuration_check"},
    },
}

INTERNAL: dict[str, dict[str, Any]] = {
    "check.failed": {"description": "A control check failed (a configuration_check record "
                     "created or changed with status fail): route it to a ticket.",
                     "schema": _CHECK},
    "sync.started": {"description": "A sync began (once per execution).",
                     "schema": _SYNC},
    "sync.completed": {"description": "A sync finished; stats has the counts.",
                       "schema": _SYNC},
    "sync.failed": {"description": "A sync failed; error has the category and message.",
                    "schema": _SYNC},
    "sync.cancelled": {"description": "A sync was stopped on request.", "schema": _SYNC},
    "record.created": {"description": "Records created by a sync (summary).",
                       "schema": _RECORDS},
    "record.updated": {"description": "Records updated by a sync (summary).",
                       "schema": _RECORDS},
    "record.deleted": {"description": "Records a full sync no longer saw (summary).",
                       "schema": _RECORDS},
    "instance.status_changed": {
        "description": "An instance was activated, deactivated or went into error.",
        "schema": {"type": "object", "required": ["instance_id", "from", "to"],
                   "properties": {"instance_id": _UUID, "instance": {"type": "string"},
                                  "from": {"type": "string"}, "to": {"type": "string"},
                                  "error_message": {"type": ["string", "null"]}}}},
    "credential.expiring": {
        "description": "A credential an instance uses expires within the warning window.",
        "schema": {"type": "object", "required": ["credential_id", "expires_at"],
                   "properties": {"credential_id": _UUID, "credential": {"type": "string"},
                                  "expires_at": {"type": "string", "format": "date-time"},
                                  "days_left": {"type": "integer"},
                                  "instance_id": {"type": ["string", "null"]}}}},
    # Issue 7: alerts and tasks for manual intervention (server.monitoring).
    "alert.raised": {"description": "An integration health alert was raised (failed syncs, "
                                    "error, hung or stale sync, expiring credential, "
                                    "throttling, version incompatibility).", "schema": _ALERT},
    "alert.acknowledged": {"description": "A person acknowledged an alert.",
                           "schema": _ALERT},
    "alert.resolved": {"description": "An alert's condition cleared.", "schema": _ALERT},
    "task.opened": {"description": "A failure needs a person (the recovery step is in hint).",
                    "schema": _TASK},
    "task.resolved": {"description": "A task was resolved (by a later successful sync or a "
                                     "person).", "schema": _TASK},
    "webhook.received": {
        "description": "A verified delivery (Standard Webhooks or shared secret) without a "
                       "type field; data is its JSON body. With a type field T the event is "
                       "webhook.T.",
        "schema": {"type": "object"}},
}

CONNECTOR_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "What the connector's parse_webhook returned for the delivery.",
}


def catalogue(entries: dict[str, ConnectorEntry]) -> list[dict[str, Any]]:
    """Internal types, then each webhook-capable connector's (``<key>.*`` when it does not
    list them: a class attribute ``webhook_event_types`` names them)."""
    out = [{"type": name, "source": "agent", **spec} for name, spec in INTERNAL.items()]
    for key, entry in sorted(entries.items()):
        cls = entry.connector_class
        if not cls.supports_webhooks():
            continue
        names = list(getattr(cls, "webhook_event_types", None) or [])
        for name in names or ["*"]:
            out.append({"type": f"{key}.{name}", "source": f"connector:{key}",
                        "description": f"{entry.metadata.name} webhook event"
                                       + (" (any)" if name == "*" else ""),
                        "schema": CONNECTOR_EVENT_SCHEMA})
    return out
