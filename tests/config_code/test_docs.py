"""docs/guides/configuration-as-code.md: its example file, secrets file, error text and
commands are what the agent really reads, writes and says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from server.cli import audit as audit_cli
from server.cli import config as config_cli
from server.db.models import Role
from tests.audit.helpers import cli_env, run_cli
from tests.support.api import Api

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "configuration-as-code.md"


def _blocks(kind: str, path: Path = GUIDE) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", path.read_text(), flags=re.DOTALL)


def test_the_example_file_imports_and_exports_byte_identical(api: Api) -> None:
    example = next(b for b in _blocks("yaml") if b.startswith("# SimpleTrust"))
    done = api.post("/config/import", {"document": example})
    assert done.status_code == 200, done.text
    assert done.json()["missing_secrets"] == {"directory-token": ["token"]}
    assert api.get("/config/export").text == example

    secrets_block = next(b for b in _blocks("yaml") if b.startswith("# secrets.yaml"))
    bound = api.post("/config/import", {"document": example,
                                        "secrets": yaml.safe_load(secrets_block)})
    assert bound.status_code == 200, bound.text
    assert bound.json()["missing_secrets"] == {}
    hints = api.all("/auth-configs")[0]["secret_hints"]
    assert set(hints) == {"token"}
    assert "ghp_example_value" not in api.get("/config/export").text
    assert api.get("/config/export").text == example
    assert api.get("/instances", role=Role.AUDITOR).json()["items"][0]["status"] == "active"


def test_the_documented_errors_are_what_import_prints(db_url: str, tmp_path: Path) -> None:
    example = next(b for b in _blocks("yaml") if b.startswith("# SimpleTrust"))
    doc = yaml.safe_load(example)
    doc["instances"][0]["schedules"][0]["cron"] = "0 2 * *"
    doc["credentials"][0]["fields"] = {"token": "pasted"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = run_cli(config_cli.app, ["import", str(bad)], cli_env(db_url, tmp_path / "d"))
    assert result.exit_code == 1
    expected = next(b for b in _blocks("text") if "is invalid" in b)
    assert sorted(result.output.strip().splitlines()) == sorted(expected.strip().splitlines())


def test_a_minimal_file_shows_no_drift_after_its_import(api: Api, db_url: str,
                                                       tmp_path: Path) -> None:
    minimal = ("schema_version: 1\ncredentials:\n- {name: helpdesk-key, type: api_key}\n"
               "instances:\n- name: Directory\n  connector: generic-rest\n"
               "  credential: helpdesk-key\n  configuration: {base_url: 'https://x.example',"
               " streams: []}\n")
    assert api.post("/config/import", {"document": minimal}).status_code == 200
    plan = api.post("/config/import", {"document": minimal, "dry_run": True}).json()
    assert plan["changes"] == []
    path = tmp_path / "minimal.yaml"
    path.write_text(minimal)
    assert run_cli(config_cli.app, ["diff", str(path)],
                   cli_env(db_url, tmp_path / "d")).exit_code == 0


@pytest.mark.parametrize("guide", ["configuration-as-code.md", "audit.md"])
def test_every_documented_command_exists(guide: str) -> None:
    text = (ROOT / "docs" / "guides" / guide).read_text()
    apps = {"config": config_cli.app, "audit": audit_cli.app}
    commands = set(re.findall(r"simpletrust (config|audit) ([a-z-]+)((?: --?[a-z-]+)*)", text))
    assert len(commands) >= 4
    for group, sub, _ in commands:
        shown = run_cli(apps[group], [sub, "--help"], {})
        assert shown.exit_code == 0, f"simpletrust {group} {sub}: {shown.output}"
    for group, sub, options in commands:
        help_text = run_cli(apps[group], [sub, "--help"], {}).output
        for option in re.findall(r"--[a-z-]+", options):
            if option != "--help":
                assert option in help_text, f"simpletrust {group} {sub} has no {option}"


def test_yaml_aliases_are_refused(api: Api) -> None:
    bomb = ("schema_version: 1\nx: &a [1, 1, 1, 1, 1, 1, 1, 1]\ny: &b [*a, *a, *a, *a, *a]\n"
            "instances: []\n")
    resp = api.post("/config/import", {"document": bomb})
    assert resp.status_code == 422
    assert "anchors and aliases" in resp.json()["errors"][0]["message"]
