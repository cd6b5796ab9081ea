"""Splunk reads: results streamed line by line from the export endpoint, incremental by
``_time``, saved searches, throttling, and SPL errors reported with Splunk's words."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from connectors.builtin.splunk import SplunkConnector
from connectors.sandbox.splunk import SplunkSimulator
from connectors.sdk import ConfigError, ConnectorContext, RemoteError

from .helpers import read_all


async def test_notable_events_are_streamed_with_their_fields(
    connector: SplunkConnector, sim: SplunkSimulator
) -> None:
    notables, state = await read_all(connector, "notable_events")
    stored = sim.events_in("notable")
    assert {n["event_id"] for n in notables} == {e["event_id"] for e in stored}
    assert all(isinstance(v, str) for n in notables for v in n.values())
    assert state["cursor"] == max(n["_time"] for n in notables)
    assert "/services/search/jobs/export" in sim.seen_paths("POST")


async def test_results_arrive_while_the_search_still_streams(
    connector: SplunkConnector, sim: SplunkSimulator
) -> None:
    sim.stream_delay_s = 0.15  # Splunk finds results over time
    arrivals: list[float] = []
    started = time.monotonic()
    async for message in connector.read("notable_events"):
        if message.type == "record":
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 12
    # the first result was handed over long before the last line was sent
    assert arrivals[0] < arrivals[-1] - 1.0


async def test_incremental_reads_return_only_new_events(
    connector: SplunkConnector, sim: SplunkSimulator
) -> None:
    _, notable_state = await read_all(connector, "notable_events")
    failed, failed_state = await read_all(connector, "failed_logins")
    assert failed
    assert all(r["action"] == "failure" for r in failed)
    sim.advance(2)  # two failed logins, one new notable event
    new_notables, _ = await read_all(connector, "notable_events", notable_state)
    new_failed, _ = await read_all(connector, "failed_logins", failed_state)
    assert len(new_notables) == 1
    assert len(new_failed) == 2


async def test_saved_search_streams_and_definitions(
    connector: SplunkConnector, sim: SplunkSimulator
) -> None:
    root, _ = await read_all(connector, "root_usage")
    assert root
    assert {r["userIdentity.type"] for r in root} == {"Root"}
    saved, _ = await read_all(connector, "saved_searches")  # page_size 4: two pages
    assert len(saved) == 6
    legacy = next(s for s in saved if s["name"] == "Legacy VPN Alert")
    assert legacy["disabled"] is True
    assert legacy["is_scheduled"] is False
    rule = next(s for s in saved if s["name"] == "Endpoint - Malware Detected - Rule")
    assert rule["creates_notable"] is True
    assert rule["actions"] == ["notable", "risk"]


async def test_throttled_export_is_waited_out_and_counted(
    connector: SplunkConnector, sim: SplunkSimulator, context: ConnectorContext
) -> None:
    sim.faults.throttle(times=1, retry_after=1, path="/export")
    notables, _ = await read_all(connector, "notable_events")
    assert len(notables) == 12
    assert context.metrics.throttled == 1
    assert context.metrics.throttle_wait_s >= 1


async def test_server_error_before_the_stream_is_retried(
    connector: SplunkConnector, sim: SplunkSimulator, context: ConnectorContext
) -> None:
    sim.faults.fail(502, times=1, path="/export")
    notables, _ = await read_all(connector, "notable_events")
    assert len(notables) == 12
    assert context.metrics.retries == 1


async def test_bad_spl_is_reported_with_splunks_message(
    splunk_config: dict[str, Any], splunk_auth: Any, context: ConnectorContext,
    sim: SplunkSimulator,
) -> None:
    config = {**splunk_config, "searches": [
        {"name": "broken", "spl": "index=main | frobnicate", "initial_earliest": "-1d"}]}
    async with SplunkConnector(config, credentials=splunk_auth, context=context) as connector:
        with pytest.raises(RemoteError, match="Unknown search command 'frobnicate'"):
            await read_all(connector, "broken")


@pytest.mark.parametrize(
    ("search", "field"),
    [
        ({"name": "x", "spl": "index=main", "saved_search": "Y"}, "searches[0]"),
        ({"name": "Bad Name", "spl": "index=main"}, "searches[0].name"),
        ({"name": "x", "spl": "index=main", "initial_earliest": "yesterday"},
         "searches[0].initial_earliest"),
        ({"name": "notable_events", "spl": "index=main"}, "(root)"),
    ],
)
def test_bad_search_configuration_names_the_field(search: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        SplunkConnector({"base_url": "https://splunk:8089", "searches": [search]})
    assert [issue["field"] for issue in raised.value.issues] == [field]


def test_streams_follow_the_configuration() -> None:
    connector = SplunkConnector({"base_url": "https://splunk:8089", "notable_events": False,
                                 "searches": [{"name": "a", "spl": "index=main"}]})
    names = [d.name for d in asyncio.run(connector.discover())]
    assert names == ["saved_searches", "a"]
