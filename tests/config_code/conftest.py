"""A populated agent, and a second, fresh database to import into."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from server.config import load_settings
from server.db.engine import make_engine
from tests.support.api import Api
from tests.support.record_source import IDENTITY_MAPPING

CANARY = "canary-S3CRET-value-0042"
SPEC: dict[str, Any] = {
    "spec_version": 1,
    "connector": {"key": "acme-desk", "name": "Acme Helpdesk", "version": "1.0.0",
                  "system_type": "ITSM"},
    "config": {"base_url": {"type": "string", "title": "Acme URL"}},
    "auth": "bearer",
    "base_url": "{config.base_url}",
    "streams": [{"name": "tickets", "path": "/tickets", "records": "data",
                 "primary_key": "id"}],
}


def populate(api: Api) -> dict[str, Any]:
    """Every kind of object the file carries, with a few edits behind them."""
    # (POST /connectors fails on a NOT NULL column before discovery; the import path works.)
    custom = {"schema_version": 1, "connectors": [{"key": "acme-desk", "spec": SPEC}]}
    resp = api.post("/config/import", {"document": json.dumps(custom)})
    assert resp.status_code == 200, resp.text
    token = api.post("/auth-configs", {"name": "directory-token", "auth_type": "bearer",
                                       "credentials": {"token": CANARY}}).json()
    key = api.post("/auth-configs", {"name": "helpdesk-key", "auth_type": "api_key",
                                     "credentials": {"api_key": CANARY + "-2",
                                                     "name": "X-Acme-Key"},
                                     "expiration": "2030-01-31T12:00:00Z"}).json()
    directory = api.create_instance(
        "Directory", "generic-rest",
        {"base_url": "http://127.0.0.1:9/", "streams": [
            {"name": "users", "path": "/items", "records": "items", "primary_key": ["id"]}]},
        auth_config_id=token["id"])
    helpdesk = api.create_instance("Helpdesk", "acme-desk",
                                   {"base_url": "https://acme.example"}, activate=False,
                                   auth_config_id=key["id"])
    mapping = api.post("/mappings", {"instance_id": directory["id"], **IDENTITY_MAPPING}).json()
    fields = IDENTITY_MAPPING["field_mappings"]
    assert api.put(f"/mappings/{mapping['id']}",
                   {"field_mappings": fields[:-1]}).status_code == 200  # version 2
    for body in ({"schedule_type": "cron", "cron_expression": "0 2 * * *",
                  "timezone": "Europe/Berlin"},
                 {"schedule_type": "interval", "interval_minutes": 90}):
        assert api.post("/schedules", {"instance_id": directory["id"], **body}
                        ).status_code == 201
    sub = api.post("/event-subscriptions", {
        "instance_id": directory["id"], "event_type": "sync.failed", "action_type": "sync",
        "action_config": {"instance_id": helpdesk["id"]}})
    assert sub.status_code == 201, sub.text
    return {"directory": directory, "helpdesk": helpdesk, "mapping": mapping,
            "token": token, "key": key}


@pytest.fixture
def fresh_engine(backend: str, tmp_path: Path, request: pytest.FixtureRequest
                 ) -> Iterator[tuple[Engine, str]]:
    """A second migrated, empty database of the same backend."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "fresh.db"
        shutil.copy(template, path)
        url = f"sqlite:///{path}"
        eng = make_engine(url)
        yield eng, url
        eng.dispose()
        return
    from tests.conftest import _drop_pg_db, _pg_url_for, new_pg_database  # noqa: PLC0415

    name = new_pg_database(request.getfixturevalue("_pg_template"))
    url = _pg_url_for(name)
    eng = make_engine(url)
    yield eng, url
    eng.dispose()
    _drop_pg_db(name)


def settings_for(url: str, tmp_path: Path) -> Any:
    return load_settings(database_url=url, data_dir=tmp_path / "fresh-data")
