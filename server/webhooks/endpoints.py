"""Webhook endpoints of instances: keys, schemes and sealed secrets, with a short cache.

The public endpoint looks an endpoint up by key on every delivery; the cache keeps that off
the database and out of the vault for a few seconds. A change on this agent clears it at
once; other agents see it when their entry expires (``TTL``).
"""

from __future__ import annotations

import secrets as _secrets
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import IntegrationInstance, WebhookEndpoint, WebhookScheme
from server.vault import Vault

TTL = 5.0
#: Default header of the shared-secret scheme.
SHARED_SECRET_HEADER = "X-Webhook-Secret"  # noqa: S105 - a header name


def new_key() -> str:
    """An unguessable URL key: 32 random bytes, URL-safe (43 characters)."""
    return _secrets.token_urlsafe(32)


def seal_secrets(vault: Vault, instance_id: uuid.UUID, values: list[str]) -> dict[str, object]:
    return vault.seal(f"webhook:{instance_id}", {"secrets": values})


def open_secrets(vault: Vault, endpoint: WebhookEndpoint) -> list[str]:
    if not endpoint.secrets:
        return []
    opened = vault.open(f"webhook:{endpoint.instance_id}", endpoint.secrets)
    return [str(s) for s in opened.get("secrets") or []]


@dataclass(frozen=True)
class Resolved:
    """What verifying a delivery to a key needs (secrets in memory only)."""

    instance_id: uuid.UUID
    instance_name: str
    scheme: WebhookScheme
    secrets: tuple[str, ...]
    header_name: str
    tolerance: int

    def __repr__(self) -> str:  # never show secrets
        return f"Resolved({self.instance_name!r}, {self.scheme.value})"


class EndpointCache:
    def __init__(self, vault: Vault, default_tolerance: int) -> None:
        self.vault = vault
        self.default_tolerance = default_tolerance
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Resolved | None]] = {}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def cached(self, key: str) -> tuple[Resolved | None] | None:
        """A fresh cache entry (``(None,)`` for a known-unknown key), or None on a miss."""
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and time.monotonic() - hit[0] < TTL:
            return (hit[1],)
        return None

    def resolve(self, session: Session, key: str) -> Resolved | None:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and now - hit[0] < TTL:
            return hit[1]
        resolved = self._load(session, key)
        with self._lock:
            if len(self._entries) > 10_000:  # unknown keys must not grow it without bound
                self._entries.clear()
            self._entries[key] = (now, resolved)
        return resolved

    def _load(self, session: Session, key: str) -> Resolved | None:
        row = session.execute(
            select(IntegrationInstance, WebhookEndpoint)
            .outerjoin(WebhookEndpoint, WebhookEndpoint.instance_id == IntegrationInstance.id)
            .where(IntegrationInstance.webhook_key == key)).first()
        if row is None:
            return None
        instance, endpoint = row
        if endpoint is None:  # a key but no settings: the connector verifies
            return Resolved(instance.id, instance.name, WebhookScheme.CONNECTOR, (),
                            SHARED_SECRET_HEADER, self.default_tolerance)
        return Resolved(instance.id, instance.name, endpoint.scheme,
                        tuple(open_secrets(self.vault, endpoint)),
                        endpoint.header_name or SHARED_SECRET_HEADER,
                        endpoint.tolerance_seconds)
