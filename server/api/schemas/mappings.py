from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import JsonList, JsonObject, Name, ShortText, Text


class MappingCreate(BaseModel):
    """A mapping from a connector stream (``source``) to a canonical entity (``target``)."""

    model_config = ConfigDict(extra="forbid")

    instance_id: uuid.UUID
    name: Name
    source: ShortText = Field(min_length=1, description="Stream name (inbound) or entity type")
    target: ShortText = Field(min_length=1, description="Canonical entity type (inbound), "
                              "e.g. `identity`, or the external object (outbound)")
    direction: Literal["inbound", "outbound"] = "inbound"
    description: Text = ""
    source_schema: JsonObject = Field(default_factory=dict)
    target_schema: JsonObject = Field(default_factory=dict)
    field_mappings: JsonList = Field(
        default_factory=list, description="Field rules: `{target, source, steps, rules}` "
        "(see docs/guides/data-mapping.md)")
    transformations: JsonList = Field(default_factory=list)
    is_active: bool = True


class MappingUpdate(BaseModel):
    """Fields left out keep their value; every accepted change makes a new version."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    source: ShortText | None = Field(default=None, min_length=1)
    target: ShortText | None = Field(default=None, min_length=1)
    direction: Literal["inbound", "outbound"] | None = None
    description: Text | None = None
    source_schema: JsonObject | None = None
    target_schema: JsonObject | None = None
    field_mappings: JsonList | None = None
    transformations: JsonList | None = None
    is_active: bool | None = None


class MappingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID
    name: str
    source: str
    target: str
    direction: str
    description: str
    source_schema: JsonObject
    target_schema: JsonObject
    field_mappings: JsonList
    transformations: JsonList
    is_active: bool
    version: str
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class MappingProblemRead(BaseModel):
    field: str | None
    code: str
    message: str
    severity: str


class MappingValidation(BaseModel):
    valid: bool = Field(description="No error-level problem")
    version: str
    required_targets: list[str]
    problems: list[MappingProblemRead]


class FieldErrorRead(BaseModel):
    field: str | None
    message: str
    value_preview: Any = None


class MappingTestRecord(BaseModel):
    index: int
    output: dict[str, Any] | None
    errors: list[FieldErrorRead]


class MappingTestResult(BaseModel):
    version: str
    results: list[MappingTestRecord]
