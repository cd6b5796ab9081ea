from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from server.api.types import Document, NamedSecrets


class ConfigImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: Document = Field(description="The YAML file (`simpletrust config export`)")
    dry_run: bool = Field(default=False, description="Validate and plan only")
    prune: bool = Field(default=False, description="Also delete instances, credentials and "
                        "custom connectors the file does not list")
    secrets: NamedSecrets = Field(
        default_factory=dict, description="Secret values by credential name: "
        "`{\"github-token\": {\"token\": \"…\"}}`, or by subscription: "
        "`{\"instances[NAME].subscriptions[EVENT]\": {\"slack_url\": \"…\"}}`; never echoed "
        "back")


class ChangeRead(BaseModel):
    action: str = Field(description="create, update or delete")
    object: str = Field(description="e.g. `instances[GitHub]`")
    fields: list[str]


class ConfigImportResult(BaseModel):
    applied: bool
    changes: list[ChangeRead]
    diff: str = Field(description="Unified diff from the live export to the result")
    missing_secrets: dict[str, list[str]] = Field(
        description="Secret fields still to set: by credential name (bind with POST "
                    "/config/secrets), or `instances[NAME].subscriptions[EVENT]` for a "
                    "subscription's Slack URL (bound by that name the same way)")


class SecretsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secrets: NamedSecrets = Field(description="As in an import: by credential name, or "
                                  "`instances[NAME].subscriptions[EVENT]` for a subscription")


class SecretsResult(BaseModel):
    bound: list[str]
    missing_secrets: dict[str, list[str]]
