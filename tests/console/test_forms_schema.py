"""Form generation and validation over the real connectors' config JSON Schemas (Qt-free),
and the generated form's widgets (offscreen)."""

from __future__ import annotations

from typing import Any

import pytest

from app.forms.schema import (
    MISSING,
    InputError,
    parse_input,
    parse_schema,
    validate_config,
)
from app.forms.widgets import SchemaForm
from app.wizard.flow import ScheduleChoice, clone_draft, masked_configuration, suggest_name
from connectors.builtin.file_import.connector import FileImportConfig
from connectors.builtin.github.connector import GitHubConfig
from connectors.builtin.splunk.connector import SplunkConfig
from connectors.declarative.spec import ApiSpec

GITHUB = GitHubConfig.model_json_schema()
SPLUNK = SplunkConfig.model_json_schema()
FILES = FileImportConfig.model_json_schema()
REST = ApiSpec.model_json_schema()


def _kinds(schema: dict[str, Any]) -> dict[str, tuple[str, bool, bool]]:
    return {f.key: (f.kind, f.required, f.secret) for f in parse_schema(schema)}


def test_kinds_required_and_secrets_from_real_schemas() -> None:
    github = _kinds(GITHUB)
    assert github["organization"] == ("string", True, False)
    assert github["repositories"] == ("string_list", False, False)
    assert github["include_archived"] == ("boolean", False, False)
    assert github["page_size"] == ("integer", False, False)
    assert github["webhook_secret"] == ("string", False, True)  # writeOnly, X | None
    assert next(iter(github)) == "organization"  # required fields first
    splunk = _kinds(SPLUNK)
    assert splunk["searches"] == ("object_list", False, False)
    assert splunk["hec_token"] == ("string", False, True)
    files = parse_schema(FILES)
    streams = next(f for f in files if f.key == "streams")
    children = {c.key: (c.kind, c.required) for c in streams.children}
    assert children["format"] == ("enum", False)
    assert children["primary_key"] == ("string_list", False)
    assert children["name"] == ("string", True)


def test_generic_rest_unions_and_maps() -> None:
    kinds = _kinds(REST)
    assert kinds["headers"][0] == "mapping"
    assert kinds["paginator"][0] == "json"  # a discriminated union: raw JSON input
    assert kinds["auth"][0] == "object"  # edited in full; "bearer" is its shorthand
    fields = {f.key: f for f in parse_schema(REST)}
    assert fields["auth"].shorthand == "method"
    streams = {c.key: c.kind for c in fields["streams"].children}
    assert streams["primary_key"] == "string_list"  # "id" or ["id", "org"]


def test_shorthand_value_fills_the_full_form(qapp: Any) -> None:
    form = SchemaForm(REST)
    form.set_value({"base_url": "http://127.0.0.1:9", "auth": "bearer",
                    "streams": [{"name": "a", "path": "/a"}]})
    assert form.value()["auth"] == {"method": "bearer"}


def test_validation_names_fields_and_never_echoes_values() -> None:
    problems = validate_config(
        GITHUB, {"page_size": 500, "webhook_secret": 12345, "surprise": True}
    )
    assert problems["organization"] == "is required"
    assert problems["page_size"] == "must be at most 100"
    assert problems["webhook_secret"] == "must be text"
    assert problems[""] == "unknown field surprise"
    assert "12345" not in str(problems)
    nested = validate_config(FILES, {"folder": "/x", "streams": [{"name": "9x", "format": "xml"}]})
    assert nested["streams[0].pattern"] == "is required"
    assert nested["streams[0].name"].startswith("must match the pattern")
    assert nested["streams[0].format"] == "must be one of auto, csv, json, ndjson"
    assert validate_config(GITHUB, {"organization": "acme"}) == {}


def test_text_inputs_become_values() -> None:
    fields = {f.key: f for f in parse_schema(GITHUB)}
    assert parse_input(fields["page_size"], " 50 ") == 50
    assert parse_input(fields["page_size"], "fifty") == "fifty"  # left for validation to name
    assert parse_input(fields["repositories"], "api, web ,") == ["api", "web"]
    assert parse_input(fields["organization"], "  ") is MISSING
    secret = fields["webhook_secret"]
    assert parse_input(secret, " keep spaces ") == " keep spaces "
    rest = {f.key: f for f in parse_schema(REST)}
    assert parse_input(rest["headers"], "Accept = application/json\nX-N = 3") == {
        "Accept": "application/json",
        "X-N": "3",
    }
    with pytest.raises(InputError, match="line 1"):
        parse_input(rest["headers"], "no equals sign")
    with pytest.raises(InputError, match="not valid JSON"):
        parse_input(rest["paginator"], "{type: x}")


def test_schema_form_widgets(qapp: Any) -> None:
    form = SchemaForm(GITHUB)
    validity: list[bool] = []
    form.sig_validity_changed.connect(validity.append)
    org = form.editor("organization")
    assert form.validate() is False
    assert org.error.text() == "Organization: is required"
    org.input.setText("acme")  # type: ignore[attr-defined]
    assert validity[-1] is True
    secret = form.editor("webhook_secret")
    secret.input.setText("s3cret-value")  # type: ignore[attr-defined]
    assert form.value()["webhook_secret"] == "s3cret-value"
    form.set_value({"organization": "other", "webhook_secret": "from-the-agent"})
    assert secret.input.text() == "s3cret-value"  # type: ignore[attr-defined]  # never filled
    assert org.input.text() == "other"  # type: ignore[attr-defined]
    form.editor("page_size").input.setText("0")  # type: ignore[attr-defined]
    assert form.messages() == ["Page Size: must be at least 1"]


def test_clone_leaves_secrets_out_and_names_the_copy() -> None:
    instance = {
        "name": "gh",
        "connector_id": "c1",
        "auth_config_id": "a1",
        "configuration": {"organization": "acme", "webhook_secret": "never-copied"},
        "options": {"allow_loopback": True, "http_timeout": 12.0, "unknown": 1},
    }
    draft = clone_draft(instance, {"id": "c1", "name": "GitHub"}, GITHUB, ["gh copy"])
    assert draft.name == "gh copy 2"
    assert draft.configuration == {"organization": "acme"}
    assert draft.options["allow_loopback"] is True
    assert draft.options["http_timeout"] == 12.0
    assert "unknown" not in draft.options
    assert draft.auth_config_id == "a1"
    assert masked_configuration({"webhook_secret": "x", "organization": "a"}, GITHUB) == {
        "webhook_secret": "••••",
        "organization": "a",
    }
    assert suggest_name({"name": "Jira"}, ["Jira", "Jira 2"]) == "Jira 3"


@pytest.mark.parametrize(
    ("choice", "field"),
    [
        (ScheduleChoice("interval", interval_minutes=0), "interval_minutes"),
        (ScheduleChoice("cron", cron_expression="0 2 * *"), "cron_expression"),
        (ScheduleChoice("cron", cron_expression="0 2 * * *", timezone=" "), "timezone"),
        (ScheduleChoice("event", event_trigger=""), "event_trigger"),
    ],
)
def test_schedule_problems_name_the_field(choice: ScheduleChoice, field: str) -> None:
    assert list(choice.problems()) == [field]


def test_schedule_bodies() -> None:
    assert ScheduleChoice("none").body("i") is None
    assert ScheduleChoice("cron", cron_expression=" 0 2 * * 1-5 ", timezone="Europe/Berlin").body(
        "i"
    ) == {
        "instance_id": "i",
        "schedule_type": "cron",
        "cron_expression": "0 2 * * 1-5",
        "timezone": "Europe/Berlin",
    }
