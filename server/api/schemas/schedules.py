from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import ShortText, TimeZone
from server.db.models import ScheduleType

#: A year: anything longer is a typo, and it keeps the value inside a 32-bit column.
MAX_INTERVAL_MINUTES = 525_600
#: An hour: spreading runs wider than that is a different schedule.
MAX_JITTER_SECONDS = 3600


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: uuid.UUID
    schedule_type: ScheduleType
    interval_minutes: int | None = Field(default=None, ge=1, le=MAX_INTERVAL_MINUTES)
    cron_expression: ShortText | None = Field(
        default=None, description="Five fields: minute hour day month weekday, e.g. `0 2 * * *`")
    timezone: TimeZone = Field(default="UTC", description="IANA zone the cron fields are in")
    event_trigger: ShortText | None = Field(
        default=None, description="Event type that starts a sync, e.g. `github.workflow_run`")
    is_active: bool = True
    jitter_seconds: int = Field(default=0, ge=0, le=MAX_JITTER_SECONDS, description=(
        "Start each run up to this many seconds after its slot, to spread load"))


class ScheduleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule_type: ScheduleType | None = None
    interval_minutes: int | None = Field(default=None, ge=1, le=MAX_INTERVAL_MINUTES)
    cron_expression: ShortText | None = None
    timezone: TimeZone | None = None
    event_trigger: ShortText | None = None
    is_active: bool | None = None
    jitter_seconds: int | None = Field(default=None, ge=0, le=MAX_JITTER_SECONDS)


class ScheduleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID
    schedule_type: ScheduleType
    interval_minutes: int | None
    cron_expression: str | None
    timezone: str
    event_trigger: str | None
    is_active: bool
    jitter_seconds: int
    last_execution: dt.datetime | None
    next_execution: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
