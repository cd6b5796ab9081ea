from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.api.types import JsonList, ShortText


class RecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID | None
    entity_type: str
    external_id: str
    stream: str
    data: dict[str, Any]
    content_hash: str
    version: int
    is_deleted: bool
    deleted_at: dt.datetime | None
    first_seen_at: dt.datetime
    updated_at: dt.datetime
    provenance: dict[str, Any]

    @model_validator(mode="after")
    def _full_provenance(self) -> RecordRead:
        # The hash is a column (shared by every version); provenance shows it too.
        self.provenance = {**self.provenance, "content_hash": self.content_hash}
        return self


class RecordVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    change: str = Field(description="created, updated, deleted or restored")
    changed_fields: list[Any]
    data: dict[str, Any]
    content_hash: str
    sync_id: uuid.UUID | None
    recorded_at: dt.datetime
    provenance: dict[str, Any]

    @model_validator(mode="after")
    def _full_provenance(self) -> RecordVersionRead:
        self.provenance = {**self.provenance, "content_hash": self.content_hash}
        return self


class DeadLetterRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID | None
    sync_id: uuid.UUID | None
    stream: str
    raw: dict[str, Any]
    errors: list[Any]
    message: str
    created_at: dt.datetime


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    streams: list[ShortText] = Field(default_factory=list,
                                     description="Streams to sync; empty: all of them")
    full_refresh: bool = Field(default=False, description="Ignore saved cursors: read all, "
                               "and mark what the source no longer has as deleted")


class MappingTestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: JsonList = Field(min_length=1, max_length=1000,
                              description="Sample source records")
