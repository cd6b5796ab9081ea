"""The demo sandbox `make run` starts: every demo instance syncs real-looking data."""

from __future__ import annotations

import time

from server.demo import start_demo
from tests.support.api import Api


def test_demo_instances_sync_against_local_peers(api: Api) -> None:
    app = api.client.app  # type: ignore[attr-defined]
    demo = api.client.portal.call(start_demo, app)  # type: ignore[union-attr]
    try:
        assert set(demo.instances) >= {"Demo · GitHub", "Demo · Jira", "Demo · Splunk",
                                       "Demo · AWS", "Demo · HR files"}
        deadline = time.monotonic() + 120
        while True:
            runs = api.all("/sync-executions")
            done = {r["instance_id"] for r in runs if r["status"] in ("completed", "failed")}
            if done >= set(demo.instances.values()):
                break
            assert time.monotonic() < deadline, [
                (r["instance_id"][:8], r["status"], r["trigger_type"]) for r in runs]
            time.sleep(0.3)
        failed = [r for r in runs if r["status"] != "completed"]
        assert failed == [], failed
        for name, instance_id in demo.instances.items():
            records = api.get("/records", params={"instance_id": instance_id}).json()["items"]
            assert records, f"{name} stored nothing"
        checks = api.all("/records", entity_type="configuration_check")
        assert {c["data"]["status"] for c in checks} >= {"pass", "fail"}
        schedules = api.all("/schedules")
        assert {s["instance_id"] for s in schedules} >= set(demo.instances.values())
    finally:
        demo.stop()
