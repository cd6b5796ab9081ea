"""Talking to an agent app in tests: a client with a token per role."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.api.app import create_app
from server.config import Settings
from server.db.engine import make_session_factory
from server.db.models import IntegrationConnector, Role, SystemType
from server.security.tokens import create_service_principal, issue_token
from server.vault import MasterKey, Vault

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



    def connector_id(self, key: str) -> str:
        """The id of a discovered connector (the registry syncs them on start)."""
        items = self.get("/connectors", params={"q": key, "limit": 500}).json()["items"]
        return next(c["id"] for c in items if c["key"] == key)

    def create_instance(self, name: str, connector_key: str, configuration: dict[str, Any],
                        *, activate: bool = True, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "connector_id": self.connector_id(connector_key),
                "configuration": configuration,
                "options": {"allow_loopback": True, **extra.pop("options", {})}, **extra}
        resp = self.post("/instances", body)
        assert resp.status_code == 201, resp.text
        instance: dict[str, Any] = resp.json()
        if activate:
            resp = self.post(f"/instances/{instance['id']}/activate")
            assert resp.status_code == 200, resp.text
        return instance

    def sync(self, instance_id: str, timeout: float = 300, **body: Any) -> dict[str, Any]:
        """Start a manual sync and wait for it to end; returns the execution."""
        resp = self.post(f"/instances/{instance_id}/sync", body or None)
        assert resp.status_code == 202, resp.text
        return self.wait(resp.json()["id"], timeout)

    def wait(self, execution_id: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            execution: dict[str, Any] = self.get(f"/sync-executions/{execution_id}").json()
            if execution["status"] not in ("pending", "running"):
                return execution
            assert time.monotonic() < deadline, f"sync still {execution['status']}"
            time.sleep(0.05)

    def all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following cursors."""
        items: list[dict[str, Any]] = []
        params = {"limit": 500, **params}
        while True:
            page = self.get(path, params=params).json()
            items += page["items"]
            if not page["next_cursor"]:
                return items
            params["cursor"] = page["next_cursor"]


def api_for(settings: Settings, engine: Engine, vault: Vault | None = None) -> Api:
    """An agent app on ``engine`` with a token per role; enter ``api.client`` to start it."""
    app = create_app(settings, engine, vault=vault or Vault.from_key(MasterKey.generate()))
    result = Api(TestClient(app), engine)
    with make_session_factory(engine)() as session:
        for role in Role:
            principal = create_service_principal(session, f"test-{role.value}", role)
            result.tokens[role] = issue_token(session, principal, "test").token
        session.commit()
    return result
