from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import Name, ShortText
from server.db.models import PrincipalKind, Role


class PrincipalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: PrincipalKind = PrincipalKind.USER
    role: Role
    email: ShortText | None = None


class PrincipalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    role: Role | None = None
    email: ShortText | None = None
    is_active: bool | None = None


class PrincipalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: PrincipalKind
    role: Role
    email: str | None
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    principal_id: uuid.UUID
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart")
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenIssued(TokenRead):
    token: str = Field(description="The token itself. Shown once: store it now.")
