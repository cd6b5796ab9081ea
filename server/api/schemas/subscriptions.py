from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import JsonObject, ShortText
from server.db.models import ActionType


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: uuid.UUID
    event_type: ShortText = Field(min_length=1, description="e.g. `sync.failed`")
    filter_criteria: JsonObject = Field(default_factory=dict)
    action_type: ActionType
    action_config: JsonObject = Field(default_factory=dict)
    is_active: bool = True


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: ShortText | None = Field(default=None, min_length=1)
    filter_criteria: JsonObject | None = None
    action_type: ActionType | None = None
    action_config: JsonObject | None = None
    is_active: bool | None = None


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID
    event_type: str
    filter_criteria: JsonObject
    action_type: ActionType
    action_config: JsonObject
    is_active: bool
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
