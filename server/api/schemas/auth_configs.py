from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import JsonObject, Name
from server.db.models import AuthType


class AuthConfigCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    auth_type: AuthType
    credentials: JsonObject = Field(
        default_factory=dict,
        description="The method's fields (see the `auth_type`'s field model). Secret fields "
        "are write-only: stored encrypted, never returned.")
    expiration: dt.datetime | None = None
    is_system_account: bool = False


class AuthConfigUpdate(BaseModel):
    """Fields left out keep their value; a secret left out (or null) keeps the stored one."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    auth_type: AuthType | None = Field(
        default=None, description="Changing the type needs a complete set of `credentials`")
    credentials: JsonObject | None = None
    expiration: dt.datetime | None = None
    is_system_account: bool | None = None


class InstanceRef(BaseModel):
    id: uuid.UUID
    name: str


class AuthConfigRead(BaseModel):
    id: uuid.UUID
    name: str
    auth_type: AuthType
    credentials: dict[str, Any] = Field(description="The non-secret fields only")
    secret_hints: dict[str, str] = Field(
        description="Each secret field that is set, masked (last 4 characters of long ones)")
    expiration: dt.datetime | None
    expires_soon: bool
    last_used: dt.datetime | None
    is_system_account: bool
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    used_by: list[InstanceRef] = Field(description="Instances that use this credential")
