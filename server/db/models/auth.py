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
