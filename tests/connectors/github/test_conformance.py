"""The SDK conformance kit against the GitHub simulator, with each auth method."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.builtin.github import GitHubConnector
from connectors.sandbox.github import DEFAULT_PAT, GitHubSimulator
from connectors.sdk.auth import build_auth
from connectors.sdk.testing import conformance_tests, run_conformance

from .helpers import loopback_context

TestGitHubConformance = conformance_tests(
    GitHubConnector,
    config="github_config",
    credentials="github_pat_auth",
    context=loopback_context(),
    secrets=[DEFAULT_PAT],
)


async def test_conformance_with_github_app_installation_token(
    sim: GitHubSimulator, github_config: dict[str, Any]
) -> None:
    fields = {
        "issuer": str(sim.app_id),
        "private_key": sim.app_private_key_pem,
        "token_url": f"{github_config['base_url']}/app/installations/{sim.installation_id}"
        "/access_tokens",
    }
    auth = GitHubConnector.build_credentials("jwt_bearer", fields)
    report = await run_conformance(
        GitHubConnector,
        config=github_config,
        credentials=auth,
        context=loopback_context(),
        streams=["members", "repositories", "dependabot_alerts"],
        secrets=[sim.app_private_key_pem.splitlines()[1], *sim.installation_tokens],
    )
    report.raise_for_failures()
    # One installation token served every request of the whole suite.
    assert sim.tokens_issued == 1
    assert sim.state_summary()["installation_tokens_issued"] == 1


async def test_conformance_with_oauth_user_token_refreshed_at_the_token_endpoint(
    sim: GitHubSimulator, github_config: dict[str, Any]
) -> None:
    base = github_config["base_url"]
    refresh = next(iter(sim.oauth_refresh_tokens))
    auth = build_auth("oauth2_authorization_code", {
        "authorize_url": f"{base}/login/oauth/authorize",
        "token_url": f"{base}/login/oauth/access_token",
        "client_id": sim.oauth_client_id,
        "client_secret": sim.oauth_client_secret,
        "refresh_token": refresh,
    })
    assert isinstance(auth, httpx.Auth)
    report = await run_conformance(
        GitHubConnector,
        config=github_config,
        credentials=auth,
        context=loopback_context(),
        streams=["members"],
        secrets=[refresh, sim.oauth_client_secret],
    )
    report.raise_for_failures()
    assert refresh not in sim.oauth_refresh_tokens  # it was used (and rotated)
