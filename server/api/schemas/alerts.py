"""Alerts, tasks and health detail (issue 7)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import JsonObject, ShortText
from server.db.models import AlertKind, AlertSeverity, AlertStatus, TaskStatus

HealthState = Literal["healthy", "degraded", "failing", "paused"]


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: AlertKind
    severity: AlertSeverity
    status: AlertStatus
    instance_id: uuid.UUID | None
    title: str
    message: str
    hint: str | None = Field(description="What the administrator should do")
    details: dict[str, Any]
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: uuid.UUID | None
    resolved_at: dt.datetime | None


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: TaskStatus
    instance_id: uuid.UUID | None
    sync_id: uuid.UUID | None
    error_category: str
    title: str
    description: str
    hint: str | None = Field(description="The recovery step")
    occurrences: int
    resolution: str | None
    resolved_at: dt.datetime | None
    external_instance_id: uuid.UUID | None
    external_ref: dict[str, Any] | None = Field(
        description="What the ITSM write action answered (e.g. the issue key)")
    created_at: dt.datetime
    updated_at: dt.datetime


class TaskResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: ShortText = Field(description="What was done")


class TaskPush(BaseModel):
    """Push a task to an ITSM instance through one of its write actions."""

    model_config = ConfigDict(extra="forbid")

    instance_id: uuid.UUID = Field(description="The ITSM instance (e.g. a Jira instance)")
    action: ShortText = Field(default="create_issue", description="Its write action")
    input: JsonObject = Field(
        default_factory=dict,
        description="Action input; summary, description and dedupe_key are filled from the "
                    "task where the action takes them (e.g. add project_key for Jira)")


class InstanceHealthRead(BaseModel):
    instance_id: uuid.UUID
    name: str
    connector: str
    status: str
    health: HealthState
    score: int = Field(ge=0, le=100)
    reason: str
    components: dict[str, float] = Field(
        description="success, freshness, latency, throttling, credentials: each 0-1")
    last_success_at: dt.datetime | None


class ConnectorHealthRead(BaseModel):
    connector: str
    score: int | None = Field(description="Mean score of its active instances")
    health: HealthState
    instances: int
