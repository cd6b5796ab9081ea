"""The canonical evidence model: schemas are valid 2020-12, bundled, and the loader finds them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from server.mapping import canonical
from server.mapping.canonical import (
    UnknownEntityError,
    entity_types,
    field_names,
    load_entity_schema,
    required_fields,
)

ENTITIES = ("asset", "cloud_resource", "configuration_check", "group", "identity", "org_unit",
            "repository", "security_event", "ticket", "vulnerability")
PROVENANCE = {
    "instance_id": "7d0c", "connector": "okta", "connector_version": "1.2.0",
    "external_api_version": "v1", "stream": "users", "sync_id": "s-1",
    "fetched_at": "2024-05-01T10:00:00Z", "content_hash": "ab" * 32,
}
SAMPLES: dict[str, dict[str, Any]] = {
    "identity": {"username": "ann"},
    "group": {"name": "admins"},
    "org_unit": {"name": "Engineering"},
    "asset": {"name": "ann-laptop"},
    "cloud_resource": {"provider": "aws", "resource_type": "s3_bucket"},
    "repository": {"name": "api"},
    "vulnerability": {"title": "OpenSSL", "severity": "high"},
    "configuration_check": {"check_id": "cis-1.4", "status": "fail"},
    "ticket": {"title": "Rotate keys", "status": "In Progress"},
    "security_event": {"event_type": "login_failed", "occurred_at": "2024-05-01T10:00:00Z"},
}


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        load_entity_schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_every_entity_type_is_there() -> None:
    assert entity_types() == ENTITIES


@pytest.mark.parametrize("name", ENTITIES)
def test_schema_is_valid_and_self_contained(name: str) -> None:
    schema = load_entity_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"external_id", "provenance"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
    record = {"external_id": "x-1", **SAMPLES[name], "provenance": PROVENANCE}
    assert list(validator(name).iter_errors(record)) == []


@pytest.mark.parametrize("name", ENTITIES)
def test_provenance_and_required_fields_are_enforced(name: str) -> None:
    v = validator(name)
    record = {"external_id": "x-1", **SAMPLES[name], "provenance": PROVENANCE}
    no_provenance = {k: v for k, v in record.items() if k != "provenance"}
    assert not v.is_valid(no_provenance)
    bad_hash = {**record, "provenance": {**PROVENANCE, "content_hash": "nope"}}
    assert not v.is_valid(bad_hash)
    for field in required_fields(name):
        assert not v.is_valid({k: val for k, val in record.items() if k != field}), field
    assert not v.is_valid({**record, "unexpected": 1})


def test_configuration_check_statuses() -> None:
    schema = load_entity_schema("configuration_check")
    assert schema["properties"]["status"]["enum"] == ["pass", "fail", "error", "not_applicable"]
    assert {"severity", "resource_external_id", "evidence"} <= set(schema["properties"])


def test_required_fields_leave_provenance_to_the_sync_engine() -> None:
    assert required_fields("identity") == ["external_id", "username"]
    assert "provenance" not in field_names("identity")
    assert field_names("identity")[0] == "external_id"


def test_loaded_schemas_are_copies() -> None:
    load_entity_schema("identity")["required"].append("x")
    assert "x" not in load_entity_schema("identity")["required"]


def test_unknown_entity_is_named() -> None:
    with pytest.raises(UnknownEntityError, match="unknown entity type 'spaceship'"):
        load_entity_schema("spaceship")


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    for fn in (canonical.canonical_dir, canonical.entity_types, canonical._read,
               canonical._bundled):
        fn.cache_clear()
    yield
    for fn in (canonical.canonical_dir, canonical.entity_types, canonical._read,
               canonical._bundled):
        fn.cache_clear()


@pytest.mark.usefixtures("fresh_cache")
def test_resources_folder_can_be_pointed_to(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(canonical.canonical_dir(), tmp_path / "canonical")
    canonical.canonical_dir.cache_clear()
    monkeypatch.setenv(canonical.ENV_VAR, str(tmp_path))
    assert canonical.canonical_dir() == tmp_path / "canonical"
    assert load_entity_schema("ticket")["title"] == "Ticket"


@pytest.mark.usefixtures("fresh_cache")
def test_missing_resources_say_where_they_were_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(canonical.ENV_VAR, str(tmp_path))
    monkeypatch.setattr(canonical, "__file__", str(tmp_path / "a" / "b" / "canonical.py"))
    monkeypatch.setattr(canonical.sys, "prefix", str(tmp_path))
    monkeypatch.setattr(canonical.sysconfig, "get_path", lambda name: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="canonical schemas not found; looked in"):
        canonical.canonical_dir()
