"""Pinewood: check, read `issues`, open issues (write), and verify webhooks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any
from urllib.parse import quote

from connectors.sdk import (
    AuthMethod,
    Connector,
    ConnectorMetadata,
    DataError,
    HttpClient,
    InvalidInputError,
    PermissionDeniedError,
    Stream,
    SystemType,
    WebhookEvent,
    WebhookRequest,
    WebhookVerificationError,
    action,
    verify_hmac_signature,
)
from pinewood_connector.models import NewIssue, PinewoodConfig
from pinewood_connector.streams import Issues

READ_SCOPE = "issues:read"


class PinewoodConnector(Connector[PinewoodConfig]):
    metadata = ConnectorMetadata(
        key="pinewood",
        name="Pinewood",
        description="Issues from the Pinewood tracker; opens issues; receives webhooks.",
        version="1.0.0",
        system_type=SystemType.ITSM,
        vendor="Pinewood",
        documentation_url="https://pinewood.example.com/docs/api",
        auth_methods=(AuthMethod.BEARER,),
    )
    config_model = PinewoodConfig

    @cached_property
    def http(self) -> HttpClient:
        return self.http_client(self.config.base_url)

    async def check_connection(self) -> None:
        await self.http.get("/api/v1/me")  # 401, 5xx, refused ... become check causes

    async def check_permissions(self) -> None:
        me = await self.http.get_json("/api/v1/me")
        if READ_SCOPE not in me.get("scopes", []):
            raise PermissionDeniedError(
                f"The token lacks the {READ_SCOPE!r} scope.",
                hint=f"Create a Pinewood token with the {READ_SCOPE!r} scope.",
            )

    async def streams(self) -> Sequence[Stream]:
        return [Issues(self.http, self.config.project, self.config.page_size)]

    @action(description="Open an issue in the configured project")
    async def create_issue(self, payload: NewIssue) -> dict[str, Any]:
        response = await self.http.post(
            f"/api/v1/projects/{quote(self.config.project, safe='')}/issues",
            json=payload.model_dump(),
        )
        try:
            created = response.json()
            return {"id": created["id"], "status": created["status"]}
        except (ValueError, KeyError, TypeError):
            raise DataError("Pinewood's answer to a new issue has no id and status.") from None

    async def verify_webhook(self, request: WebhookRequest) -> None:
        secret = self.config.webhook_secret
        if secret is None:
            raise WebhookVerificationError(
                "No webhook secret is configured, so no delivery can be trusted.",
                hint="Set webhook_secret to the secret shown in Pinewood's webhook settings.",
            )
        verify_hmac_signature(
            secret.get_secret_value(),
            request.body,
            request.header("X-Pinewood-Signature"),
            prefix="sha256=",
        )

    async def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        try:
            delivery = json.loads(request.body)
            issue = delivery["issue"]
            event = WebhookEvent(
                type=delivery["event"],
                payload=issue,
                id=delivery.get("delivery_id"),
                occurred_at=issue.get("updated_at"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidInputError("The webhook delivery is not a Pinewood event.") from None
        return [event]

