"""The demo's asset inventory: Snipe-IT connected through the Generic REST connector.

The simulator answers like Snipe-IT (offset pages under ``rows``, Laravel's 401 and 429
bodies, ``X-RateLimit-*`` headers); the demo's declarative configuration and mapping must
read every page, map hardware to canonical assets, wait out a throttle and name a bad token.
"""

from __future__ import annotations

from connectors.sandbox.server import serve
from connectors.sandbox.snipeit import DEFAULT_TOKEN, SnipeItSimulator
from server.demo.peers import ASSET_MAPPING, asset_inventory_api
from tests.support.api import Api


def _instance(api: Api, url: str, token: str) -> dict[str, object]:
    cred = api.post("/auth-configs", {"name": f"snipe-it {token[:6]}", "auth_type": "bearer",
                                      "credentials": {"token": token}})
    assert cred.status_code == 201, cred.text
    instance = api.create_instance(f"Assets {token[:6]}", "generic-rest",
                                   asset_inventory_api(url), auth_config_id=cred.json()["id"])
    resp = api.post("/mappings", {"instance_id": instance["id"], **ASSET_MAPPING})
    assert resp.status_code == 201, resp.text
    return instance


def test_every_page_is_mapped_to_assets_and_a_throttle_is_waited_out(api: Api) -> None:
    sim = SnipeItSimulator(assets=120)  # 3 pages of 50
    with serve(sim) as running:
        instance = _instance(api, running.url, DEFAULT_TOKEN)
        sim.faults.throttle(times=1, retry_after=1, path="/api/v1/hardware")
        run = api.sync(str(instance["id"]), timeout=120)
        assert run["status"] == "completed", run["error_details"]
        assert sim.faults.describe() == []  # the 429 was served, and waited out
        offsets = {r.query for r in sim.requests if r.path == "/api/v1/hardware"}
        assert offsets == {f"offset={n}&limit=50" for n in (0, 50, 100)}  # 120 rows: 3 pages

    assets = {a["external_id"]: a["data"] for a in api.all(
        "/records", instance_id=instance["id"], entity_type="asset")}
    assert len(assets) == 120
    laptop, server = assets["ACME-00001"], assets["ACME-00004"]
    assert (laptop["asset_type"], laptop["os_name"]) == ("laptop", "Windows 11 23H2")
    assert laptop["disk_encrypted"] is True
    assert laptop["owner_email"].endswith("@example.org")
    assert (server["asset_type"], server["owner_external_id"]) == ("server", None)
    assert assets["ACME-00006"]["disk_encrypted"] is False  # every sixth laptop is not
    assert laptop["last_seen_at"].endswith("+00:00")


def test_a_wrong_token_fails_the_connection_test_with_an_auth_hint(api: Api) -> None:
    with serve(SnipeItSimulator()) as running:
        instance = _instance(api, running.url, "not-the-token")
        result = api.post(f"/instances/{instance['id']}/test").json()
    assert result["ok"] is False
    failed = [i for i in result["items"] if i["status"] == "failed"]
    assert failed, result
    assert all(i["hint"] for i in failed), result
    assert "not-the-token" not in str(result)
