"""The connector registry as the agent sees it: discovered classes and their database rows.

Discovery (``connectors.registry``) finds connector classes; this module keeps one
IntegrationConnector row per key in step with them, so instances can reference connectors by id.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.registry import ConnectorEntry, DiscoveryResult, discover_connectors
from server.config import Settings
from server.db.models import ConnectorOrigin, IntegrationConnector, SystemType

_ORIGIN = {"builtin": ConnectorOrigin.BUILT_IN, "built_in": ConnectorOrigin.BUILT_IN,
           "plugin": ConnectorOrigin.PLUGIN, "declarative": ConnectorOrigin.DECLARATIVE}


class Registry:
    """Connector classes by key, refreshed when declarative connectors change."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._result: DiscoveryResult | None = None

    def discover(self, session: Session) -> DiscoveryResult:
        specs = [row.declarative_spec for row in session.scalars(
            select(IntegrationConnector).where(
                IntegrationConnector.origin == ConnectorOrigin.DECLARATIVE))
                 if row.declarative_spec]
        result = discover_connectors(
            allow_third_party=self._settings.allow_third_party_plugins,
            declarative_specs=specs,
        )
        with self._lock:
            self._result = result
        return result

    def result(self, session: Session) -> DiscoveryResult:
        with self._lock:
            cached = self._result
        return cached if cached is not None else self.discover(session)

    def entry(self, session: Session, key: str) -> ConnectorEntry | None:
        result = self.result(session)
        return result.connectors.get(key)

    def sync_rows(self, session: Session) -> list[IntegrationConnector]:
        """Create or update a row for every discovered connector (ids stay stable)."""
        result = self.discover(session)
        rows = {r.key: r for r in session.scalars(select(IntegrationConnector))}
        for key, entry in result.connectors.items():
            row = rows.get(key)
            if row is None:
                row = IntegrationConnector(id=uuid.uuid4(), key=key)
                session.add(row)
                rows[key] = row
            apply_description(row, entry)
        session.flush()
        return list(rows.values())


def apply_description(row: IntegrationConnector, entry: ConnectorEntry) -> None:
    info: dict[str, Any] = entry.describe()
    row.name = str(info.get("name") or entry.key)
    row.description = str(info.get("description") or "")
    row.version = str(info.get("version") or "0.0.0")
    row.system_type = SystemType(info.get("system_type") or SystemType.GENERIC.value)
    row.vendor = info.get("vendor")
    row.author = info.get("author")
    row.documentation_url = info.get("documentation_url")
    row.icon_url = info.get("icon") or info.get("icon_url")
    row.capabilities = dict(info.get("capabilities") or {})
    row.config_schema = dict(info.get("config_schema") or {})
    row.auth_methods = list(info.get("auth_methods") or row.capabilities.get("auth_methods", []))
    row.schema_definition = dict(info.get("schema_definition") or row.schema_definition or {})
    row.is_built_in = entry.is_built_in
    row.origin = _ORIGIN[entry.source.value]
