"""The GitHub simulator on a loopback port (one per module) and connector fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from connectors.builtin.github import GitHubConnector
from connectors.sandbox.common import utc_anchor
from connectors.sandbox.github import DEFAULT_PAT, GitHubSimulator
from connectors.sandbox.server import RunningSimulator, serve
from connectors.sdk import ConnectorContext
from connectors.sdk.auth import build_auth

from .helpers import loopback_context

ANCHOR = utc_anchor()  # seeded data relative to now: the 30-day run window sees it


@pytest.fixture(scope="module")
def github_server() -> Iterator[RunningSimulator]:
    with serve(GitHubSimulator(anchor=ANCHOR)) as running:
        yield running


@pytest.fixture
def sim(github_server: RunningSimulator) -> Iterator[GitHubSimulator]:
    """The module's simulator, back to its seeded state after each test."""
    simulator = github_server.simulator
    assert isinstance(simulator, GitHubSimulator)
    yield simulator
    simulator.faults.clear()
    simulator.reset()


@pytest.fixture
def github_config(github_server: RunningSimulator) -> dict[str, Any]:
    return {"base_url": github_server.url, "organization": "acme-corp", "page_size": 5}


@pytest.fixture
def github_pat_auth() -> httpx.Auth:
    credential = build_auth("bearer", {"token": DEFAULT_PAT})
    assert isinstance(credential, httpx.Auth)
    return credential


@pytest.fixture
def context() -> ConnectorContext:
    return loopback_context()


@pytest.fixture
async def connector(
    github_config: dict[str, Any], github_pat_auth: httpx.Auth, context: ConnectorContext,
    sim: GitHubSimulator,
) -> AsyncIterator[GitHubConnector]:
    instance = GitHubConnector(github_config, credentials=github_pat_auth, context=context)
    yield instance
    await instance.aclose()


