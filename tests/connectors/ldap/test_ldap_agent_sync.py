"""End to end through the agent, on SQLite and PostgreSQL: an LDAP instance on slapd with a
vaulted bind credential syncs users, groups and OUs into the evidence store, and a user
disabled in the directory is updated by the next (incremental) sync (issue 8)."""

from __future__ import annotations

import pytest

from connectors.builtin.ldap._ldap3 import MODIFY_REPLACE
from connectors.sandbox.slapd import SERVICE_DN, SERVICE_PW, Slapd
from tests.connectors.conftest_peers import register_built_ins
from tests.connectors.ldap import directory as d
from tests.connectors.ldap.conftest import config_for
from tests.support.api import Api


@pytest.fixture
def built_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    register_built_ins(monkeypatch)


def live(api: Api, instance_id: str, entity: str) -> dict[str, dict[str, object]]:
    rows = api.all("/records", instance_id=instance_id, entity_type=entity, deleted=False)
    return {r["external_id"]: r["data"] for r in rows}


def test_sync_then_incremental_sync_of_a_disabled_user(
    built_ins: None, fresh_slapd: Slapd, api: Api
) -> None:
    credential = api.post("/auth-configs", {
        "name": "Directory reader", "auth_type": "ldap_bind",
        "credentials": {"bind_dn": SERVICE_DN, "password": SERVICE_PW}})
    assert credential.status_code == 201, credential.text
    instance = api.create_instance("Corporate directory", "ldap",
                                   config_for(fresh_slapd, page_size=3),
                                   auth_config_id=credential.json()["id"])
    first = api.sync(instance["id"], timeout=60)
    assert first["status"] == "completed", first["error_details"]
    assert first["error_count"] == 0
    identities = live(api, instance["id"], "identity")
    groups = live(api, instance["id"], "group")
    units = live(api, instance["id"], "org_unit")
    assert len(identities) == len(d.USERS)
    assert len(groups) == len(d.GROUP_DEFS)
    assert len(units) == len(d.EXPECTED_OU_PATHS)
    all_staff = groups[d.norm(d.group_dn("all-staff"))]
    assert sorted(all_staff["member_external_ids"]) == sorted(  # type: ignore[arg-type]
        d.norm(d.user_dn(u)) for u in d.USERS)
    assert identities[d.norm(d.user_dn("dritchie"))]["manager_external_id"] == d.norm(
        d.user_dn("kthompson"))
    assert units[d.norm(d.PLATFORM)]["parent_external_id"] == d.norm(d.ENG)

    with fresh_slapd.admin() as admin:
        admin.modify(d.user_dn("fallen"),
                     {"pwdAccountLockedTime": [(MODIFY_REPLACE, ["000001010000Z"])]})
    second = api.sync(instance["id"], timeout=60)
    assert second["status"] == "completed", second["error_details"]
    users = second["stats"]["streams"]["users"]
    assert (users["updated"], users["created"], users["deleted"]) == (1, 0, 0)
    assert second["stats"]["streams"]["groups"]["updated"] == 0
    assert second["records_processed"] == 1 + len(d.EXPECTED_OU_PATHS)  # OUs are always full
    identities = live(api, instance["id"], "identity")
    assert identities[d.norm(d.user_dn("fallen"))]["status"] == "disabled"
    assert [i for i, data in identities.items() if data["status"] == "disabled"] == [
        d.norm(d.user_dn("fallen"))]
