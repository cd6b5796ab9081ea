"""Inbound webhook deliveries: what the agent hands a connector, and what it gets back.

The agent receives ``POST /api/integration/webhook/{key}`` and calls
``connector.handle_webhook(WebhookRequest(...))``, which runs the connector's ``verify_webhook``
(authenticity: signature, token, source) and then ``parse_webhook`` (events).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.sdk.errors import WebhookVerificationError

__all__ = ["WebhookEvent", "WebhookRequest", "verify_hmac_signature"]


@dataclass(frozen=True)
class WebhookRequest:
    """An inbound delivery. Header names are matched case-insensitively."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"
    received_at: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass(frozen=True)
class WebhookEvent:
    """One event found in a delivery."""

    type: str
    payload: dict[str, Any]
    id: str | None = None
    occurred_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "payload": self.payload,
            "id": self.id,
            "occurred_at": self.occurred_at,
        }


def verify_hmac_signature(
    secret: str | bytes,
    body: bytes,
    signature: str | None,
    *,
    algorithm: str = "sha256",
    prefix: str = "",
) -> None:
    """Check ``signature`` == ``prefix + hex(HMAC(secret, body))`` in constant time.

    GitHub: ``verify_hmac_signature(secret, req.body, req.header("X-Hub-Signature-256"),
    prefix="sha256=")``. Raises :class:`WebhookVerificationError` (the message names neither
    the expected nor the received signature).
    """
    if not signature:
        raise WebhookVerificationError("The webhook delivery carries no signature.")
    key = secret.encode() if isinstance(secret, str) else secret
    expected = prefix + hmac.new(key, body, getattr(hashlib, algorithm)).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise WebhookVerificationError("The webhook delivery's signature does not match.")
