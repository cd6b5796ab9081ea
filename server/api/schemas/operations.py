from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import JsonObject, ShortText


class CheckItemRead(BaseModel):
    name: str
    status: str = Field(description="passed, failed or skipped")
    cause: str | None = None
    hint: str | None = None


class ConnectionTestRead(BaseModel):
    ok: bool
    items: list[CheckItemRead]
    server_api_version: str | None = None
    latency_ms: float | None = None
    error: dict[str, Any] | None = None


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream: ShortText | None = Field(default=None, description="Default: the first stream")
    limit: int = Field(default=10, ge=1, le=100)


class PreviewRead(BaseModel):
    stream: str
    records: list[dict[str, Any]]
    mapped: list[dict[str, Any] | None] = Field(
        description="Each record through the stream's mapping (None where it fails)")
    mapping_errors: list[list[dict[str, Any]]]
    entity_type: str | None


class StreamRead(BaseModel):
    name: str
    json_schema: dict[str, Any]
    primary_key: list[str]
    cursor_field: str | None
    sync_modes: list[str]


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: JsonObject = Field(default_factory=dict, description="The action's input")


class ActionRead(BaseModel):
    action: str
    status: str
    result: dict[str, Any] | None
    replayed: bool = Field(description="True when an earlier call with the same "
                           "Idempotency-Key answered")


class CredentialTestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe_url: ShortText | None = Field(default=None, description="A URL of the target system "
                                        "to call with the credential (proves it is accepted)")


class CredentialTestRead(BaseModel):
    ok: bool
    result: dict[str, Any]


class CredentialRefreshRead(BaseModel):
    refreshed: bool
    expires_at: float | None


class SignInStartRead(BaseModel):
    authorization_url: str = Field(description="Open this in the user's browser")
    redirect_uri: str
    expires_in: int = Field(description="Seconds the sign-in waits for the redirect")
