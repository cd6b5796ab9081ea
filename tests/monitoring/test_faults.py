"""Fault injection against a loopback source, through the agent's API: each fault ends in the
documented state, with the right error class, message, records and alert."""

from __future__ import annotations

from typing import Any

from tests.monitoring.conftest import (
    active_alerts,
    events,
    live_ids,
    make_instance,
    request_samples,
)
from tests.monitoring.faulty_source import FaultySource, serve_faulty
from tests.support.api import Api

N = 300
ALL_IDS = sorted(f"u{i:07d}" for i in range(N))


def _retries(api: Api, execution: dict[str, Any]) -> list[str]:
    logs = api.all(f"/logs/{execution['instance_id']}", operation="sync.retry",
                   sync_id=execution["id"])
    return [entry["message"] for entry in logs]


def test_a_500_burst_is_retried_from_the_checkpoint_without_duplicates(mon: Api) -> None:
    source = FaultySource(N)
    source.fail("500", times=3, cursor="150")  # the client tries twice, then the engine
    with serve_faulty(source) as url:
        instance = make_instance(mon, url)
        execution = mon.sync(instance["id"], timeout=60)
    assert execution["status"] == "completed", execution["error_details"]
    stats = execution["stats"]
    assert (stats["created"], stats["updated"], stats["unchanged"]) == (N, 0, 0)
    assert execution["records_processed"] == N
    assert live_ids(mon, instance["id"]) == ALL_IDS
    assert [m for m in _retries(mon, execution)
            if "remote failure, retry 1" in m], _retries(mon, execution)
    statuses = sorted(s.status_code or 0 for s in request_samples(mon, execution["id"]))
    assert statuses.count(500) == 3
    assert active_alerts(mon, instance["id"]) == {}


def test_persistent_failure_opens_the_breaker_and_a_retry_recovers(mon: Api) -> None:
    source = FaultySource(N)
    with serve_faulty(source) as url:
        instance = make_instance(mon, url)
        source.fail("500", times=-1, cursor="100")
        first = mon.sync(instance["id"], timeout=60)
        assert first["status"] == "failed"
        error = first["error_details"]
        assert (error["category"], error["type"]) == ("remote", "RemoteServerError")
        assert "500" in error["message"]
        assert "gave up after 3 attempts" in error["message"]
        assert error["recovery"]["retries"] == 2
        assert active_alerts(mon, instance["id"]) == {}  # one failure is not an alert

        second = mon.sync(instance["id"], timeout=60)
        assert second["status"] == "failed"
        alerts = active_alerts(mon, instance["id"])
        assert set(alerts) == {"consecutive_failures"}
        assert alerts["consecutive_failures"]["severity"] == "warning"
        ack = mon.post(f"/alerts/{alerts['consecutive_failures']['id']}/acknowledge")
        assert ack.status_code == 200
        assert ack.json()["status"] == "acknowledged"

        third = mon.sync(instance["id"], timeout=60)
        assert third["status"] == "failed"
        state = mon.get(f"/instances/{instance['id']}").json()
        assert state["status"] == "error"
        assert "3 syncs failed in a row (remote)" in state["error_message"]
        assert "Recovery:" in state["error_message"]
        alerts = active_alerts(mon, instance["id"])
        assert set(alerts) == {"consecutive_failures", "instance_error"}
        assert alerts["consecutive_failures"]["severity"] == "critical"
        assert alerts["consecutive_failures"]["status"] == "acknowledged"
        tasks = mon.all("/tasks", instance_id=instance["id"], status="open")
        assert len(tasks) == 1
        assert tasks[0]["error_category"] == "remote"
        assert "activate the instance" in tasks[0]["hint"]
        # Records read before the failing page were committed, never duplicated.
        assert live_ids(mon, instance["id"]) == ALL_IDS[:100]

        # The first sync can no longer be retried; the last one can, and resumes.
        assert mon.post(f"/sync-executions/{first['id']}/retry").status_code == 409
        source.heal()
        retry = mon.post(f"/sync-executions/{third['id']}/retry")
        assert retry.status_code == 202, retry.text
        done = mon.wait(third["id"], timeout=60)
    assert done["status"] == "completed", done["error_details"]
    assert done["error_details"]["previous_failure"]["category"] == "remote"
    assert done["stats"]["created"] + done["stats"]["unchanged"] == N
    assert live_ids(mon, instance["id"]) == ALL_IDS
    assert mon.get(f"/instances/{instance['id']}").json()["status"] == "active"
    assert active_alerts(mon, instance["id"]) == {}
    assert mon.all("/tasks", instance_id=instance["id"], status="open") == []
    resolved = mon.all("/tasks", instance_id=instance["id"], status="resolved")
    assert "resolved automatically" in resolved[0]["resolution"]
    kinds = [(e["type"], e.get("kind")) for e in events(mon, "alert.")]
    assert ("alert.raised", "consecutive_failures") in kinds
    assert ("alert.acknowledged", "consecutive_failures") in kinds
    assert ("alert.resolved", "instance_error") in kinds
    assert [e["type"] for e in events(mon, "task.")] == ["task.opened", "task.resolved"]


def test_a_429_storm_is_waited_out(mon: Api) -> None:
    source = FaultySource(N)
    source.fail("429", times=6, cursor="100")  # more than the client's budget of 3
    with serve_faulty(source) as url:
        instance = make_instance(mon, url)
        execution = mon.sync(instance["id"], timeout=60)
    assert execution["status"] == "completed", execution["error_details"]
    assert execution["stats"]["created"] == N
    assert live_ids(mon, instance["id"]) == ALL_IDS
    assert any("rate_limited failure, rate limited: waiting 0.05 s" in m
               for m in _retries(mon, execution)), _retries(mon, execution)
    throttled = [s for s in request_samples(mon, execution["id"]) if s.throttled]
    assert len(throttled) == 6
    alerts = active_alerts(mon, instance["id"])
    assert set(alerts) == {"throttling_spike"}  # 6 >= 5 per hour in these tests
    assert alerts["throttling_spike"]["details"]["throttled_last_hour"] == 6


def test_an_endless_429_storm_fails_as_rate_limited(mon: Api) -> None:
    source = FaultySource(N)
    source.fail("429", times=-1, cursor="50")
    with serve_faulty(source) as url:
        instance = make_instance(mon, url)
        execution = mon.sync(instance["id"], timeout=60)
    assert execution["status"] == "failed"
    error = execution["error_details"]
    assert error["category"] == "rate_limited"
    assert "still rate limited after 3 waits" in error["message"]
    assert mon.get(f"/instances/{instance['id']}").json()["status"] == "active"  # no breaker
    assert live_ids(mon, instance["id"]) == ALL_IDS[:50]


def test_timeouts_and_a_page_that_hangs_mid_body(mon: Api) -> None:
    source = FaultySource(N, stall_s=1.0)
    source.fail("timeout", times=1, cursor="50")
    source.fail("hang", times=2, cursor="200")
    with serve_faulty(source) as url:
        instance = make_instance(mon, url)
        execution = mon.sync(instance["id"], timeout=60)
        assert execution["status"] == "completed", execution["error_details"]
        assert execution["stats"]["created"] == N
        assert live_ids(mon, instance["id"]) == ALL_IDS

        source.fail("hang", times=-1, cursor="250")
        failed = mon.sync(instance["id"], timeout=60)
    assert failed["status"] == "failed"
    error = failed["error_details"]
    assert (error["category"], error["type"]) == ("transient", "RequestTimeoutError")
    assert "timed out" in error["message"]
    assert live_ids(mon, instance["id"]) == ALL_IDS  # nothing lost, nothing doubled
    assert failed["stats"]["deleted"] == 0  # a failed full refresh deletes nothing


def test_malformed_json_fails_as_a_data_error(mon: Api) -> None:
    source = FaultySource(N)
    source.fail("malformed", times=-1, cursor="100")
    with serve_faulty(source) as url:
        instance = make_instance(mon, url)
        first = mon.sync(instance["id"], timeout=60)
        second = mon.sync(instance["id"], timeout=60)
        for execution in (first, second):
            assert execution["status"] == "failed"
            error = execution["error_details"]
            assert (error["category"], error["type"]) == ("data", "DataError")
            assert "did not return JSON" in error["message"]
            assert "recovery" not in error  # retrying cannot fix it
        assert set(active_alerts(mon, instance["id"])) == {"consecutive_failures"}
        source.heal()
        healed = mon.sync(instance["id"], timeout=60)
    assert healed["status"] == "completed"
    assert live_ids(mon, instance["id"]) == ALL_IDS
    assert active_alerts(mon, instance["id"]) == {}


def test_revoked_credentials_are_refreshed_once_then_fail_fast(mon: Api) -> None:
    source = FaultySource(N, token="good-token")
    credential = mon.post("/auth-configs", {"name": "directory-token", "auth_type": "bearer",
                                            "credentials": {"token": "good-token"}}).json()
    with serve_faulty(source) as url:
        instance = make_instance(mon, url, auth_config_id=credential["id"])
        assert mon.sync(instance["id"], timeout=60)["status"] == "completed"
        source.token = "rotated-by-the-vendor"
        source.seen.clear()
        execution = mon.sync(instance["id"], timeout=60)
    assert execution["status"] == "failed"
    error = execution["error_details"]
    assert (error["category"], error["type"]) == ("auth", "AuthenticationError")
    assert "401" in error["message"]
    assert "refused again after refreshing the credentials" in error["message"]
    assert error["hint"]
    assert "credentials" in error["hint"].lower()
    assert error["recovery"] == {"retries": 0, "waits": 0, "refreshed": True}
    assert [status for _, status in source.seen] == [401, 401]  # one refresh, no hammering
    state = mon.get(f"/instances/{instance['id']}").json()
    assert state["status"] == "error"  # no retry can fix it: the breaker opens at once
    assert "Renew or re-enter the credentials" in state["error_message"]
    assert "good-token" not in str(execution) + str(state)
    assert set(active_alerts(mon, instance["id"])) == {"instance_error"}
    task = mon.all("/tasks", instance_id=instance["id"], status="open")[0]
    assert task["error_category"] == "auth"
    assert live_ids(mon, instance["id"]) == ALL_IDS  # the earlier sync's records stay
