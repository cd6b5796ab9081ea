from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class AuditEntryRead(BaseModel):
    seq: int = Field(description="Position in the chain (1, 2, 3…), gap-free")
    recorded_at: dt.datetime
    actor: str = Field(description="Principal name, `cli:<user>`, or `system` for the agent")
    action: str = Field(description="e.g. `instance.update`, `credential.use`, `sync.completed`")
    object_type: str
    object_id: str | None
    before_hash: str | None = Field(description="Content hash of the object before the change")
    after_hash: str | None = Field(description="Content hash after the change; for a sync, the "
                                   "digest of the records it wrote")
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryRead]
    next_cursor: str | None = None


class CheckpointRead(BaseModel):
    seq: int
    entry_hash: str
    time: str = Field(description="Signed time, `YYYY-MM-DDTHH:MM:SS.ffffffZ`")
    key_id: str
    public_key: str
    signature: str = Field(description="Ed25519 over the canonical checkpoint message, base64")


class PublicKeyRead(BaseModel):
    key_id: str
    public_key: str = Field(description="`ed25519:<base64>`: give this to auditors")
    public_key_pem: str


class ProblemRead(BaseModel):
    seq: int
    kind: str = Field(description="modified, deleted, inserted, reordered, truncated or "
                      "bad-signature")
    message: str


class VerifyRead(BaseModel):
    ok: bool
    summary: str
    entries_checked: int
    first_seq: int | None
    last_seq: int | None
    checkpoints_verified: int
    problem: ProblemRead | None
    warnings: list[str]
