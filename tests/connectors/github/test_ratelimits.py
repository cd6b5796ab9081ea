"""GitHub's rate limits honoured: secondary limits (403/429 + Retry-After) and the primary
budget (x-ratelimit-remaining: 0 until x-ratelimit-reset) are waited out and counted."""

from __future__ import annotations

import time

import pytest

from connectors.builtin.github import GitHubConnector
from connectors.sandbox.github import GitHubSimulator
from connectors.sdk import ConnectorContext, RateLimitError

from .helpers import read_all


@pytest.mark.parametrize("status", [403, 429])
async def test_secondary_rate_limit_is_waited_out_and_counted(
    connector: GitHubConnector, sim: GitHubSimulator, context: ConnectorContext, status: int
) -> None:
    sim.faults.throttle(times=1, retry_after=1, path="/members$", status=status)
    started = time.monotonic()
    records, _ = await read_all(connector, "members")
    assert len(records) == 14
    assert time.monotonic() - started >= 1.0
    assert context.metrics.throttled == 1
    assert context.metrics.throttle_wait_s >= 1.0


async def test_secondary_limit_without_retry_after_waits_a_minute_so_it_is_rescheduled(
    connector: GitHubConnector, sim: GitHubSimulator
) -> None:
    sim.faults.fail(403, path="/members$", message="You have exceeded a secondary rate limit.")
    with pytest.raises(RateLimitError) as raised:
        await read_all(connector, "members")
    assert raised.value.retry_after == 60  # GitHub: "wait for at least one minute"


async def test_primary_budget_spent_is_waited_until_reset(
    connector: GitHubConnector, sim: GitHubSimulator, context: ConnectorContext
) -> None:
    sim.rate.limit, sim.rate.window_s = 3, 1.0
    try:
        records, _ = await read_all(connector, "repositories")  # 2 pages of 5
        await read_all(connector, "members")  # 3 lists, 3 + 1 + 3 pages: crosses windows
    finally:
        sim.rate.limit, sim.rate.window_s = 5000, 3600.0
    assert len(records) == 7
    # Remaining 0 on a successful answer pauses before the next request ...
    assert context.metrics.throttle_pauses >= 1
    assert context.metrics.throttle_wait_s > 0
    # ... so GitHub never had to refuse one.
    assert 403 not in context.metrics.status_counts


async def test_primary_limit_refusal_is_retried_after_reset(
    connector: GitHubConnector, sim: GitHubSimulator, context: ConnectorContext
) -> None:
    sim.rate.limit, sim.rate.window_s = 1, 1.0
    try:
        await connector.http.get("/orgs/acme-corp")
        sim.rate.used[next(iter(sim.rate.used))] = 1  # spent, as another client would have
        connector.http._paused_until = 0
        answer = await connector.http.get("/orgs/acme-corp")
    finally:
        sim.rate.limit, sim.rate.window_s = 5000, 3600.0
    assert answer.status_code == 200
    assert context.metrics.throttled >= 1


async def test_a_wait_beyond_the_policy_is_raised_for_the_engine_to_reschedule(
    connector: GitHubConnector, sim: GitHubSimulator
) -> None:
    sim.faults.throttle(times=1, retry_after=600, path="/repos$")
    with pytest.raises(RateLimitError) as raised:
        await read_all(connector, "repositories")
    assert raised.value.retry_after == 600
