"""The connector's models: its config (an admin fills it in) and its action input."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from connectors.sdk import secret_field


class PinewoodConfig(BaseModel):
    """Rendered as a form by the console; webhook_secret is masked and never returned."""

    base_url: str = Field(
        pattern=r"^https?://", description="Pinewood URL, e.g. https://pinewood.example.com"
    )
    project: str = Field(min_length=1, description="Project key, e.g. OPS")
    page_size: int = Field(50, ge=1, le=200, description="Issues per request")
    webhook_secret: SecretStr | None = secret_field(
        None, description="Shared secret Pinewood signs webhook deliveries with"
    )


class NewIssue(BaseModel):
    """Input of the `create_issue` action (its JSON Schema is the action's input schema)."""

    title: str = Field(min_length=1, max_length=200)
    priority: Literal["low", "normal", "high"] = "normal"
