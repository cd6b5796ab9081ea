from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import JsonObject, ShortText
from server.db.models import ActionType

_SECRETS = ("The action's settings. Secret ones (a notification's `slack_url`) are write-only: "
            "sealed at rest and never returned (see `secret_hints`); an update that leaves "
            "one out keeps it, null removes it.")


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: uuid.UUID
    event_type: ShortText = Field(min_length=1, description="e.g. `sync.failed`")
    filter_criteria: JsonObject = Field(default_factory=dict)
    action_type: ActionType
    action_config: JsonObject = Field(default_factory=dict, description=_SECRETS)
    is_active: bool = True


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: ShortText | None = Field(default=None, min_length=1)
    filter_criteria: JsonObject | None = None
    action_type: ActionType | None = None
    action_config: JsonObject | None = Field(default=None, description=_SECRETS)
    is_active: bool | None = None


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID
    event_type: str
    filter_criteria: JsonObject
    action_type: ActionType
    action_config: JsonObject = Field(
        description="The non-secret fields only (a Slack URL is shown in `secret_hints`)")
    secret_hints: dict[str, str] = Field(
        default_factory=dict,
        description="Each secret of the action that is set, masked (scheme and host of a "
                    "Slack URL); leave it out of an update to keep it, send null to remove it")
    is_active: bool
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
