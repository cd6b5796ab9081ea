"""Declarative spec validation: every error names the path of the bad field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connectors.builtin.generic_rest import GenericRestConnector
from connectors.declarative import ApiSpec, DeclarativeSpec, SpecError, build_connector_class
from connectors.declarative import load_spec as _load
from connectors.sdk import CheckName, ConfigError, ConnectorContext, RecordMessage

from .servers import Reply, serve

BASE: dict[str, Any] = {
    "connector": {"key": "demo", "name": "Demo", "version": "0.1.0"},
    "config": {"base_url": {"type": "string"}, "token": {"type": "string", "secret": True}},
    "base_url": "{config.base_url}",
    "streams": [
        {"name": "items", "path": "/items", "paginator": "page_number"},
        {"name": "others", "path": "/others"},
    ],
}


def _spec_with(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        target: Any = spec
        parts = dotted.split("__")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        target[parts[-1]] = value
    return spec


def _error(spec: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        _load(spec, DeclarativeSpec)
    return info.value


def test_valid_spec_and_shorthands():
    spec = _load(BASE, DeclarativeSpec)
    assert spec.streams[0].paginator is not None
    assert spec.streams[0].paginator.type == "page_number"
    assert spec.metadata().system_type == "Generic"
    aliased = _load(_spec_with(streams__1__paginator="link_header"), DeclarativeSpec)
    assert aliased.streams[1].paginator is not None
    assert aliased.streams[1].paginator.type == "header_link"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"streams__1__paginator": "cursor"}, "streams[1].paginator.cursor_path", "required"),
        ({"streams__1__paginator": {"type": "magic"}}, "streams[1].paginator", "magic"),
        ({"streams__0__pagniator": "offset"}, "streams[0].pagniator", "Extra inputs"),
        ({"base_url": "ftp://x"}, "base_url", "http"),
        ({"connector__version": "1.0"}, "connector.version", "semantic version"),
        ({"connector__key": "Demo Key"}, "connector.key", "lowercase"),
        ({"streams__0__schema": {"type": "objekt"}}, "streams[0].schema", "JSON Schema"),
        ({"streams__0__path": "https://elsewhere/x"}, "streams[0].path", "relative"),
        (
            {"streams__1__paginator": {"type": "offset", "limit": 0}},
            "streams[1].paginator.limit",
            "greater than 0",
        ),
        ({"streams": []}, "streams", "at least 1"),
        ({"auth": "carrier_pigeon"}, "auth.method", "Input should be"),
    ],
)
def test_errors_name_the_bad_field(changes: dict[str, Any], field: str, words: str):
    error = _error(_spec_with(**changes))
    fields = [issue["field"] for issue in error.issues]
    assert field in fields, error.issues
    assert words.lower() in str(error).lower()
    assert error.hint


def test_undefined_placeholder_and_duplicate_stream():
    error = _error(_spec_with(streams__0__path="/teams/{config.team}/items"))
    assert "streams[0].path uses {config.team}" in str(error)
    error = _error(_spec_with(streams__1__name="items"))
    assert "'items' is used twice" in str(error)


def test_yaml_syntax_error_gives_the_line():
    with pytest.raises(SpecError) as info:
        _load("connector:\n  key: demo\n  name: [unclosed\nstreams: x\n", DeclarativeSpec)
    assert "line" in str(info.value)


def test_declarative_config_model_requires_inputs_and_hides_secrets():
    Demo = build_connector_class(BASE)
    with pytest.raises(ConfigError) as info:
        Demo({"token": "tok-SECRET-1"})
    assert "base_url" in str(info.value)
    assert "tok-SECRET-1" not in str(info.value)
    schema = Demo.config_schema()
    assert schema["required"] == ["base_url", "token"]
    assert schema["properties"]["token"]["writeOnly"] is True


async def test_declarative_to_metadata_address_is_refused_at_check():
    Demo = build_connector_class(BASE)
    context = ConnectorContext(allow_loopback=True)
    config = {"base_url": "http://169.254.169.254/latest", "token": "t0k3n-value"}
    async with Demo(config, context=context) as demo:
        result = await demo.check()
    failed = result.item(CheckName.REACHABLE)
    assert failed is not None
    assert not result.ok
    assert "169.254.169.254" in (failed.cause or "")
    assert result.details["error"]["type"] == "BlockedAddressError"


async def test_generic_rest_reads_with_config_as_api_spec():
    def handler(r):
        return Reply(200, {"results": [{"id": 1}, {"id": 2}], "next": None})

    with serve(handler) as server:
        config = {
            "base_url": server.url + "/api",
            "streams": [{"name": "things", "path": "/things", "records": "results",
                         "paginator": {"type": "json_link", "next_path": "next"}}],
        }
        context = ConnectorContext(allow_loopback=True)
        async with GenericRestConnector(config, context=context) as rest:
            assert (await rest.check()).ok
            records = [m.data async for m in rest.read("things") if isinstance(m, RecordMessage)]
        assert records == [{"id": 1}, {"id": 2}]
        assert server.paths()[-1] == "/api/things"
    assert isinstance(GenericRestConnector.validate_config(config), ApiSpec)
    with pytest.raises(ConfigError) as info:
        GenericRestConnector({"base_url": "http://x", "streams": [{"name": "a"}]})
    assert "streams[0].path" in str(info.value)
    with pytest.raises(ConfigError, match="placeholders"):
        GenericRestConnector.validate_config({**config, "base_url": "{config.base_url}"})


async def test_api_auth_without_credentials_is_a_config_failure():
    with serve(lambda r: Reply(200, [])) as server:
        config = {"base_url": server.url, "auth": "bearer",
                  "streams": [{"name": "a", "path": "/a"}]}
        async with GenericRestConnector(config, context=ConnectorContext(allow_loopback=True)) as c:
            result = await c.check()
    assert not result.ok
    assert "bearer" in (result.failures[0].cause or "")
    assert server.seen == []


async def test_secret_in_a_path_never_reaches_the_check_result():
    spec = _spec_with(streams__0__path="/keys/{config.token}/items")
    Demo = build_connector_class(spec)
    with serve(lambda r: Reply(404, {})) as server:
        config = {"base_url": server.url, "token": "PathSecret-77"}
        async with Demo(config, context=ConnectorContext(allow_loopback=True)) as demo:
            result = await demo.check()
    assert server.paths() == ["/keys/PathSecret-77/items"]
    assert not result.ok
    assert "PathSecret-77" not in str(result.to_dict())
    assert "/keys/***/items" in (result.failures[0].cause or "")


def test_generic_rest_schema_admits_the_shorthands_the_model_takes():
    """The agent checks an instance's configuration against the served JSON Schema before
    activation: a shorthand the model accepts (auth "bearer", paginator "page_number",
    primary_key "id") must pass there too, and a wrong value must still fail in both."""
    config = {
        "base_url": "http://127.0.0.1:9/api", "auth": "bearer", "paginator": "page_number",
        "streams": [{"name": "things", "path": "/things", "primary_key": "id",
                     "paginator": "link_header"}],
    }
    GenericRestConnector.validate_config(config)
    validator = Draft202012Validator(GenericRestConnector.config_schema())
    assert [e.message for e in validator.iter_errors(config)] == []
    wrong = {**config, "auth": "carrier_pigeon"}
    assert list(validator.iter_errors(wrong))
    with pytest.raises(ConfigError, match="auth"):
        GenericRestConnector.validate_config(wrong)
