from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import JsonObject
from server.db.models import ConnectorOrigin, SystemType


class ConnectorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key: str
    name: str
    description: str
    version: str
    system_type: SystemType
    vendor: str | None
    capabilities: dict[str, Any]
    auth_methods: list[Any]
    is_built_in: bool
    origin: ConnectorOrigin
    author: str | None
    documentation_url: str | None
    icon_url: str | None
    available: bool = Field(description="Whether this agent can run it (its code is loaded)")
    created_at: dt.datetime
    updated_at: dt.datetime


class ConnectorSchemaRead(BaseModel):
    id: uuid.UUID
    key: str
    config_schema: dict[str, Any] = Field(
        description="JSON Schema of the instance configuration; secret fields are writeOnly")
    auth_methods: list[Any]
    streams: list[dict[str, Any]] = Field(
        description="Streams with their record JSON Schemas (static ones; some connectors "
        "discover more from a live system)")


class ConnectorCapabilitiesRead(BaseModel):
    id: uuid.UUID
    key: str
    capabilities: dict[str, Any]


class DeclarativeConnectorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: JsonObject = Field(
        description="A declarative connector spec (see docs/sdk/declarative.md)")


class ConnectorInUse(BaseModel):
    id: uuid.UUID
    name: str
