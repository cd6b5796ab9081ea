from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field


class RevisionRead(BaseModel):
    object_type: str
    object_id: uuid.UUID
    revision: int
    operation: str = Field(description="create, update, delete or rollback")
    restored_from: int | None = Field(description="For a rollback: the revision restored")
    author: str
    author_id: uuid.UUID | None
    created_at: dt.datetime
    content_hash: str = Field(description="What the audit trail quotes as before/after hash")
    snapshot: dict[str, Any] = Field(description="The configuration (credentials: metadata "
                                     "only, never secrets)")


class RevisionChange(BaseModel):
    path: str = Field(description="e.g. `configuration.base_url`, `field_mappings[2].source`")
    change: str = Field(description="added, removed or changed")
    before: Any = None
    after: Any = None


class RevisionDiff(BaseModel):
    object_type: str
    object_id: uuid.UUID
    from_revision: int
    to_revision: int
    changes: list[RevisionChange]


class RollbackRead(BaseModel):
    changed: list[str] = Field(description="Fields the rollback changed (empty: already so)")
    revision: RevisionRead = Field(description="The newest revision after the rollback")
