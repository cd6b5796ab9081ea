from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.api.schemas.alerts import ConnectorHealthRead, InstanceHealthRead
from server.api.types import JsonObject
from server.db.models import InstanceStatus, LogType, SyncStatus, TriggerType


class ExecutionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID
    schedule_id: uuid.UUID | None
    trigger_type: TriggerType
    status: SyncStatus
    start_time: dt.datetime
    end_time: dt.datetime | None
    records_processed: int | None
    success_count: int | None
    error_count: int | None
    error_details: JsonObject | None
    initiated_by: uuid.UUID | None
    created_at: dt.datetime
    stats: dict[str, Any] = Field(description="created, updated, unchanged, deleted, failed, "
                                  "skipped; and the same per stream")
    mapping_versions: dict[str, Any] = Field(description="The mapping version each stream ran")
    options: dict[str, Any]
    cancel_requested: bool
    agent_id: str | None


class LogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID | None
    log_type: LogType
    timestamp: dt.datetime
    message: str
    details: JsonObject
    user_id: uuid.UUID | None
    operation: str
    sync_id: uuid.UUID | None


class MetricsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID
    period_start: dt.datetime
    period_end: dt.datetime
    availability_percentage: Decimal
    average_response_time: int
    error_rate: Decimal
    total_operations: int
    data_transferred: int
    api_calls: int
    throttling_events: int
    granularity: Literal["hour", "day"]
    response_time_p50: int
    response_time_p95: int
    records_processed: int
    syncs: int
    failed_syncs: int
    average_sync_duration: int
    created_at: dt.datetime


class ComponentHealth(BaseModel):
    status: Literal["healthy", "degraded", "failing"]
    detail: str | None = None


class HealthRead(BaseModel):
    status: Literal["healthy", "degraded", "failing"]
    version: str
    time: dt.datetime
    database: ComponentHealth
    instances: dict[InstanceStatus, int]
    #: Issue 7: the agent and its scheduler; per-instance and per-connector detail only for a
    #: request with a valid token (names of systems are not for anonymous probes).
    agent: ComponentHealth | None = None
    scheduler: ComponentHealth | None = None
    instance_health: list[InstanceHealthRead] | None = None
    connector_health: list[ConnectorHealthRead] | None = None
