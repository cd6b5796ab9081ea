"""API tokens: random, shown once, stored as SHA-256.

Tokens carry 256 bits of randomness, so a fast hash is enough (no password stretching needed)
and lookups are by hash, which also makes the comparison independent of the token's text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import ApiToken, Principal, PrincipalKind, Role
from server.db.types import utcnow

TOKEN_PREFIX = "st_"  # noqa: S105 - a prefix, not a secret
#: last_used_at is written at most this often per token, so reads do not become writes.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown to the caller once, never stored
    record: ApiToken


def issue_token(
    session: Session, principal: Principal, name: str, *, expires_in: dt.timedelta | None = None
) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    record = ApiToken(
        id=uuid.uuid4(), principal=principal, name=name, token_hash=hash_token(token),
        prefix=token[: len(TOKEN_PREFIX) + 6], created_at=now,
        expires_at=now + expires_in if expires_in else None,
    )
    session.add(record)
    session.flush()
    return IssuedToken(token, record)


def authenticate(session: Session, token: str) -> Principal | None:
    """The active principal owning a valid token, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if record is None or record.revoked_at is not None:
        return None
    now = utcnow()
    if record.expires_at is not None and record.expires_at <= now:
        return None
    principal = record.principal
    if not principal.is_active:
        return None
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        record.last_used_at = now
        session.commit()
    return principal


def create_service_principal(
    session: Session, name: str, role: Role, *, kind: PrincipalKind = PrincipalKind.SERVICE
) -> Principal:
    principal = Principal(id=uuid.uuid4(), name=name, role=role, kind=kind)
    session.add(principal)
    session.flush()
    return principal


def has_principals(session: Session) -> bool:
    return session.scalar(select(Principal.id).limit(1)) is not None
