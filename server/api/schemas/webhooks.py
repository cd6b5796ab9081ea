from __future__ import annotations

import datetime as dt
import re
import uuid

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from server.db.models import DeliveryStatus, WebhookScheme

_HEADER = re.compile(r"^[A-Za-z0-9-]{1,100}$")


class WebhookConfigure(BaseModel):
    """How deliveries to the instance's webhook URL are verified.

    Secrets are write-only. Omit ``secrets`` to keep the stored ones; give several to accept
    any of them (rotation); or set ``generate_secret`` and the agent makes one and shows it
    once in the answer.
    """

    model_config = ConfigDict(extra="forbid")

    scheme: WebhookScheme = Field(description=(
        "connector: the instance's connector verifies (GitHub X-Hub-Signature-256 with the "
        "webhook_secret of its configuration); standard_webhooks: webhook-id / "
        "webhook-timestamp / webhook-signature with whsec_ secrets; shared_secret: a header "
        "that must equal a secret"))
    secrets: list[SecretStr] | None = Field(default=None, max_length=5)
    generate_secret: bool = False
    header_name: str | None = Field(default=None, description=(
        "shared_secret: the header carrying it (default X-Webhook-Secret)"))
    tolerance_seconds: int | None = Field(default=None, ge=10, le=86_400, description=(
        "standard_webhooks: how far webhook-timestamp may be from the agent's clock"))

    @field_validator("header_name")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        if value is not None and not _HEADER.match(value):
            raise ValueError("must be an HTTP header name (letters, digits, '-')")
        return value


class WebhookRead(BaseModel):
    instance_id: uuid.UUID
    scheme: WebhookScheme
    url: str | None = Field(description="The URL to give the sender (operators and admins "
                                        "only; null for other roles or without a key)")
    header_name: str | None
    tolerance_seconds: int
    secret_count: int
    secret_hints: list[str] = Field(description="Last 4 characters of each stored secret")
    new_secret: str | None = Field(
        default=None, description="A generated secret, shown only in this answer")


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance_id: uuid.UUID
    delivery_id: str
    scheme: WebhookScheme
    received_at: dt.datetime
    content_type: str
    status: DeliveryStatus
    events: int
    error: str | None
    processed_at: dt.datetime | None
