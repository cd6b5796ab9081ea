"""Browser sign-ins in progress, shared by every agent on the database.

The provider redirects the browser to whichever agent the load balancer picks; the pending
sign-in (its PKCE verifier, sealed) is therefore in the database, found by the hash of its
``state`` and deleted by the first callback that uses it, so a state works once on any agent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from connectors.sdk.auth.oauth import PendingAuthorization
from server.db.models import OAuthSignIn
from server.db.types import utcnow
from server.vault import Vault

#: Seconds a started sign-in waits for its redirect.
SIGN_IN_TTL = 600


@dataclass(frozen=True)
class StartedSignIn:
    auth_config_id: uuid.UUID
    principal_id: uuid.UUID | None
    pending: PendingAuthorization


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _aad(sign_in_id: uuid.UUID) -> str:
    return f"oauth-sign-in:{sign_in_id}"


def begin(session: Session, vault: Vault, auth_config_id: uuid.UUID,
          pending: PendingAuthorization, principal_id: uuid.UUID | None) -> None:
    """Store a started sign-in (the caller commits); expired ones are swept on the way."""
    now = utcnow()
    session.execute(delete(OAuthSignIn).where(OAuthSignIn.expires_at < now))
    row_id = uuid.uuid4()
    session.add(OAuthSignIn(
        id=row_id, state_hash=_hash(pending.state), auth_config_id=auth_config_id,
        principal_id=principal_id, expires_at=now + dt.timedelta(seconds=SIGN_IN_TTL),
        sealed=vault.seal(_aad(row_id), {"url": pending.url, "verifier": pending.code_verifier,
                                         "redirect_uri": pending.redirect_uri})))


def take(session: Session, vault: Vault, state: str) -> StartedSignIn | None:
    """The sign-in ``state`` belongs to, removed so it cannot be used again (the caller
    commits); None when it is unknown, already used or expired."""
    if not state:
        return None
    row = session.scalar(select(OAuthSignIn).where(OAuthSignIn.state_hash == _hash(state))
                         .with_for_update())
    if row is None:
        return None
    session.delete(row)
    session.flush()  # the delete holds the row: a racing callback with the same state waits
    if row.expires_at < utcnow():
        return None
    secret = vault.open(_aad(row.id), row.sealed)
    return StartedSignIn(row.auth_config_id, row.principal_id, PendingAuthorization(
        secret["url"], state, secret["verifier"], secret["redirect_uri"]))
