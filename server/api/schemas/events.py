from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.db.models import EventActionStatus


class EventTypeRead(BaseModel):
    type: str
    source: str = Field(description="agent, or connector:<key>")
    description: str
    data_schema: dict[str, Any] = Field(description="JSON Schema of the event's data")


class EventRead(BaseModel):
    id: uuid.UUID
    type: str
    instance_id: uuid.UUID | None
    occurred_at: dt.datetime
    data: dict[str, Any]
    status: str
    created_at: dt.datetime


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt: int
    agent_id: str
    started_at: dt.datetime
    duration_ms: int
    ok: bool
    status_code: int | None
    error: str | None


class ActionRead(BaseModel):
    """One event delivered to a subscription: its outcome and every attempt."""

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    action_type: str
    status: EventActionStatus
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    result: dict[str, Any]
    created_at: dt.datetime
    finished_at: dt.datetime | None
    attempt_log: list[AttemptRead]


class SigningSecretRead(BaseModel):
    secrets: list[str] = Field(description="whsec_ secrets that sign now, current first")
    rotated_at: dt.datetime
    previous_valid_until: dt.datetime | None
