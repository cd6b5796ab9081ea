"""What the GitHub streams read from the simulator: 2FA, protection, alerts, runs,
incremental reads, pagination, retries and configuration errors."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from connectors.builtin.github import GitHubConnector
from connectors.sandbox.github import GitHubSimulator
from connectors.sdk import ConfigError, ConnectorContext
from connectors.sdk.auth import BearerAuth

from .helpers import read_all


async def test_members_carry_role_and_2fa_status(
    connector: GitHubConnector, sim: GitHubSimulator
) -> None:
    records, _ = await read_all(connector, "members")
    by_login = {r["login"]: r for r in records}
    assert len(by_login) == 14
    without = {login for login, r in by_login.items() if r["two_factor_enabled"] is False}
    assert without == {m["login"] for m in sim.members if not m["_2fa"]}
    assert {login for login, r in by_login.items() if r["role"] == "admin"} == {
        "mona-admin", "octo-ops"}
    # page_size 5: every list followed its Link header over three pages
    member_pages = [r for r in sim.requests if r.path == "/orgs/acme-corp/members"]
    assert any("page=3" in r.query for r in member_pages)


async def test_without_owner_rights_2fa_status_is_unknown_not_guessed(
    github_config: dict[str, Any], context: ConnectorContext, sim: GitHubSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim.pat_tokens["ghp_member_token_000000000000000000000"] = False
    async with GitHubConnector(
        github_config, credentials=BearerAuth("ghp_member_token_000000000000000000000"),
        context=context,
    ) as connector:
        with caplog.at_level(logging.WARNING):
            records, _ = await read_all(connector, "members")
    assert len(records) == 14
    assert {r["two_factor_enabled"] for r in records} == {None}
    assert "2FA status" in caplog.text
    del sim.pat_tokens["ghp_member_token_000000000000000000000"]


async def test_branch_protection_of_each_default_branch(connector: GitHubConnector) -> None:
    records, _ = await read_all(connector, "branch_protection")
    by_repo = {r["repository"].split("/")[1]: r for r in records}
    assert "legacy-billing" not in by_repo  # archived, not included by default
    assert {n for n, r in by_repo.items() if r["protected"]} == {
        "payments-api", "web-portal", "infra-terraform", "auth-service"}
    assert by_repo["mobile-app"]["protected"] is False
    assert by_repo["payments-api"]["required_approving_review_count"] == 2
    assert by_repo["payments-api"]["required_status_checks"] == ["ci/build", "ci/test"]
    assert by_repo["auth-service"]["allow_force_pushes"] is True


async def test_repository_selection_and_archived(
    github_config: dict[str, Any], github_pat_auth: Any, context: ConnectorContext,
    sim: GitHubSimulator,
) -> None:
    config = {**github_config, "repositories": ["payments-api", "legacy-billing"],
              "include_archived": True}
    async with GitHubConnector(config, credentials=github_pat_auth, context=context) as c:
        records, _ = await read_all(c, "repositories")
        alerts, _ = await read_all(c, "dependabot_alerts")
    assert sorted(r["name"] for r in records) == ["legacy-billing", "payments-api"]
    assert {a["repository"] for a in alerts} == {"acme-corp/payments-api",
                                                 "acme-corp/legacy-billing"}


async def test_alert_streams_skip_repositories_where_the_feature_is_off(
    connector: GitHubConnector, sim: GitHubSimulator
) -> None:
    dependabot, _ = await read_all(connector, "dependabot_alerts")
    code, _ = await read_all(connector, "code_scanning_alerts")
    assert "acme-corp/data-pipeline" not in {a["repository"] for a in dependabot}
    assert len(code) == sum(len(v) for v in sim.code_scanning.values())
    assert {a["repository"] for a in code} == {f"acme-corp/{r}" for r in sim.code_scanning}


async def test_incremental_reads_return_only_what_changed(
    connector: GitHubConnector, sim: GitHubSimulator
) -> None:
    runs, run_state = await read_all(connector, "workflow_runs")
    _, alert_state = await read_all(connector, "dependabot_alerts")
    assert len(runs) == 30
    sim.advance(3)  # 3 runs start (2 of them complete later), 1 new Dependabot alert
    new_runs, run_state2 = await read_all(connector, "workflow_runs", run_state)
    new_alerts, _ = await read_all(connector, "dependabot_alerts", alert_state)
    assert len(new_runs) == 3
    assert {r["status"] for r in new_runs} <= {"in_progress", "completed"}
    assert len(new_alerts) == 1
    assert new_alerts[0]["state"] == "open"
    sim.advance(1)  # the running run completes, another starts
    again, _ = await read_all(connector, "workflow_runs", run_state2)
    assert {(r["id"], r["status"]) for r in again} >= {
        (r["id"], "completed") for r in new_runs if r["status"] == "in_progress"}
    # the alert list is read newest-update first and stops at the cursor
    assert any("direction=desc" in r.query for r in sim.requests
               if r.path.endswith("/dependabot/alerts"))


async def test_server_errors_on_reads_are_retried(
    connector: GitHubConnector, sim: GitHubSimulator, context: ConnectorContext
) -> None:
    sim.faults.fail(502, times=1, path="/orgs/acme-corp/repos$")
    records, _ = await read_all(connector, "repositories")
    assert len(records) == 7
    assert context.metrics.retries == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"organization": "https://github.com/acme"}, "organization"),
        ({"api_version": "2020-01-01"}, "api_version"),
        ({"base_url": "api.github.com"}, "base_url"),
        ({"page_size": 500}, "page_size"),
        ({"repositories": ["acme-corp/payments-api"]}, "repositories"),
    ],
)
def test_bad_configuration_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        GitHubConnector({"organization": "acme-corp", **changes})
    assert [issue["field"] for issue in raised.value.issues] == [field]
