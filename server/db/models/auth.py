"""Credentials: one AuthenticationConfig can serve many instances."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, Timestamps, UuidPk, enum_column
from server.db.models.enums import AuthType


class AuthenticationConfig(UuidPk, Timestamps, Base):
    __tablename__ = "authentication_configs"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    auth_type: Mapped[AuthType] = mapped_column(enum_column(AuthType, "auth_type"))
    # Secret material, encrypted by the credential vault; never returned by the API.
    credentials: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Non-secret OAuth settings (endpoints, scopes, client id) and non-secret fields generally.
    oauth_config: Mapped[dict[str, Any] | None]
    expiration: Mapped[dt.datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    last_used: Mapped[dt.datetime | None]
    is_system_account: Mapped[bool] = mapped_column(default=False)


class OAuthSignIn(UuidPk, Base):
    """A browser sign-in waiting for its redirect (OAuth 2.0 authorization code + PKCE).

    Kept in the database, not in one agent's memory, so the provider's redirect may reach any
    agent behind a load balancer; deleted when used (one-shot) or when it expires.
    """

    __tablename__ = "oauth_sign_ins"

    # sha256 of the `state`: the state itself travels only in the browser's URLs.
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    auth_config_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("authentication_configs.id", ondelete="CASCADE"))
    principal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL"))
    # The PKCE verifier and the redirect URI, sealed by the credential vault.
    sealed: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
