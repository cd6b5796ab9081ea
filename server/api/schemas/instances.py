from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.api.types import JsonObject, Name, ShortText, Text, Url
from server.db.models import InstanceStatus, SyncStatus, TriggerType
from server.services.instance_config import SEALED


class InstanceOptions(BaseModel):
    """Agent-side options of an instance (the console's "advanced options")."""

    model_config = ConfigDict(extra="forbid")

    allow_loopback: bool = Field(
        default=False, description="Let the connector reach 127.0.0.1/::1 (a system on the "
        "agent's own machine). Cloud metadata and link-local addresses stay refused.")
    rate_limit_per_second: float | None = Field(default=None, gt=0, le=10_000)
    rate_limit_burst: float | None = Field(default=None, gt=0, le=100_000)
    http_timeout: float = Field(default=30.0, gt=0, le=600)
    verify_tls: bool = True


class InstanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    connector_id: uuid.UUID
    configuration: JsonObject = Field(default_factory=dict)
    options: InstanceOptions = Field(default_factory=InstanceOptions)
    connection_url: Url | None = None
    auth_config_id: uuid.UUID | None = None
    version_compatibility: ShortText | None = None


class InstanceUpdate(BaseModel):
    """Fields left out keep their value. Status changes go through activate / deactivate."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    configuration: JsonObject | None = None
    options: InstanceOptions | None = None
    connection_url: Url | None = None
    auth_config_id: uuid.UUID | None = None
    version_compatibility: ShortText | None = None


class InstanceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    connector_id: uuid.UUID
    status: InstanceStatus
    configuration: JsonObject = Field(description="The public fields; secret fields are "
                                      "write-only (see secret_fields)")
    secret_fields: list[str] = Field(default_factory=list,
                                     description="Secret fields that are set (stored sealed)")
    options: InstanceOptions
    connection_url: str | None
    auth_config_id: uuid.UUID | None
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    last_connected: dt.datetime | None
    error_message: Text | None
    version_compatibility: str | None


    @model_validator(mode="after")
    def _hide_sealed(self) -> InstanceRead:
        sealed = self.configuration.get(SEALED)
        if sealed is not None:
            self.secret_fields = list(sealed.get("fields", []))
            self.configuration = {k: v for k, v in self.configuration.items() if k != SEALED}
        return self


class LastSync(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: SyncStatus
    trigger_type: TriggerType
    start_time: dt.datetime
    end_time: dt.datetime | None
    records_processed: int | None
    error_count: int | None


class InstanceStatusRead(BaseModel):
    id: uuid.UUID
    status: InstanceStatus
    error_message: str | None
    last_connected: dt.datetime | None
    last_sync: LastSync | None
    next_sync: dt.datetime | None
    active_schedules: int
