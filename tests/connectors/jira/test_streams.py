"""Jira reads: issues incremental by ``updated`` through JQL in the user's time zone, pages
Jira caps silently, throttling, and bodies as plain text on both API versions."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from connectors.builtin.jira import JiraConnector
from connectors.builtin.jira.streams import jql_since
from connectors.sandbox.jira import JiraSimulator
from connectors.sdk import ConnectorContext

from .helpers import read_all


async def test_issues_come_oldest_update_first_with_plain_text_descriptions(
    connector: JiraConnector, sim: JiraSimulator
) -> None:
    issues, state = await read_all(connector, "issues")
    assert len(issues) == 30
    updated = [datetime.fromisoformat(i["updated"]) for i in issues]
    assert updated == sorted(updated)
    assert state["cursor"] == issues[-1]["updated"]
    first = issues[0]
    assert first["description_text"].startswith("Found by the quarterly control review.\n\n")
    assert first["url"].endswith(f"/browse/{first['key']}")


async def test_incremental_read_returns_only_changed_issues(
    connector: JiraConnector, sim: JiraSimulator
) -> None:
    _, state = await read_all(connector, "issues")
    sim.advance(2)  # one issue moves on twice over, one new issue is filed
    changed, state2 = await read_all(connector, "issues", state)
    assert 2 <= len(changed) <= 3
    assert any(i["fields"]["summary"].startswith("Investigate alert") for i in changed)
    again, _ = await read_all(connector, "issues", state2)
    assert again == []


async def test_the_cursor_is_sent_in_the_api_users_time_zone(
    connector: JiraConnector, sim: JiraSimulator
) -> None:
    cursor = "2026-07-01T10:17:45.000+0000"
    records, _ = await read_all(connector, "issues", {"cursor": cursor, "boundary_keys": []})
    queries = [r.query for r in sim.requests if "/search" in r.path]
    # 10:17 UTC is 12:17 in Berlin (CEST), the simulated API user's zone.
    assert any("2026-07-01+12%3A17" in q or "2026-07-01%2012%3A17" in q for q in queries), queries
    assert jql_since(cursor, ZoneInfo("Europe/Berlin")) == 'updated >= "2026-07-01 12:17"'
    assert jql_since("2026-01-15T23:59:59+00:00", ZoneInfo("Asia/Tokyo")) == \
        'updated >= "2026-01-16 08:59"'
    assert all(datetime.fromisoformat(r["updated"]) >= datetime.fromisoformat(cursor)
               for r in records)


async def test_pages_capped_by_jira_are_followed_to_the_end(
    jira_config: dict[str, object], jira_auth: object, context: ConnectorContext,
    sim: JiraSimulator,
) -> None:
    sim.max_results_cap = 4  # asks for 7 per page, gets 4: not the last page
    try:
        async with JiraConnector(jira_config, credentials=jira_auth, context=context) as c:
            issues, _ = await read_all(c, "issues")
            users, _ = await read_all(c, "users")
    finally:
        sim.max_results_cap = 50
    assert len(issues) == 30
    assert len(users) == 10
    assert len({i["id"] for i in issues}) == 30


async def test_project_selection_and_extra_jql(
    jira_config: dict[str, object], jira_auth: object, context: ConnectorContext,
    sim: JiraSimulator,
) -> None:
    config = {**jira_config, "projects": ["OPS"], "jql": "labels = soc2"}
    async with JiraConnector(config, credentials=jira_auth, context=context) as c:
        issues, _ = await read_all(c, "issues")
    assert issues
    assert {i["fields"]["project"]["key"] for i in issues} == {"OPS"}
    assert all("soc2" in i["fields"]["labels"] for i in issues)


async def test_users_have_a_stable_id_on_both_deployments(
    connector: JiraConnector, sim: JiraSimulator
) -> None:
    users, _ = await read_all(connector, "users")
    field = "accountId" if sim.cloud else "key"
    assert {u["id"] for u in users} == {u[field] for u in sim.users}
    assert any(u["active"] is False for u in users)


async def test_429_is_waited_out_and_counted(
    connector: JiraConnector, sim: JiraSimulator, context: ConnectorContext
) -> None:
    sim.faults.throttle(times=2, retry_after=0.5, path="/search")
    started = time.monotonic()
    issues, _ = await read_all(connector, "issues")
    assert len(issues) == 30
    assert time.monotonic() - started >= 1.0
    assert context.metrics.throttled == 2


async def test_server_errors_on_search_are_retried(
    connector: JiraConnector, sim: JiraSimulator, context: ConnectorContext
) -> None:
    sim.faults.fail(503, times=1, path="/search")
    issues, _ = await read_all(connector, "issues")
    assert len(issues) == 30
    assert context.metrics.retries == 1


def test_cursor_conversion_floors_to_the_minute() -> None:
    moment = datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC) + timedelta(seconds=0)
    assert jql_since(moment.isoformat(), ZoneInfo("Europe/Berlin")) == \
        'updated >= "2026-03-29 01:59"'
