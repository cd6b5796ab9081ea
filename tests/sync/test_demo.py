"""The demo sandbox `make run` starts: every demo instance syncs real-looking data."""

from __future__ import annotations

import time

from connectors.sandbox import slapd
from server.demo import start_demo
from tests.support.api import Api


def test_demo_instances_sync_against_local_peers(api: Api) -> None:
    app = api.client.app  # type: ignore[attr-defined]
    demo = api.client.portal.call(start_demo, app)  # type: ignore[union-attr]
    try:
        expected = {"Demo · GitHub", "Demo · Jira", "Demo · Splunk", "Demo · AWS",
                    "Demo · HR files", "Demo · Asset inventory (Generic REST)"}
        if slapd.missing() is None:  # installed by .ci/run; the demo skips it otherwise
            expected.add("Demo · Directory (LDAP)")
        assert set(demo.instances) >= expected
        deadline = time.monotonic() + 120
        while True:
            runs = api.all("/sync-executions")
            done = {r["instance_id"] for r in runs if r["status"] in ("completed", "failed")}
            if done >= set(demo.instances.values()):
                break
            names = {v: k for k, v in demo.instances.items()}
            assert time.monotonic() < deadline, [
                (names.get(r["instance_id"]), r["status"], r["trigger_type"], r["error_details"])
                for r in runs if r["status"] not in ("completed", "failed")]
            time.sleep(0.3)
        failed = [r for r in runs if r["status"] != "completed"]
        assert failed == [], failed
        for name, instance_id in demo.instances.items():
            records = api.get("/records", params={"instance_id": instance_id}).json()["items"]
            assert records, f"{name} stored nothing"
        assets = api.all("/records", instance_id=demo.instances[
            "Demo · Asset inventory (Generic REST)"], entity_type="asset")
        assert len(assets) == 40  # every page of the inventory, mapped by the demo's mapping
        assert {a["data"]["disk_encrypted"] for a in assets} == {True, False}
        assert {a["data"]["asset_type"] for a in assets} == {"laptop", "workstation", "server"}
        if "Demo · Directory (LDAP)" in demo.instances:
            people = api.all("/records", instance_id=demo.instances["Demo · Directory (LDAP)"],
                             entity_type="identity")
            assert len(people) == 11
        checks = api.all("/records", entity_type="configuration_check")
        assert {c["data"]["status"] for c in checks} >= {"pass", "fail"}
        schedules = api.all("/schedules")
        assert {s["instance_id"] for s in schedules} >= set(demo.instances.values())
    finally:
        demo.stop()
