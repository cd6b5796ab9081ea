"""Configuration as code on both databases: round trip, validation that changes nothing,
plans as diffs, secrets bound apart, and never a secret in an export."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from server.cli import config as config_cli
from server.config_code import ConfigInvalid, export_yaml, import_config
from server.db.engine import make_session_factory
from server.db.models import Role
from server.services.registry import Registry
from server.vault import MasterKey, Vault
from tests.audit.helpers import cli_env, run_cli
from tests.config_code.conftest import CANARY, populate, settings_for
from tests.support.api import Api


def _import(engine: Engine, url: str, tmp_path: Path, text: str, **kw: Any) -> Any:
    registry = Registry(settings_for(url, tmp_path))
    with make_session_factory(engine)() as session:
        registry.sync_rows(session)
        session.commit()
        return import_config(session, text, registry=registry,
                             vault=kw.pop("vault", Vault.from_key(MasterKey.generate())), **kw)


def _export(engine: Engine) -> str:
    with make_session_factory(engine)() as session:
        return export_yaml(session)


def test_export_import_into_a_fresh_database_export_is_byte_identical(
    api: Api, fresh_engine: tuple[Engine, str], tmp_path: Path
) -> None:
    populate(api)
    first = api.get("/config/export").text
    assert first.splitlines()[2] == "schema_version: 1"
    doc = yaml.safe_load(first)
    assert [c["key"] for c in doc["connectors"]] == ["acme-desk"]
    assert [c["name"] for c in doc["credentials"]] == ["directory-token", "helpdesk-key"]
    assert doc["credentials"][1]["fields"]["name"] == "X-Acme-Key"
    assert doc["credentials"][1]["secrets"] == ["api_key"]
    directory = doc["instances"][0]
    assert (directory["name"], directory["connector"], directory["credential"]) == (
        "Directory", "generic-rest", "directory-token")
    assert directory["mappings"][0]["version"] == 2
    assert directory["subscriptions"][0]["action_config"] == {"instance": "Helpdesk"}
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", first)  # names, not ids

    engine, url = fresh_engine
    plan = _import(engine, url, tmp_path, first)
    assert plan.applied
    assert plan.missing_secrets == {"directory-token": ["token"],
                                    "helpdesk-key": ["api_key"]}
    second = _export(engine)
    assert second == first
    # Importing the same file again is a no-op.
    again = _import(engine, url, tmp_path, second)
    assert (again.changes, again.applied) == ([], False)


def test_one_invalid_object_changes_nothing_and_is_named(
    api: Api, fresh_engine: tuple[Engine, str], tmp_path: Path
) -> None:
    populate(api)
    text = api.get("/config/export").text
    doc = yaml.safe_load(text)
    doc["instances"][0]["configuration"]["base_url"] = "http://changed.example/"
    doc["instances"][0]["schedules"][0]["cron"] = "every day at two"
    bad = yaml.safe_dump(doc, sort_keys=False)

    resp = api.post("/config/import", {"document": bad})
    assert resp.status_code == 422
    problem = resp.json()
    assert [e["field"] for e in problem["errors"]] == ["instances[Directory].schedules[0].cron"]
    assert "five fields" in problem["errors"][0]["message"]
    assert api.get("/config/export").text == text  # nothing changed

    # A problem only the database can see (enabling an incomplete instance) rolls back too.
    doc = yaml.safe_load(text)
    doc["instances"][1]["enabled"] = True
    doc["instances"][1]["configuration"] = {}
    doc["instances"][0]["configuration"]["base_url"] = "http://changed.example/"
    resp = api.post("/config/import", {"document": yaml.safe_dump(doc)})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "instances[Helpdesk].configuration.base_url"
    assert api.get("/config/export").text == text

    # Into a fresh database, errors name objects by name too.
    engine, url = fresh_engine
    doc = yaml.safe_load(text)
    doc["instances"][0]["mappings"][0]["field_mappings"][0] = {"source": "id"}
    doc["credentials"][0]["fields"] = {"token": "pasted-by-mistake"}
    with pytest.raises(ConfigInvalid) as caught:
        _import(engine, url, tmp_path, yaml.safe_dump(doc))
    named = {(e.object, e.field) for e in caught.value.errors}
    assert ("credentials[directory-token]", "fields.token") in named
    assert any(o == "instances[Directory].mappings[users]" and f.startswith("field_mappings.0")
               for o, f in named)
    assert "pasted-by-mistake" not in str(caught.value)
    assert yaml.safe_load(_export(engine))["instances"] == []


def test_dry_run_shows_the_plan_as_a_diff_then_import_applies_it(api: Api) -> None:
    ids = populate(api)
    text = api.get("/config/export").text
    changed = text.replace("http://127.0.0.1:9/", "http://127.0.0.1:10/")
    plan = api.post("/config/import", {"document": changed, "dry_run": True}).json()
    assert plan["applied"] is False
    assert plan["changes"] == [{"action": "update", "object": "instances[Directory]",
                                "fields": ["configuration"]}]
    assert "-    base_url: http://127.0.0.1:9/" in plan["diff"]
    assert "+    base_url: http://127.0.0.1:10/" in plan["diff"]
    assert api.get("/config/export").text == text
    assert api.post("/config/import", {"document": changed}, role=Role.AUDITOR
                    ).status_code == 403

    done = api.post("/config/import", {"document": changed}).json()
    assert done["applied"] is True
    assert api.get("/config/export").text == changed
    revisions = api.get(f"/instances/{ids['directory']['id']}/revisions").json()
    assert revisions[-1]["author"] == "test-admin"
    assert revisions[-1]["snapshot"]["configuration"]["base_url"] == "http://127.0.0.1:10/"
    audit = api.get("/audit", role=Role.AUDITOR, params={"action": "config.import"}).json()
    assert audit["items"][0]["details"]["changes"] == ["update instances[Directory]"]


def test_secrets_are_bound_apart_and_never_exported(
    api: Api, fresh_engine: tuple[Engine, str], tmp_path: Path
) -> None:
    populate(api)
    text = api.get("/config/export").text
    engine, url = fresh_engine
    vault = Vault.from_key(MasterKey.generate())
    secrets = {"directory-token": {"token": CANARY + "-fresh"}}
    plan = _import(engine, url, tmp_path, text, vault=vault, secrets=secrets)
    assert plan.missing_secrets == {"helpdesk-key": ["api_key"]}
    assert _export(engine) == text
    # Unknown credentials and non-secret fields in the secrets are refused by name.
    with pytest.raises(ConfigInvalid) as caught:
        _import(engine, url, tmp_path, text, vault=vault,
                secrets={"nobody": {"token": "x"}, "helpdesk-key": {"name": "x"}})
    assert {(e.object, e.field) for e in caught.value.errors} == {
        ("secrets[nobody]", "(credential)"), ("secrets[helpdesk-key]", "name")}

    # Binding later through the API.
    missing = api.post("/config/secrets", {"secrets": {"helpdesk-key": {"api_key": "k-1234"}}})
    assert missing.status_code == 200, missing.text
    assert missing.json()["missing_secrets"] == {}


def test_no_secret_value_appears_in_any_export(api: Api) -> None:
    populate(api)
    api.post("/config/secrets", {"secrets": {"directory-token": {"token": CANARY + "-b"}}})
    exports = [api.get("/config/export").text,
               api.get("/audit/export", role=Role.AUDITOR).text,
               api.get("/audit/export", role=Role.AUDITOR, params={"format": "csv"}).text]
    for item in api.all("/auth-configs"):
        exports.append(str(api.get(f"/auth-configs/{item['id']}/revisions").json()))
    for text in exports:
        assert CANARY not in text
        assert CANARY[:12] not in text


def test_cli_export_diff_and_import(api: Api, db_url: str, tmp_path: Path) -> None:
    populate(api)
    env = cli_env(db_url, tmp_path / "cli-data")
    out = tmp_path / "config.yaml"
    done = run_cli(config_cli.app, ["export", "-o", str(out)], env)
    assert done.exit_code == 0, done.output
    assert out.read_text() == api.get("/config/export").text

    same = run_cli(config_cli.app, ["diff", str(out)], env)
    assert (same.exit_code, "no changes" in same.output) == (0, True)

    out.write_text(out.read_text().replace("interval_minutes: 90", "interval_minutes: 45"))
    differs = run_cli(config_cli.app, ["diff", str(out)], env)
    assert differs.exit_code == 1
    assert "+    interval_minutes: 45" in differs.output

    dry = run_cli(config_cli.app, ["import", str(out), "--dry-run"], env)
    assert dry.exit_code == 0
    assert "dry run" in dry.output
    applied = run_cli(config_cli.app, ["import", str(out)], env)
    assert applied.exit_code == 0, applied.output
    assert "interval_minutes: 45" in api.get("/config/export").text
    entries = api.get("/audit", role=Role.AUDITOR, params={"action": "schedule.update"}).json()
    assert entries["items"][0]["actor"].startswith("cli:")

    broken = tmp_path / "broken.yaml"
    broken.write_text(out.read_text().replace("connector: generic-rest",
                                              "connector: no-such-thing"))
    bad = run_cli(config_cli.app, ["import", str(broken)], env)
    assert bad.exit_code == 1
    assert "instances[Directory]: connector: no connector with key 'no-such-thing'" in \
        bad.output


@pytest.mark.parametrize("body", [
    {"secrets": {"\x00": {}}},
    {"secrets": {"github-token": {"token": "a\x00b"}}},
])
def test_nul_characters_in_secrets_are_refused_naming_the_field(
    api: Api, body: dict[str, Any]
) -> None:
    """PostgreSQL cannot store NUL: a 422 naming the field, not a database error (found by
    the API fuzzing)."""
    resp = api.post("/config/secrets", body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"].startswith("secrets")
    assert "NUL" in resp.json()["errors"][0]["message"]
    imported = api.post("/config/import", {"document": "connectors: []\x00", "dry_run": True})
    assert imported.status_code == 422
    assert imported.json()["errors"][0]["field"] == "document"
