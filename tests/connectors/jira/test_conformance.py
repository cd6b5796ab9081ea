"""The SDK conformance kit against Jira Cloud (v3) and Server (v2) simulators."""

from __future__ import annotations

from typing import Any

from connectors.builtin.jira import JiraConnector
from connectors.sandbox.jira import (
    CLOUD_ID,
    DEFAULT_API_TOKEN,
    DEFAULT_OAUTH_TOKEN,
    DEFAULT_PAT,
    JiraSimulator,
)
from connectors.sandbox.server import RunningSimulator
from connectors.sdk import CheckName, ConnectorContext
from connectors.sdk.auth import BearerAuth
from connectors.sdk.testing import run_conformance, static_conformance

from .helpers import loopback_context


def test_metadata_and_config_schema() -> None:
    static_conformance(JiraConnector).raise_for_failures()


async def test_conformance(
    jira_config: dict[str, Any], jira_auth: Any, context: ConnectorContext, sim: JiraSimulator
) -> None:
    """check / discover / read / state round-trip and resume / schemas / no secret logged."""
    report = await run_conformance(
        JiraConnector, config=jira_config, credentials=jira_auth, context=context,
        secrets=[DEFAULT_API_TOKEN, DEFAULT_PAT],
    )
    report.raise_for_failures()
    assert any("state issues" in o.name for o in report.outcomes)


async def test_cloud_oauth_3lo_through_the_api_gateway_url(
    jira_server: RunningSimulator, sim: JiraSimulator
) -> None:
    if not sim.cloud:
        return  # OAuth 2.0 (3LO) is a Jira Cloud feature
    report = await run_conformance(
        JiraConnector,
        config={"base_url": f"{jira_server.url}/ex/jira/{CLOUD_ID}"},
        credentials=BearerAuth(DEFAULT_OAUTH_TOKEN),
        context=loopback_context(),
        streams=["projects", "issues"],
        secrets=[DEFAULT_OAUTH_TOKEN],
    )
    report.raise_for_failures()


async def test_server_info_picks_the_api_version(
    jira_config: dict[str, Any], jira_auth: Any, sim: JiraSimulator
) -> None:
    async with JiraConnector(jira_config, credentials=jira_auth,
                             context=loopback_context()) as connector:
        result = await connector.check()
        adapter = await connector.adapter()
    assert result.ok, result.to_dict()
    expected = "3" if sim.cloud else "2"
    assert result.server_api_version == expected
    assert adapter.api_version == expected
    api_paths = {p.split("/")[3] for p in sim.seen_paths() if p.startswith("/rest/api/")}
    assert api_paths == ({"2", "3"} if sim.cloud else {"2"})


async def test_wrong_credentials_fail_the_authenticated_step(
    jira_config: dict[str, Any], sim: JiraSimulator
) -> None:
    async with JiraConnector(jira_config, credentials=BearerAuth("not-a-valid-token-123"),
                             context=loopback_context()) as connector:
        result = await connector.check()
    item = result.item(CheckName.AUTHENTICATED)
    assert item is not None
    assert item.status.value == "failed"
    assert "not-a-valid-token-123" not in str(result.to_dict())


async def test_a_url_without_jira_is_a_config_error(
    jira_server: RunningSimulator, jira_auth: Any, sim: JiraSimulator
) -> None:
    async with JiraConnector({"base_url": jira_server.url + "/wiki"}, credentials=jira_auth,
                             context=loopback_context()) as connector:
        result = await connector.check()
    assert not result.ok
    assert "serverInfo" in (result.failures[0].cause or "")
