"""Which compiled mapping a sync runs: compiled once per exact spec, a new version compiled anew,
on both databases."""

from __future__ import annotations

import uuid
from typing import Any

from connectors.builtin.github import GitHubConnector
from server.db.engine import make_session_factory
from server.sync.mappings import default_mappings, resolve
from tests.support.api import Api
from tests.support.record_source import IDENTITY_MAPPING, generic_rest_config


def test_a_mapping_is_compiled_once_per_version(api: Api) -> None:
    instance = api.create_instance("Directory API", "generic-rest",
                                   generic_rest_config("http://127.0.0.1:9"))
    created = api.post("/mappings", {"instance_id": instance["id"], **IDENTITY_MAPPING})
    assert created.status_code == 201, created.text
    connector_class = type(None)  # an instance mapping: the connector's defaults are not read
    instance_id = uuid.UUID(instance["id"])
    with make_session_factory(api.engine)() as session:
        first = resolve(session, instance_id, "users", connector_class)
        again = resolve(session, instance_id, "users", connector_class)
    assert first is not None
    assert again is not None
    assert again.compiled is first.compiled  # the same spec: not compiled again
    assert first.reference["version"] == 1

    fields: list[Any] = list(IDENTITY_MAPPING["field_mappings"])
    fields[1] = {"target": "username", "source": "login", "steps": ["upper"]}
    changed = api.put(f"/mappings/{created.json()['id']}", {"field_mappings": fields})
    assert changed.status_code == 200, changed.text
    with make_session_factory(api.engine)() as session:
        latest = resolve(session, instance_id, "users", connector_class)
        pinned = resolve(session, instance_id, "users", connector_class, version=1)
    assert latest is not None
    assert pinned is not None
    assert latest.reference["version"] == 2
    assert latest.reference["fingerprint"] != first.reference["fingerprint"]
    record = {"id": "u1", "login": "ada", "email": "ada@example.com", "active": True}
    out = latest.compiled.output(record)
    assert out is not None
    assert out["username"] == "ADA"
    assert pinned.compiled is first.compiled  # version 1 again: the compiled one is reused
    out = pinned.compiled.output(record)
    assert out is not None
    assert out["username"] == "ada"


def test_default_mappings_are_read_once_and_handed_out_as_copies() -> None:
    first = default_mappings(GitHubConnector)
    assert first, "the GitHub connector ships default mappings"
    first.clear()  # a caller's changes do not reach the next caller
    again = default_mappings(GitHubConnector)
    assert again
    assert again == default_mappings(GitHubConnector)
