"""GitHub credentials: PAT, GitHub App installation tokens (JWT, caching, renewal), errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from connectors.builtin.github import GitHubAppAuth, GitHubConnector
from connectors.sandbox.github import DEFAULT_PAT, GitHubSimulator
from connectors.sdk import CheckName, ConnectorContext, ErrorAction
from connectors.sdk.auth import BearerAuth, CredentialError

from .helpers import read_all


def app_fields(sim: GitHubSimulator, base: str, **changes: Any) -> dict[str, Any]:
    return {
        "issuer": str(sim.app_id),
        "private_key": sim.app_private_key_pem,
        "token_url": f"{base}/app/installations/{sim.installation_id}/access_tokens",
        **changes,
    }


async def test_pat_is_sent_as_bearer_with_the_api_version_header(
    connector: GitHubConnector, sim: GitHubSimulator
) -> None:
    result = await connector.check()
    assert result.ok, result.to_dict()
    assert result.server_api_version == "2022-11-28"
    seen = [r for r in sim.requests if r.path.startswith("/orgs/")]
    assert seen
    for request in seen:
        assert request.headers["authorization-scheme"] == "Bearer"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["accept"] == "application/vnd.github+json"


async def test_bad_token_fails_the_authenticated_step_without_echoing_it(
    github_config: dict[str, Any], context: ConnectorContext, sim: GitHubSimulator
) -> None:
    wrong = "ghp_" + "x" * 36
    async with GitHubConnector(
        github_config, credentials=BearerAuth(wrong), context=context
    ) as connector:
        result = await connector.check()
    assert not result.ok
    failed = result.item(CheckName.AUTHENTICATED)
    assert failed is not None
    assert failed.status.value == "failed"
    assert "401" in (failed.cause or "")
    assert wrong not in str(result.to_dict())


async def test_unknown_organisation_is_a_config_error_at_reachable(
    github_config: dict[str, Any], github_pat_auth: Any, context: ConnectorContext,
    sim: GitHubSimulator,
) -> None:
    config = {**github_config, "organization": "no-such-org"}
    async with GitHubConnector(config, credentials=github_pat_auth, context=context) as c:
        result = await c.check()
    item = result.item(CheckName.REACHABLE)
    assert item is not None
    assert item.status.value == "failed"
    assert "no-such-org" in (item.cause or "")


async def test_app_installation_token_is_fetched_once_for_concurrent_requests(
    sim: GitHubSimulator, github_config: dict[str, Any], context: ConnectorContext
) -> None:
    fields = app_fields(sim, github_config["base_url"])
    auth = GitHubConnector.build_credentials("jwt_bearer", fields)
    assert isinstance(auth, GitHubAppAuth)
    async with GitHubConnector(github_config, credentials=auth, context=context) as connector:
        await asyncio.gather(*(connector.http.get("/orgs/acme-corp") for _ in range(8)))
        assert sim.tokens_issued == 1
        assert auth.tokens_fetched == 1
        token_paths = [p for p in sim.seen_paths("POST") if p.endswith("/access_tokens")]
        assert len(token_paths) == 1


async def test_revoked_installation_token_is_replaced_once_and_the_request_retried(
    sim: GitHubSimulator, github_config: dict[str, Any], context: ConnectorContext
) -> None:
    fields = app_fields(sim, github_config["base_url"])
    auth = GitHubConnector.build_credentials("jwt_bearer", fields)
    async with GitHubConnector(github_config, credentials=auth, context=context) as connector:
        records, _ = await read_all(connector, "repositories")
        assert len(records) == 7
        sim.installation_tokens.clear()  # GitHub revoked it (app permissions changed)
        records, _ = await read_all(connector, "repositories")
        assert len(records) == 7
    assert sim.tokens_issued == 2


async def test_installation_token_is_renewed_before_it_expires(
    sim: GitHubSimulator, github_config: dict[str, Any], context: ConnectorContext
) -> None:
    sim.installation_token_ttl_s = 130  # renewed 120 s before expiry: fresh for 10 s
    offset = [0.0]
    fields = app_fields(sim, github_config["base_url"])
    auth = GitHubAppAuth(
        fields["issuer"], fields["private_key"], fields["token_url"],
        clock=lambda: time.time() + offset[0],
    )
    async with GitHubConnector(github_config, credentials=auth, context=context) as connector:
        await connector.http.get("/orgs/acme-corp")
        await connector.http.get("/orgs/acme-corp")
        assert auth.tokens_fetched == 1
        offset[0] = 15  # 15 s later: inside the renewal margin
        await connector.http.get("/orgs/acme-corp")
        assert auth.tokens_fetched == 2
    assert sim.tokens_issued == 2


async def test_app_jwt_from_another_key_is_refused_with_a_clear_error(
    sim: GitHubSimulator, github_config: dict[str, Any], context: ConnectorContext
) -> None:
    other = GitHubSimulator(anchor=sim.anchor)  # a different app key
    auth = GitHubConnector.build_credentials(
        "jwt_bearer", app_fields(sim, github_config["base_url"],
                                 private_key=other.app_private_key_pem)
    )
    async with GitHubConnector(github_config, credentials=auth, context=context) as connector:
        result = await connector.check()
    assert not result.ok
    assert result.error_action is ErrorAction.FAIL  # a wrong key is not retried
    assert any("JWT" in (item.cause or "") for item in result.failures)
    assert result.details["error"]["failure"] == "bad_credentials"
    assert "BEGIN" not in str(result.to_dict())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"token_url": "https://api.github.com/app/installations/x/tokens"}, "token_url"),
        ({"private_key": "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----"},
         "private_key"),
    ],
)
def test_bad_app_fields_name_the_field(
    sim: GitHubSimulator, changes: dict[str, str], field: str
) -> None:
    with pytest.raises(CredentialError) as raised:
        GitHubConnector.build_credentials(
            "jwt_bearer", app_fields(sim, "https://api.github.com", **changes)
        )
    assert raised.value.message.startswith(field)
    assert "nope" not in raised.value.message


def test_pat_goes_through_the_sdk_builder() -> None:
    assert isinstance(GitHubConnector.build_credentials("bearer", {"token": DEFAULT_PAT}),
                      BearerAuth)
