from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import JsonList, JsonObject, Name


class MappingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: uuid.UUID
    name: Name
    source_schema: JsonObject = Field(default_factory=dict)
    target_schema: JsonObject = Field(default_factory=dict)
    field_mappings: JsonList = Field(default_factory=list)
    transformations: JsonList = Field(default_factory=list)


class MappingUpdate(BaseModel):
    """Fields left out keep their value; every accepted change makes a new version."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    source_schema: JsonObject | None = None
    target_schema: JsonObject | None = None
    field_mappings: JsonList | None = None
    transformations: JsonList | None = None


class MappingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID
    name: str
    source_schema: JsonObject
    target_schema: JsonObject
    field_mappings: JsonList
    transformations: JsonList
    version: str
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
