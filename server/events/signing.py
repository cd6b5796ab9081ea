"""Signing secrets of webhook subscriptions (Standard Webhooks ``whsec_``), sealed at rest.

Created on first use; a rotation keeps the previous secret signing beside the new one for
``OVERLAP`` so receivers can switch without dropping deliveries.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from server.agents.dbutil import insert_or_skip
from server.db.models import SubscriptionSecret
from server.db.types import utcnow
from server.vault import Vault
from server.webhooks.standard import new_secret

OVERLAP = dt.timedelta(hours=24)


def _aad(subscription_id: uuid.UUID) -> str:
    return f"subscription:{subscription_id}"


def signing_secrets(session: Session, vault: Vault, subscription_id: uuid.UUID) -> list[str]:
    """The secrets that sign now (current first); creates one if there is none (flushes)."""
    row = session.get(SubscriptionSecret, subscription_id)
    if row is None:
        # Two deliveries may race to create it: the first insert wins, both use its secret.
        insert_or_skip(session, SubscriptionSecret.__table__,  # type: ignore[arg-type]
                       {"subscription_id": subscription_id, "rotated_at": utcnow(),
                        "secrets": vault.seal(_aad(subscription_id),
                                              {"secrets": [new_secret()]})},
                       ["subscription_id"])
        row = session.get(SubscriptionSecret, subscription_id, populate_existing=True)
        assert row is not None
    values = [str(s) for s in vault.open(_aad(subscription_id), row.secrets)["secrets"]]
    if row.previous_until is None or row.previous_until < utcnow():
        return values[:1]
    return values[:2]


def rotate(session: Session, vault: Vault, subscription_id: uuid.UUID) -> str:
    """A new current secret; the old one keeps signing for ``OVERLAP``. Returns the new one."""
    current = signing_secrets(session, vault, subscription_id)[0]
    row = session.get(SubscriptionSecret, subscription_id)
    assert row is not None
    secret = new_secret()
    row.secrets = vault.seal(_aad(subscription_id), {"secrets": [secret, current]})
    row.rotated_at = utcnow()
    row.previous_until = utcnow() + OVERLAP
    return secret
