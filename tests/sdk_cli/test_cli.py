"""`simpletrust connector list|check|discover|read`, run in-process on real files and a real
loopback API (the declarative `shop` spec and the built-in File Import connector)."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from server.cli import connector as cli
from tests.sdk.servers import Reply, Seen, Server

from .conftest import CONNECTOR_CLI, ITEMS, SPEC, TOKEN, cli_env, run, write_yaml

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(cli.app, [str(a) for a in args])


def shop_args(files: dict[str, Path], *extra: str | Path) -> list[str | Path]:
    return ["shop", "--spec", files["spec"], "--config", files["config"],
            "--credentials", files["credentials"], "--auth-type", "bearer",
            "--allow-loopback", *extra]


def ndjson(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got: {result.stderr!r}"
    assert "Traceback" not in result.output
    return lines[0]


# ---- list ------------------------------------------------------------------------------------


def test_list_shows_built_ins_and_declarative_specs_with_their_source(
    shop_files: dict[str, Path],
) -> None:
    result = invoke("list", "--spec", shop_files["spec"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["KEY", "NAME", "VERSION", "SYSTEM", "TYPE", "SOURCE"]
    assert ["shop", "Shop", "1.2.0", "ITSM", "declarative"] in rows
    assert ["file-import", "File", "Import", "1.0.0", "File", "builtin"] in rows

    as_json = json.loads(invoke("list", "--json").stdout)
    keys = {item["key"]: item["source"] for item in as_json["items"]}
    assert keys["generic-rest"] == "builtin"
    assert as_json["problems"] == []


def test_list_reports_a_plugin_that_fails_to_load(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint("broken", "no_such_module_xyz:Connector", "simpletrust.connectors")
    monkeypatch.setattr("connectors.registry.entry_points", lambda group: [broken])
    result = invoke("list")
    assert result.exit_code == 0
    assert "generic-rest" in result.stdout
    assert "broken" not in result.stdout
    assert "not loaded: no_such_module_xyz:Connector (entry point 'broken'): could not be " \
           "loaded: ModuleNotFoundError" in result.stderr
    read = invoke("read", "broken")
    assert read.exit_code == 2
    assert "connector 'broken' could not be loaded" in error_line(read)


def test_a_bad_spec_file_names_the_field(tmp_path: Path) -> None:
    bad = {**SPEC, "streams": [{"name": "items"}]}
    result = invoke("list", "--spec", write_yaml(tmp_path / "bad.yaml", bad))
    assert result.exit_code == 2
    assert error_line(result) == (
        f"error: spec file {tmp_path / 'bad.yaml'}: Invalid declarative spec: "
        "streams[0].path: Field required."
    )


# ---- check ------------------------------------------------------------------------------------


def test_check_passes_and_lists_every_step(shop_files: dict[str, Path]) -> None:
    result = invoke("check", *shop_args(shop_files))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Shop 1.2.0: check passed (")
    assert [line.split()[:2] for line in lines[1:]] == [
        ["ok", "reachable"], ["ok", "authenticated"], ["ok", "permissions"],
        ["skip", "api_version"]]


def test_check_failure_shows_cause_and_hint_and_exits_1(
    shop_files: dict[str, Path], tmp_path: Path
) -> None:
    wrong = write_yaml(tmp_path / "wrong.yaml", {"token": "wrong-token-value"})
    args = shop_args(shop_files)
    args[args.index(shop_files["credentials"])] = wrong
    result = invoke("check", *args)
    assert result.exit_code == 1
    assert "check FAILED" in result.stdout
    failed = [line for line in result.stdout.splitlines() if line.lstrip().startswith("FAIL")]
    assert len(failed) == 1
    assert "authenticated" in failed[0]
    assert "401" in failed[0]
    assert "hint: The credentials were rejected." in result.stdout
    assert "wrong-token-value" not in result.output

    as_json = json.loads(invoke("check", *args, "--json").stdout)
    assert as_json["ok"] is False
    assert as_json["error_action"] == "refresh"


def test_loopback_is_refused_unless_allowed(shop_files: dict[str, Path]) -> None:
    args = shop_args(shop_files)
    args.remove("--allow-loopback")
    result = invoke("check", *args)
    assert result.exit_code == 1
    assert "loopback" in result.stdout.lower()


# ---- discover / read ----------------------------------------------------------------------------


def test_discover_shows_streams_and_json_gives_schemas(shop_files: dict[str, Path]) -> None:
    result = invoke("discover", *shop_args(shop_files))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "items: primary key id; cursor updated; modes full_refresh, incremental",
        "  fields: id, name, updated",
    ]
    streams = json.loads(invoke("discover", *shop_args(shop_files), "--json").stdout)
    assert streams[0]["json_schema"]["properties"]["id"] == {"type": "integer"}


def test_read_prints_records_then_the_final_state_and_resumes_from_it(
    shop_files: dict[str, Path], shop: Server, tmp_path: Path
) -> None:
    result = invoke("read", *shop_args(shop_files, "--stream", "items"))
    assert result.exit_code == 0, result.output
    messages = ndjson(result.stdout)
    assert [m["data"] for m in messages[:-1]] == ITEMS
    assert {m["type"] for m in messages[:-1]} == {"record"}
    assert messages[-1] == {"type": "state", "stream": "items", "state": {
        "cursor": "2024-03-05T08:00:00Z", "boundary_keys": ["[5]"]}}
    assert "5 records, 0 skipped from 'items'" in result.stderr

    # The whole output is a valid --state file: its last state line is used.
    output = tmp_path / "out.ndjson"
    output.write_text(result.stdout)
    ITEMS.append({"id": 6, "name": "item 6", "updated": "2024-03-06T08:00:00Z"})
    try:
        again = invoke("read", *shop_args(shop_files, "-s", "items", "--state", output))
    finally:
        ITEMS.pop()
    assert [m["data"]["id"] for m in ndjson(again.stdout)[:-1]] == [6]
    assert shop.seen[-1].query["since"] == "2024-03-05T08:00:00Z"


def test_read_limit_stops_early_with_the_last_checkpoint(shop_files: dict[str, Path]) -> None:
    result = invoke("read", *shop_args(shop_files, "--stream", "items", "--limit", "3"))
    assert result.exit_code == 0, result.output
    messages = ndjson(result.stdout)
    assert [m["data"]["id"] for m in messages[:-1]] == [1, 2, 3]
    # Checkpoints come every 2 records: the state covers records 1-2, so a resume re-reads 3.
    assert messages[-1]["state"]["cursor"] == "2024-03-02T08:00:00Z"
    assert "stopped at --limit: the state covers the records up to the last checkpoint" in (
        result.stderr)


def test_read_needs_a_stream_when_there_are_several_and_refuses_unknown_ones(
    shop_files: dict[str, Path],
) -> None:
    result = invoke("read", *shop_args(shop_files))
    assert result.exit_code == 2
    assert error_line(result) == ("error: this connector offers several streams (items, users); "
                                  "choose one with --stream")
    assert result.stdout == ""
    unknown = invoke("read", *shop_args(shop_files, "--stream", "nope"))
    assert unknown.exit_code == 2
    assert "Unknown stream 'nope'" in error_line(unknown)
    assert unknown.stdout == ""


def test_a_read_that_breaks_off_prints_what_it_read_and_the_last_checkpoint(
    shop_files: dict[str, Path], shop: Server
) -> None:
    def fails_on_page_2(r: Seen) -> Reply:
        if r.query.get("page") == "2":
            return Reply(404, {"error": "gone"})
        return Reply(200, {"data": ITEMS[:2]})

    shop.set_handler(fails_on_page_2)
    result = invoke("read", *shop_args(shop_files, "--stream", "items"))
    assert result.exit_code == 1
    messages = ndjson(result.stdout)
    assert [m["data"]["id"] for m in messages[:-1]] == [1, 2]
    assert messages[-1]["state"]["cursor"] == "2024-03-02T08:00:00Z"
    assert "the read failed: the state covers the records up to the last checkpoint" in (
        result.stderr)
    assert result.stderr.strip().splitlines()[-1].startswith("error: GET ")


def test_read_a_folder_with_file_import_reports_bad_rows(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "users.csv").write_text("id,name\n1,Ada\n2,Grace,extra\n3,Linus\n")
    config = write_yaml(tmp_path / "import.yaml", {"folder": str(folder)})
    result = invoke("read", "file-import", "--config", config)
    assert result.exit_code == 0, result.output
    assert [m["data"] for m in ndjson(result.stdout)[:-1]] == [
        {"id": 1, "name": "Ada"}, {"id": 3, "name": "Linus"}]
    assert "skipped: users.csv line 3:" in result.stderr


# ---- readable errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("folder: [unclosed\n", "not valid YAML (line 2, column 1: "),
        ("- a list\n", "must hold a mapping of field names to values, not a list"),
        ("folder: relative/path\n", "Invalid configuration: folder: Value error, must be an "
                                    "absolute path."),
        ("folder: /x\nstreams: [{name: s, pattern: ../up}]\n",
         "streams[0].pattern: Value error, must be relative to the folder"),
        ("folder: ${NOT_SET_ANYWHERE_42}\n",
         "folder: environment variable NOT_SET_ANYWHERE_42 is not set"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_field(
    tmp_path: Path, content: str, expected: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    result = invoke("check", "file-import", "--config", config)
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"error: config file {config}: ")
    assert expected in line


def test_json_config_errors_give_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text('{\n  "folder": "/x",\n}\n')
    result = invoke("check", "file-import", "-c", config)
    assert error_line(result) == (f"error: config file {config}: not valid JSON (line 3, "
                                  "column 1: Expecting property name enclosed in double quotes)")


def test_config_values_can_come_from_the_environment(
    shop_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    creds = tmp_path / "env-token.yaml"
    creds.write_text("token: ${SHOP_TOKEN}\n")
    args = shop_args(shop_files)
    args[args.index(shop_files["credentials"])] = creds
    assert invoke("check", *args).exit_code == 0


def test_bad_credentials_name_the_field_and_never_the_secret(
    shop_files: dict[str, Path], tmp_path: Path
) -> None:
    creds = write_yaml(tmp_path / "c.yaml", {"tokn": "s3cret-value-123"})
    args = shop_args(shop_files)
    args[args.index(shop_files["credentials"])] = creds
    result = invoke("check", *args)
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"error: credentials file {creds}: invalid BearerFields fields: ")
    assert "token: Field required" in line
    assert "tokn: Extra inputs are not permitted" in line
    assert "s3cret-value-123" not in result.output


def test_the_auth_type_defaults_to_the_connectors_only_method(
    shop_files: dict[str, Path],
) -> None:
    args = shop_args(shop_files)
    del args[args.index("--auth-type") : args.index("--auth-type") + 2]
    assert invoke("check", *args).exit_code == 0
    unknown = invoke("check", *args, "--auth-type", "kerberos")
    assert unknown.exit_code == 2
    assert "unknown auth type 'kerberos'" in error_line(unknown)


def test_unknown_connector_lists_the_available_ones() -> None:
    result = invoke("check", "nope")
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith("error: unknown connector 'nope' (available: ")
    assert "file-import" in line
    assert "generic-rest" in line


def test_verbose_logs_never_show_the_token(shop_files: dict[str, Path]) -> None:
    result = invoke("read", *shop_args(shop_files, "-s", "items", "-v"))
    assert result.exit_code == 0
    assert "INFO connectors.shop: read items started" in result.stderr
    assert TOKEN not in result.output


def test_the_main_command_line_mounts_the_connector_commands(tmp_path: Path) -> None:
    """`simpletrust connector ...` is this sub-app (server/cli/main.py adds it)."""
    result = run([*CONNECTOR_CLI, "--help"], env=cli_env(tmp_path / "data"))
    assert result.returncode == 0, (
        "`simpletrust connector` is not mounted: server/cli/main.py needs "
        "`app.add_typer(connector.app, name=\"connector\")`\n" + result.stderr)
    for command in ("list", "check", "discover", "read", "new"):
        assert command in result.stdout
