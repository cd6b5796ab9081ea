"""What the configuration wizard sends to the agent, step by step (Qt-free).

The agent tests and previews *instances*, so the wizard keeps a draft instance: created
(status ``configuring``) when the connection parameters are first accepted, updated with
``PUT`` when the user goes back and changes them, deleted if the wizard is cancelled, and
finally given its schedule and activated. A 409 from activate names the missing fields.

Example::

    draft = Draft(connector=github, name="GitHub (acme)", configuration={...})
    await save_draft(api, draft)          # POST /instances, then PUT on later saves
    result = await api.post(f"/instances/{draft.instance_id}/test")
    created = await finish(api, draft)    # schedule, activate
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.api import ApiClient, JsonDict
from app.core.errors import ConsoleError
from app.forms.schema import parse_schema

DEFAULT_OPTIONS: JsonDict = {
    "allow_loopback": False,
    "rate_limit_per_second": None,
    "http_timeout": 30.0,
    "verify_tls": True,
}
NO_AUTH = "none"
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


@dataclass
class ScheduleChoice:
    """``kind`` is "none", "interval", "cron" or "event"."""

    kind: str = "none"
    interval_minutes: int = 60
    cron_expression: str = ""
    timezone: str = "UTC"
    event_trigger: str = ""

    def problems(self) -> dict[str, str]:
        """``{field: message}``; empty when the schedule can be created."""
        found: dict[str, str] = {}
        if self.kind == "interval" and not 1 <= self.interval_minutes <= 525_600:
            found["interval_minutes"] = "must be between 1 and 525600 minutes"
        if self.kind == "cron":
            parts = self.cron_expression.split()
            if len(parts) != 5:
                found["cron_expression"] = (
                    f"needs five fields (minute hour day month weekday), got {len(parts)}"
                )
            elif not all(_CRON_FIELD.match(p) for p in parts):
                found["cron_expression"] = "has characters a cron field cannot contain"
            if not self.timezone.strip():
                found["timezone"] = "must not be empty (e.g. UTC or Europe/Berlin)"
        if self.kind == "event" and not self.event_trigger.strip():
            found["event_trigger"] = "name the event type that starts a sync"
        return found

    def describe(self) -> str:
        if self.kind == "interval":
            return f"every {self.interval_minutes} min"
        if self.kind == "cron":
            return f"cron {self.cron_expression} ({self.timezone})"
        if self.kind == "event":
            return f"on event {self.event_trigger}"
        return "manual syncs only"

    def body(self, instance_id: str) -> JsonDict | None:
        """The `POST /schedules` body, or None for manual syncs only."""
        if self.kind == "none":
            return None
        body: JsonDict = {"instance_id": instance_id, "schedule_type": self.kind}
        if self.kind == "interval":
            body["interval_minutes"] = self.interval_minutes
        elif self.kind == "cron":
            body["cron_expression"] = self.cron_expression.strip()
            body["timezone"] = self.timezone.strip()
        else:
            body["event_trigger"] = self.event_trigger.strip()
        return body


@dataclass
class Draft:
    """Everything the wizard has collected; ``instance_id`` once the agent has the draft."""

    connector: JsonDict | None = None
    auth_config_id: str | None = None
    auth_config_name: str = ""
    name: str = ""
    configuration: JsonDict = field(default_factory=dict)
    options: JsonDict = field(default_factory=lambda: dict(DEFAULT_OPTIONS))
    schedule: ScheduleChoice = field(default_factory=ScheduleChoice)
    activate: bool = True
    sync_now: bool = True
    instance_id: str | None = None
    schedule_id: str | None = None  # created by a `finish` whose activation then failed

    @property
    def connector_id(self) -> str:
        return str((self.connector or {}).get("id") or "")

    def instance_body(self) -> JsonDict:
        return {
            "name": self.name.strip(),
            "connector_id": self.connector_id,
            "configuration": copy.deepcopy(self.configuration),
            "options": {k: v for k, v in self.options.items() if k in DEFAULT_OPTIONS},
            "auth_config_id": self.auth_config_id,
        }


def needs_credential(connector: Mapping[str, Any]) -> bool:
    """False for connectors whose only method is "none" (File Import)."""
    methods = list(connector.get("auth_methods") or [])
    return bool(methods) and methods != [NO_AUTH]


def credential_methods(connector: Mapping[str, Any]) -> list[str]:
    """The connector's auth methods a stored credential can satisfy (all but "none")."""
    return [str(m) for m in connector.get("auth_methods") or [] if m != NO_AUTH]


def matching_credentials(
    credentials: Iterable[Mapping[str, Any]], connector: Mapping[str, Any]
) -> list[JsonDict]:
    methods = set(credential_methods(connector))
    return [dict(c) for c in credentials if c.get("auth_type") in methods]


def suggest_name(connector: Mapping[str, Any], existing: Iterable[str]) -> str:
    """``GitHub``, or ``GitHub 2`` … when the name is taken."""
    base = str(connector.get("name") or connector.get("key") or "Integration")
    taken = set(existing)
    if base not in taken:
        return base
    number = 2
    while f"{base} {number}" in taken:
        number += 1
    return f"{base} {number}"


def clone_draft(
    instance: Mapping[str, Any],
    connector: Mapping[str, Any],
    config_schema: Mapping[str, Any],
    existing_names: Iterable[str] = (),
) -> Draft:
    """A new draft like ``instance``: same connector, credential, options and configuration
    (secret fields left out: the agent never returns them, so they must be typed again)."""
    secrets = {f.key for f in parse_schema(config_schema) if f.secret}
    configuration = {
        k: copy.deepcopy(v)
        for k, v in (instance.get("configuration") or {}).items()
        if k not in secrets
    }
    options = {
        **DEFAULT_OPTIONS,
        **{k: v for k, v in (instance.get("options") or {}).items() if k in DEFAULT_OPTIONS},
    }
    base = f"{instance.get('name')} copy"
    name = suggest_name({"name": base}, existing_names)
    return Draft(
        connector=dict(connector),
        auth_config_id=instance.get("auth_config_id"),
        name=name,
        configuration=configuration,
        options=options,
    )


async def save_draft(api: ApiClient, draft: Draft) -> JsonDict:
    """Create the draft instance, or update it with what changed since."""
    body = draft.instance_body()
    if draft.instance_id is None:
        created = await api.post("/instances", body)
        draft.instance_id = str(created["id"])
        return dict(created)
    update = {k: v for k, v in body.items() if k != "connector_id"}
    return dict(await api.put(f"/instances/{draft.instance_id}", update))


async def discard(api: ApiClient, draft: Draft) -> None:
    """Delete the draft instance of a cancelled wizard (if the agent has one)."""
    if draft.instance_id is None:
        return
    instance_id, draft.instance_id = draft.instance_id, None
    # already gone, or the agent is away: then the draft stays "configuring"
    with contextlib.suppress(ConsoleError):
        await api.delete(f"/instances/{instance_id}")


@dataclass
class Created:
    instance: JsonDict
    schedule: JsonDict | None
    execution: JsonDict | None


async def finish(api: ApiClient, draft: Draft) -> Created:
    """Save the draft, create its schedule, activate it and optionally start a first sync."""
    instance = await save_draft(api, draft)
    assert draft.instance_id is not None
    schedule = None
    body = draft.schedule.body(draft.instance_id)
    if body is not None and draft.schedule_id is None:
        schedule = dict(await api.post("/schedules", body))
        draft.schedule_id = str(schedule["id"])
    elif body is not None:  # a retry after a failed activation: keep one schedule
        update = {k: v for k, v in body.items() if k != "instance_id"}
        schedule = dict(await api.put(f"/schedules/{draft.schedule_id}", update))
    execution = None
    if draft.activate:
        instance = dict(await api.post(f"/instances/{draft.instance_id}/activate"))
        if draft.sync_now:
            execution = dict(await api.post(f"/instances/{draft.instance_id}/sync", {}))
    return Created(instance, schedule, execution)


def categories(connectors: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """(system type, count) sorted by name, for the library's category list."""
    counts: dict[str, int] = {}
    for connector in connectors:
        kind = str(connector.get("system_type") or "Other")
        counts[kind] = counts.get(kind, 0) + 1
    return sorted(counts.items())


def masked_configuration(
    configuration: Mapping[str, Any], config_schema: Mapping[str, Any]
) -> JsonDict:
    """The configuration for display: secret fields shown as "••••" (set) only."""
    secrets = {f.key for f in parse_schema(config_schema) if f.secret}
    return {k: ("••••" if k in secrets and v else v) for k, v in configuration.items()}
