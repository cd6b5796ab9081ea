"""Who calls the agent: users and service principals, and their API tokens."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import Base, Timestamps, UuidPk, enum_column
from server.db.models.enums import PrincipalKind, Role


class Principal(UuidPk, Timestamps, Base):
    __tablename__ = "principals"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[PrincipalKind] = mapped_column(
        enum_column(PrincipalKind, "principal_kind"), default=PrincipalKind.USER
    )
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    email: Mapped[str | None] = mapped_column(String(320))
    is_active: Mapped[bool] = mapped_column(default=True)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="principal", cascade="all, delete-orphan", passive_deletes=True
    )


class ApiToken(UuidPk, Base):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    # Tokens go when their principal goes: a token without an owner must not authenticate.
    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell tokens apart
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    principal: Mapped[Principal] = relationship(back_populates="tokens")
