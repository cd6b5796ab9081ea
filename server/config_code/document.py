"""The configuration file: its schema (version 1), canonical form and deterministic YAML.

A document is plain data in one canonical form, whether it was exported from the database or
read from a file: keys in a fixed order, free-form objects (configurations, specs, field
mappings) with sorted keys, lists of named objects sorted by name, references by name (an
instance names its connector by key and its credential by name), never a database id.
Dumping the canonical form always gives the same bytes, which is what makes export ->
import -> export byte-identical and a file reviewable in git.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from server.api.schemas.instances import InstanceOptions
from server.api.types import JsonList, JsonObject, Name, ShortText, Text, TimeZone, Url
from server.db.models import ActionType, AuthType, ScheduleType

SCHEMA_VERSION = 1
HEADER = ("# SimpleTrust Integrations configuration (simpletrust config export).\n"
          "# Secret values are never in this file: bind them with --secrets or the API.\n")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectorDoc(_Strict):
    """A custom (declarative) connector, by key, with its spec."""

    key: ShortText = Field(min_length=1)
    spec: JsonObject


class CredentialDoc(_Strict):
    """A credential as a reference: its type and non-secret fields, never secret values."""

    name: Name
    type: AuthType
    fields: JsonObject = Field(default_factory=dict)
    #: The method's secret fields (informational: derived from the type on export).
    secrets: list[ShortText] = Field(default_factory=list)
    expiration: dt.datetime | None = None
    system_account: bool = False


class MappingDoc(_Strict):
    name: Name
    version: int = Field(default=1, ge=1)
    source: ShortText = Field(min_length=1)
    target: ShortText = Field(min_length=1)
    direction: Literal["inbound", "outbound"] = "inbound"
    active: bool = True
    description: Text = ""
    source_schema: JsonObject = Field(default_factory=dict)
    target_schema: JsonObject = Field(default_factory=dict)
    field_mappings: JsonList = Field(default_factory=list)
    transformations: JsonList = Field(default_factory=list)


class ScheduleDoc(_Strict):
    type: ScheduleType
    interval_minutes: int | None = Field(default=None, ge=1, le=525_600)
    cron: ShortText | None = None
    timezone: TimeZone = "UTC"
    event_trigger: ShortText | None = None
    active: bool = True


class SubscriptionDoc(_Strict):
    event_type: ShortText = Field(min_length=1)
    action_type: ActionType
    filter: JsonObject = Field(default_factory=dict)
    action_config: JsonObject = Field(default_factory=dict)
    #: The action's secret settings (a notification's ``slack_url``) by name, never their
    #: values: those stay in the agent, or are bound through the API after an import.
    secrets: list[ShortText] = Field(default_factory=list)
    active: bool = True


class InstanceDoc(_Strict):
    name: Name
    connector: ShortText = Field(min_length=1, description="The connector's key")
    credential: Name | None = None
    enabled: bool = False
    configuration: JsonObject = Field(default_factory=dict)
    options: JsonObject = Field(default_factory=dict)
    connection_url: Url | None = None
    version_compatibility: ShortText | None = None
    mappings: list[MappingDoc] = Field(default_factory=list)
    schedules: list[ScheduleDoc] = Field(default_factory=list)
    subscriptions: list[SubscriptionDoc] = Field(default_factory=list)


class Document(_Strict):
    schema_version: int
    connectors: list[ConnectorDoc] = Field(default_factory=list)
    credentials: list[CredentialDoc] = Field(default_factory=list)
    instances: list[InstanceDoc] = Field(default_factory=list)

    @field_validator("schema_version")
    @classmethod
    def _known(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"this agent reads schema_version {SCHEMA_VERSION}, not {value}")
        return value


# ---- canonical form ------------------------------------------------------------------------

def sorted_json(value: Any) -> Any:
    """Free-form JSON with every object's keys sorted (lists keep their order)."""
    if isinstance(value, dict):
        return {str(k): sorted_json(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [sorted_json(v) for v in value]
    return value


def format_time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def canonical_connector(c: ConnectorDoc) -> dict[str, Any]:
    return {"key": c.key, "spec": sorted_json(c.spec)}


def canonical_credential(c: CredentialDoc, secret_names: list[str]) -> dict[str, Any]:
    return {"name": c.name, "type": c.type.value, "fields": sorted_json(c.fields),
            "secrets": sorted(secret_names), "expiration": format_time(c.expiration),
            "system_account": c.system_account}


def canonical_mapping(m: MappingDoc) -> dict[str, Any]:
    return {"name": m.name, "version": m.version, "source": m.source, "target": m.target,
            "direction": m.direction, "active": m.active, "description": m.description,
            "source_schema": sorted_json(m.source_schema),
            "target_schema": sorted_json(m.target_schema),
            "field_mappings": sorted_json(m.field_mappings),
            "transformations": sorted_json(m.transformations)}


def canonical_schedule(s: ScheduleDoc) -> dict[str, Any]:
    return {"type": s.type.value, "interval_minutes": s.interval_minutes, "cron": s.cron,
            "timezone": s.timezone, "event_trigger": s.event_trigger, "active": s.active}


def canonical_subscription(s: SubscriptionDoc) -> dict[str, Any]:
    return {"event_type": s.event_type, "action_type": s.action_type.value,
            "filter": sorted_json(s.filter), "action_config": sorted_json(s.action_config),
            # Only when there are any: files without secrets keep their bytes.
            **({"secrets": sorted(set(s.secrets))} if s.secrets else {}), "active": s.active}


def _options(options: dict[str, Any]) -> dict[str, Any]:
    """Agent-side options with their defaults, as the API stores them (unchanged if invalid)."""
    try:
        return InstanceOptions.model_validate(options).model_dump()
    except ValidationError:
        return options


def canonical_instance(i: InstanceDoc) -> dict[str, Any]:
    return {
        "name": i.name, "connector": i.connector, "credential": i.credential,
        "enabled": i.enabled, "configuration": sorted_json(i.configuration),
        "options": sorted_json(_options(i.options)), "connection_url": i.connection_url,
        "version_compatibility": i.version_compatibility,
        "mappings": sorted((canonical_mapping(m) for m in i.mappings),
                           key=lambda m: str(m["name"])),
        "schedules": sorted((canonical_schedule(s) for s in i.schedules), key=_key),
        "subscriptions": sorted((canonical_subscription(s) for s in i.subscriptions),
                                key=_key),
    }


def document(connectors: list[dict[str, Any]], credentials: list[dict[str, Any]],
             instances: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION,
            "connectors": sorted(connectors, key=lambda c: str(c["key"])),
            "credentials": sorted(credentials, key=lambda c: str(c["name"])),
            "instances": sorted(instances, key=lambda i: str(i["name"]))}


# ---- YAML ----------------------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    """No anchors or aliases (equal values are written out each time)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(doc: dict[str, Any]) -> str:
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100, indent=2)
    return HEADER + body


def load(text: str) -> Any:
    """Parse YAML (or JSON) safely; YAMLError names the line.

    Anchors and aliases are refused: the export never writes them, and a few nested aliases
    would make validation walk an exponentially large document.
    """
    for token in yaml.scan(text):
        if isinstance(token, yaml.AliasToken | yaml.AnchorToken):
            raise yaml.YAMLError(f"line {token.start_mark.line + 1}: anchors and aliases "
                                 "(& and *) are not supported; write the values out")
    return yaml.safe_load(text)
