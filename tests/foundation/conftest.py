"""An agent API on the test's database, with a token for each role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.api.app import create_app
from server.config import load_settings
from server.db.engine import make_session_factory
from server.db.models import IntegrationConnector, Role, SystemType
from server.security.tokens import create_service_principal, issue_token

PREFIX = "/api/integration"


@dataclass
class Api:
    client: TestClient
    engine: Engine
    tokens: dict[Role, str] = field(default_factory=dict)

    def headers(self, role: Role = Role.ADMIN) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: Role = Role.ADMIN, **kw: Any) -> Any:
        return self.client.get(PREFIX + path, headers=self.headers(role), **kw)

    def post(self, path: str, json: Any = None, role: Role = Role.ADMIN, **kw: Any) -> Any:
        return self.client.post(PREFIX + path, json=json, headers=self.headers(role), **kw)

    def put(self, path: str, json: Any = None, role: Role = Role.ADMIN, **kw: Any) -> Any:
        return self.client.put(PREFIX + path, json=json, headers=self.headers(role), **kw)

    def delete(self, path: str, role: Role = Role.ADMIN, **kw: Any) -> Any:
        return self.client.delete(PREFIX + path, headers=self.headers(role), **kw)

    def add_connector(self, key: str = "acme", **overrides: Any) -> uuid.UUID:
        """A connector row, as the registry will create them."""
        values: dict[str, Any] = {
            "id": uuid.uuid4(), "key": key, "name": key.title(), "version": "1.0.0",
            "system_type": SystemType.GENERIC, "is_built_in": True,
            "config_schema": {"type": "object", "required": ["base_url"],
                              "properties": {"base_url": {"type": "string"}}},
            "auth_methods": ["api_key"],
        }
        values.update(overrides)
        with make_session_factory(self.engine)() as session:
            session.add(IntegrationConnector(**values))
            session.commit()
        return values["id"]  # type: ignore[no-any-return]


@pytest.fixture
def api(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = load_settings(database_url=db_url, data_dir=tmp_path / "data")
    app = create_app(settings, engine)
    result = Api(TestClient(app), engine)
    with make_session_factory(engine)() as session:
        for role in Role:
            principal = create_service_principal(session, f"test-{role.value}", role)
            result.tokens[role] = issue_token(session, principal, "test").token
        session.commit()
    with result.client:
        yield result
