"""Connectors (the kinds of system we talk to) and their configured instances."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import Base, Timestamps, UuidPk, enum_column
from server.db.models.enums import ConnectorOrigin, InstanceStatus, SystemType


class IntegrationConnector(UuidPk, Timestamps, Base):
    __tablename__ = "integration_connectors"

    # The stable identifier connector code uses ("aws", "github", "acme-crm"); the UUID is the
    # database's. Instances and config files refer to connectors by key.
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[str] = mapped_column(String(50))
    system_type: Mapped[SystemType] = mapped_column(enum_column(SystemType, "system_type"))
    vendor: Mapped[str | None] = mapped_column(String(200))
    capabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    schema_definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    auth_methods: Mapped[list[Any]] = mapped_column(default=list)
    is_built_in: Mapped[bool] = mapped_column(default=False)
    origin: Mapped[ConnectorOrigin] = mapped_column(
        enum_column(ConnectorOrigin, "connector_origin"), default=ConnectorOrigin.BUILT_IN
    )
    declarative_spec: Mapped[dict[str, Any] | None]
    author: Mapped[str | None] = mapped_column(String(200))
    documentation_url: Mapped[str | None] = mapped_column(String(2000))
    icon_url: Mapped[str | None] = mapped_column(String(2000))

    instances: Mapped[list[IntegrationInstance]] = relationship(back_populates="connector")


class IntegrationInstance(UuidPk, Timestamps, Base):
    __tablename__ = "integration_instances"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    # RESTRICT: a connector in use cannot be removed out from under its instances.
    connector_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_connectors.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[InstanceStatus] = mapped_column(
        enum_column(InstanceStatus, "instance_status"), default=InstanceStatus.CONFIGURING
    )
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Agent-side options (loopback allowed, rate limit, timeout, TLS verification).
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The unguessable key of this instance's inbound webhook URL.
    webhook_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    connection_url: Mapped[str | None] = mapped_column(String(2000))
    # RESTRICT: one credential serves many instances; deleting it in use is refused (409).
    auth_config_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("authentication_configs.id", ondelete="RESTRICT"), index=True
    )
    # SET NULL: removing a person must not remove the integrations they set up.
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    last_connected: Mapped[dt.datetime | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    version_compatibility: Mapped[str | None] = mapped_column(String(100))

    connector: Mapped[IntegrationConnector] = relationship(back_populates="instances")
