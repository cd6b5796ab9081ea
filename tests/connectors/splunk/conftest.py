"""The Splunk simulator on a loopback port and connector fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from connectors.builtin.splunk import SplunkConnector
from connectors.sandbox.server import RunningSimulator, serve
from connectors.sandbox.splunk import DEFAULT_HEC_TOKEN, DEFAULT_TOKEN, SplunkSimulator
from connectors.sdk import ConnectorContext
from connectors.sdk.auth import build_auth

from .helpers import loopback_context


@pytest.fixture(scope="module")
def splunk_server() -> Iterator[RunningSimulator]:
    with serve(SplunkSimulator()) as running:
        yield running


@pytest.fixture
def sim(splunk_server: RunningSimulator) -> Iterator[SplunkSimulator]:
    simulator = splunk_server.simulator
    assert isinstance(simulator, SplunkSimulator)
    yield simulator
    simulator.faults.clear()
    simulator.hec_enabled = True
    simulator.stream_delay_s = 0.0
    simulator.reset()


@pytest.fixture
def splunk_config(splunk_server: RunningSimulator) -> dict[str, Any]:
    return {
        "base_url": splunk_server.url,
        "hec_token": DEFAULT_HEC_TOKEN,
        "page_size": 4,
        "searches": [
            {"name": "failed_logins", "initial_earliest": "-7d",
             "spl": "index=main sourcetype=linux_secure action=failure", "primary_key": ["_cd"]},
            {"name": "root_usage", "saved_search": "AWS Root Account Usage",
             "initial_earliest": "-7d"},
        ],
    }


@pytest.fixture
def splunk_auth() -> httpx.Auth:
    auth = build_auth("bearer", {"token": DEFAULT_TOKEN})
    assert isinstance(auth, httpx.Auth)
    return auth


@pytest.fixture
def context() -> ConnectorContext:
    return loopback_context()


@pytest.fixture
async def connector(
    splunk_config: dict[str, Any], splunk_auth: httpx.Auth, context: ConnectorContext,
    sim: SplunkSimulator,
) -> AsyncIterator[SplunkConnector]:
    async with SplunkConnector(splunk_config, credentials=splunk_auth, context=context) as c:
        yield c
