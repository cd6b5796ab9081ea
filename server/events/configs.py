"""What each subscription action needs in ``action_config``, validated on create/update."""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from server.db.models import ActionType
from server.events import filters

_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class Retry(BaseModel):
    # Inputs stay out of error text: a configuration may hold a secret (a Slack URL).
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    #: Attempts in all (the first included), then the action is failed for good.
    max_attempts: int = Field(default=8, ge=1, le=20)
    #: The wait after the first failure; it doubles after each further one (at most an hour).
    backoff_seconds: float = Field(default=10.0, ge=0.1, le=3600)


def _url(value: str) -> str:
    if not _URL.match(value):
        raise ValueError("must be an http(s) URL")
    return value


class SyncAction(Retry):
    instance_id: uuid.UUID | None = Field(
        default=None, description="The instance to sync (default: the subscription's)")
    streams: list[str] = Field(default_factory=list, max_length=100)
    full_refresh: bool = False


class WebhookAction(Retry):
    url: str = Field(max_length=2000)
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    #: Let the webhook reach 127.0.0.1/::1 (a receiver on the agent's own machine).
    allow_loopback: bool = False

    _check_url = field_validator("url")(_url)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type",
                    "host", "content-length"}
        bad = [k for k in value if k.lower() in reserved]
        if bad:
            raise ValueError(f"the agent sets {', '.join(bad)} itself")
        return value


class Email(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(min_length=1, max_length=50)
    subject: str = Field(default="SimpleTrust: ${type}", max_length=300)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _EMAIL.match(v)]
        if bad:
            raise ValueError(f"not e-mail addresses: {', '.join(bad[:3])}")
        return value


class NotifyAction(Retry):
    message: str = Field(default="${type} on ${data.instance}", max_length=4000)
    email: Email | None = None
    #: A secret (the token is in the path): sealed at rest and never returned
    #: (server.events.action_secrets).
    slack_url: str | None = Field(default=None, max_length=2000,
                                  description="A Slack-compatible incoming webhook URL",
                                  json_schema_extra={"writeOnly": True, "format": "password"})
    allow_loopback: bool = False

    @field_validator("slack_url")
    @classmethod
    def _slack(cls, value: str | None) -> str | None:
        return None if value is None else _url(value)


class WriteAction(Retry):
    action: str = Field(min_length=1, max_length=200, description="The connector's action")
    payload: dict[str, Any] = Field(default_factory=dict)
    instance_id: uuid.UUID | None = None


MODELS: dict[ActionType, type[Retry]] = {
    ActionType.SYNC: SyncAction,
    ActionType.WEBHOOK: WebhookAction,
    ActionType.NOTIFICATION: NotifyAction,
    ActionType.WRITE_ACTION: WriteAction,
}

Kind = Literal["sync", "webhook", "notification", "write_action"]


def parse_action(action_type: ActionType | str, config: dict[str, Any]) -> Retry:
    return MODELS[ActionType(action_type)].model_validate(config)


def subscription_problems(event_type: str, criteria: Any, action_type: ActionType | str,
                          config: Any) -> list[tuple[str, str]]:
    """Every problem of a subscription as (field, message); empty when it is valid."""
    problems: list[tuple[str, str]] = []
    if not re.fullmatch(r"[A-Za-z0-9_.*\-]+", event_type or ""):
        problems.append(("event_type", "letters, digits, '.', '_', '-' and '*' only, e.g. "
                                       "sync.failed or github.*"))
    try:
        filters.validate(criteria if criteria is not None else {})
    except filters.FilterError as exc:
        problems.extend(exc.errors)
    try:
        parse_action(action_type, config or {})
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            path = ".".join(["action_config", *(str(p) for p in err["loc"])])
            problems.append((path, err["msg"].removeprefix("Value error, ")))
    return problems
