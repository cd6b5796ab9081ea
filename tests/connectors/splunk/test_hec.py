"""send_event through the HTTP Event Collector: sent, indexed, searchable; HEC's error
codes become clear SDK errors."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.builtin.splunk import SplunkConnector
from connectors.sandbox.splunk import DEFAULT_HEC_TOKEN, SplunkSimulator
from connectors.sdk import AuthenticationError, ConfigError, ConnectorContext, InvalidInputError

from .helpers import read_all


async def test_sent_event_is_indexed_and_found_by_a_search(
    splunk_config: dict[str, Any], splunk_auth: Any, context: ConnectorContext,
    sim: SplunkSimulator,
) -> None:
    config = {**splunk_config, "searches": [
        {"name": "compliance", "spl": "sourcetype=simpletrust:compliance",
         "initial_earliest": "-1h"}]}
    async with SplunkConnector(config, credentials=splunk_auth, context=context) as connector:
        result = await connector.write("send_event", {
            "event": {"check_id": "github.default_branch_protected", "status": "fail",
                      "resource": "acme-corp/mobile-app"},
            "fields": {"framework": "SOC 2"},
        })
        found, _ = await read_all(connector, "compliance")
    assert result.output["ok"] is True
    sent = sim.hec_received[-1]
    assert sent["sourcetype"] == "simpletrust:compliance"
    assert sent["source"] == "simpletrust"
    assert len(found) == 1
    assert found[0]["check_id"] == "github.default_branch_protected"
    assert found[0]["framework"] == "SOC 2"
    seen = [r for r in sim.requests if r.path == "/services/collector/event"]
    assert seen[-1].headers["authorization-scheme"] == "Splunk"


async def test_wrong_hec_token_is_an_authentication_error(
    splunk_config: dict[str, Any], splunk_auth: Any, context: ConnectorContext,
    sim: SplunkSimulator,
) -> None:
    config = {**splunk_config, "hec_token": "00000000-dead-beef-0000-000000000000"}
    async with SplunkConnector(config, credentials=splunk_auth, context=context) as connector:
        with pytest.raises(AuthenticationError, match="invalid token") as raised:
            await connector.write("send_event", {"event": "hello"})
    assert "dead-beef" not in str(raised.value)


async def test_disallowed_index_names_the_field(
    connector: SplunkConnector, sim: SplunkSimulator
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        await connector.write("send_event", {"event": "x", "index": "finance"})
    assert raised.value.errors == [{"field": "index", "message": "incorrect index"}]


async def test_blank_event_is_refused_before_sending(
    connector: SplunkConnector, sim: SplunkSimulator
) -> None:
    before = len(sim.hec_received)
    with pytest.raises(InvalidInputError) as raised:
        await connector.write("send_event", {"event": {}})
    assert [e["field"] for e in raised.value.errors] == ["event"]
    assert len(sim.hec_received) == before


async def test_without_a_hec_token_send_event_is_a_config_error(
    splunk_config: dict[str, Any], splunk_auth: Any, context: ConnectorContext,
    sim: SplunkSimulator,
) -> None:
    config = {k: v for k, v in splunk_config.items() if k != "hec_token"}
    async with SplunkConnector(config, credentials=splunk_auth, context=context) as connector:
        with pytest.raises(ConfigError) as raised:
            await connector.write("send_event", {"event": "x"})
    assert raised.value.issues[0]["field"] == "hec_token"
    assert DEFAULT_HEC_TOKEN not in str(raised.value)
