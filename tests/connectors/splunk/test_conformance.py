"""The SDK conformance kit against the Splunk simulator, with token and Basic auth."""

from __future__ import annotations

from typing import Any

from connectors.builtin.splunk import SplunkConnector
from connectors.sandbox.splunk import (
    DEFAULT_HEC_TOKEN,
    DEFAULT_PASSWORD,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    SplunkSimulator,
)
from connectors.sdk import CheckName
from connectors.sdk.auth import BearerAuth, build_auth
from connectors.sdk.testing import conformance_tests, run_conformance

from .helpers import loopback_context

TestSplunkConformance = conformance_tests(
    SplunkConnector,
    config="splunk_config",
    credentials="splunk_auth",
    context="context",
    secrets=[DEFAULT_TOKEN, DEFAULT_HEC_TOKEN],
)


async def test_conformance_with_basic_auth(
    splunk_config: dict[str, Any], sim: SplunkSimulator
) -> None:
    auth = build_auth("basic", {"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD})
    report = await run_conformance(
        SplunkConnector, config=splunk_config, credentials=auth, context=loopback_context(),
        streams=["saved_searches", "notable_events"],
        secrets=[DEFAULT_PASSWORD, DEFAULT_HEC_TOKEN],
    )
    report.raise_for_failures()


async def test_check_reports_the_splunk_version(
    connector: SplunkConnector, sim: SplunkSimulator
) -> None:
    result = await connector.check()
    assert result.ok, result.to_dict()
    assert result.server_api_version == "9.3.1"
    assert "/services/collector/health" in sim.seen_paths("GET")


async def test_bad_token_fails_the_authenticated_step(
    splunk_config: dict[str, Any], sim: SplunkSimulator
) -> None:
    async with SplunkConnector(splunk_config, credentials=BearerAuth("wrong-token-0000"),
                               context=loopback_context()) as connector:
        result = await connector.check()
    item = result.item(CheckName.AUTHENTICATED)
    assert item is not None
    assert item.status.value == "failed"
    assert "wrong-token-0000" not in str(result.to_dict())


async def test_unhealthy_hec_fails_the_check(
    connector: SplunkConnector, sim: SplunkSimulator
) -> None:
    sim.hec_enabled = False
    result = await connector.check()
    assert not result.ok
    assert "Event Collector" in (result.failures[0].cause or "")
