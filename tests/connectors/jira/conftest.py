"""Jira simulators (Cloud v3 and Server v2) on loopback ports, and connector fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from connectors.builtin.jira import JiraConnector
from connectors.sandbox.jira import JiraSimulator
from connectors.sandbox.server import RunningSimulator, serve
from connectors.sdk import ConnectorContext

from .helpers import credentials_for, loopback_context


@pytest.fixture(scope="module", params=["cloud", "server"])
def jira_server(request: pytest.FixtureRequest) -> Iterator[RunningSimulator]:
    with serve(JiraSimulator(deployment=request.param)) as running:
        yield running


@pytest.fixture
def sim(jira_server: RunningSimulator) -> Iterator[JiraSimulator]:
    simulator = jira_server.simulator
    assert isinstance(simulator, JiraSimulator)
    yield simulator
    simulator.faults.clear()
    simulator.search_lag_s = 0.0
    simulator.race_next_create = False
    simulator.reset()


@pytest.fixture
def jira_config(jira_server: RunningSimulator) -> dict[str, Any]:
    return {"base_url": jira_server.url, "page_size": 7, "checkpoint_every": 5}


@pytest.fixture
def jira_auth(sim: JiraSimulator) -> httpx.Auth:
    return credentials_for(sim)


@pytest.fixture
def context() -> ConnectorContext:
    return loopback_context()


@pytest.fixture
async def connector(
    jira_config: dict[str, Any], jira_auth: httpx.Auth, context: ConnectorContext,
    sim: JiraSimulator,
) -> AsyncIterator[JiraConnector]:
    async with JiraConnector(jira_config, credentials=jira_auth, context=context) as instance:
        yield instance
