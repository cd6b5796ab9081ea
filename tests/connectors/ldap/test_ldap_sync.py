"""The LDAP connector against a real slapd: conformance kit, and the synced directory.

Acceptance (issue 8): with nested OUs, nested groups (one cycle) and manager chains, the
org_unit, group and identity records produced by the default mappings match the directory,
and a user disabled in the directory is seen by the next incremental read from saved state.
"""

from __future__ import annotations

from typing import Any

from connectors.builtin.ldap import MAPPINGS_DIR, LdapConnector
from connectors.builtin.ldap._ldap3 import MODIFY_ADD, MODIFY_REPLACE
from connectors.sandbox.slapd import SERVICE_PW, SUFFIX, Slapd
from connectors.sdk.auth import LdapBind
from connectors.sdk.testing import conformance_tests, loopback_context_value
from tests.connectors.conftest_peers import map_records, read_all
from tests.connectors.ldap import directory as d
from tests.connectors.ldap.conftest import config_for

TestLdapConformance = conformance_tests(
    LdapConnector, config="ldap_config", credentials="ldap_credentials", secrets=[SERVICE_PW]
)


def connector(server: Slapd, credentials: LdapBind, **config: Any) -> LdapConnector:
    return LdapConnector(config_for(server, **config), credentials=credentials,
                         context=loopback_context_value())


async def test_synced_records_match_the_directory(slapd: Slapd,
                                                  ldap_credentials: LdapBind) -> None:
    async with connector(slapd, ldap_credentials, page_size=3) as c:
        users, _ = await read_all(c, "users")
        groups, _ = await read_all(c, "groups")
        units, _ = await read_all(c, "org_units")
    def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {r["external_id"]: r for r in records}

    identities = by_id(map_records(MAPPINGS_DIR, "users", "identity", users))
    mapped_groups = by_id(map_records(MAPPINGS_DIR, "groups", "group", groups))
    org_units = by_id(map_records(MAPPINGS_DIR, "org_units", "org_unit", units))

    # Counts: every user and group once (the service account is not a user), every OU once.
    assert sorted(identities) == sorted(d.norm(d.user_dn(u)) for u in d.USERS)
    assert sorted(mapped_groups) == sorted(d.norm(d.group_dn(g)) for g in d.GROUP_DEFS)
    assert sorted(org_units) == sorted(d.norm(dn) for dn in d.EXPECTED_OU_PATHS)

    # Manager links, and the whole chain up to the CEO.
    for uid, (_ou, name, title, department, manager) in d.USERS.items():
        identity = identities[d.norm(d.user_dn(uid))]
        assert identity["username"] == uid
        assert identity["display_name"] == name
        assert identity["email"] == f"{uid}@example.org"
        assert (identity["title"], identity["department"]) == (title, department)
        assert identity["status"] == "active"
        expected_manager = d.norm(d.user_dn(manager)) if manager else None
        assert identity["manager_external_id"] == expected_manager
        assert identity["attributes"]["org_unit_external_id"] == d.norm(d.USERS[uid][0])
    chain, current = [], identities[d.norm(d.user_dn("dritchie"))]
    while current["manager_external_id"]:
        current = identities[current["manager_external_id"]]
        chain.append(current["username"])
    assert chain == ["kthompson", "alovelace", "ghopper"]

    # Memberships: effective members of each group, nesting, and each user's groups.
    for cn, users_in in d.EXPECTED_EFFECTIVE.items():
        group = mapped_groups[d.norm(d.group_dn(cn))]
        assert set(group["member_external_ids"]) == {d.norm(d.user_dn(u)) for u in users_in}, cn
        assert group["member_count"] == len(users_in)
        nested = {d.norm(d.group_dn(g)) for g in d.EXPECTED_NESTED.get(cn, set())}
        assert set(group["attributes"]["nested_group_external_ids"]) == nested, cn
    assert set(mapped_groups[d.norm(d.group_dn("platform"))]["attributes"][
        "parent_group_external_ids"]) == {d.norm(d.group_dn("engineering"))}
    for uid in d.USERS:
        identity = identities[d.norm(d.user_dn(uid))]
        expected = {d.norm(d.group_dn(g)) for g in d.expected_groups_of(uid)}
        assert set(identity["group_external_ids"]) == expected, uid

    # Direct memberships agree with what slapd's memberof overlay says.
    with slapd.admin() as admin:
        admin.search(SUFFIX, "(objectClass=inetOrgPerson)", attributes=["memberOf"])
        member_of = {d.norm(e["dn"]): {d.norm(g) for g in e["attributes"]["memberOf"]}
                     for e in admin.response}
    for user_id, identity in identities.items():
        assert set(identity["attributes"]["direct_group_external_ids"]) == member_of[user_id]

    # The OU tree: parent links and paths.
    for dn, path in d.EXPECTED_OU_PATHS.items():
        unit = org_units[d.norm(dn)]
        assert unit["path"] == path
        parent = dn.split(",", 1)[1]
        expected_parent = d.norm(parent) if parent in d.EXPECTED_OU_PATHS else None
        assert unit["parent_external_id"] == expected_parent


async def test_a_disabled_user_is_seen_by_the_next_incremental_read(
    fresh_slapd: Slapd, ldap_credentials: LdapBind
) -> None:
    async with connector(fresh_slapd, ldap_credentials) as c:
        first, state = await read_all(c, "users")
    assert len(first) == len(d.USERS)
    assert all(r["enabled"] for r in first)
    assert state["cursor"]
    assert state["groups_digest"]

    with fresh_slapd.admin() as admin:  # lock the account as an administrator would
        admin.modify(d.user_dn("bliskov"),
                     {"pwdAccountLockedTime": [(MODIFY_REPLACE, ["000001010000Z"])]})

    async with connector(fresh_slapd, ldap_credentials) as c:  # a new run, from saved state
        changed, state2 = await read_all(c, "users", state)
        again, _ = await read_all(c, "users", state2)
    assert [r["username"] for r in changed] == ["bliskov"]
    assert changed[0]["enabled"] is False
    assert changed[0]["disabled_reason"] == "pwdAccountLockedTime is set"
    [identity] = map_records(MAPPINGS_DIR, "users", "identity", changed)
    assert identity["status"] == "disabled"
    assert again == []


async def test_a_configured_disabled_attribute_marks_accounts(
    fresh_slapd: Slapd, ldap_credentials: LdapBind
) -> None:
    with fresh_slapd.admin() as admin:
        admin.modify(d.user_dn("jbackus"), {"employeeType": [(MODIFY_ADD, ["Terminated"])]})
        admin.modify(d.user_dn("fallen"), {"employeeType": [(MODIFY_ADD, ["contractor"])]})
    async with connector(fresh_slapd, ldap_credentials, disabled_attribute="employeeType",
                         disabled_values=["terminated", "left"]) as c:
        users, _ = await read_all(c, "users")
    disabled = {r["username"] for r in users if not r["enabled"]}
    assert disabled == {"jbackus"}


async def test_a_nesting_change_rereads_the_users_it_affects(
    fresh_slapd: Slapd, ldap_credentials: LdapBind
) -> None:
    """Nesting 'security' into 'sales' changes no user entry, yet their groups change."""
    async with connector(fresh_slapd, ldap_credentials) as c:
        _, user_state = await read_all(c, "users")
        _, group_state = await read_all(c, "groups")
    with fresh_slapd.admin() as admin:
        admin.modify(d.group_dn("sales"), {"member": [(MODIFY_ADD, [d.group_dn("security")])]})
    async with connector(fresh_slapd, ldap_credentials) as c:
        users, user_state = await read_all(c, "users", user_state)
        groups, group_state = await read_all(c, "groups", group_state)
        assert (await read_all(c, "users", user_state))[0] == []
        assert (await read_all(c, "groups", group_state))[0] == []
    by_name = {r["username"]: r for r in users}
    assert d.norm(d.group_dn("sales")) in by_name["ashamir"]["member_of_all"]
    assert d.norm(d.group_dn("sales")) not in by_name["dritchie"]["member_of_all"]
    sales = next(g for g in groups if g["name"] == "sales")
    assert set(sales["effective_member_ids"]) >= {d.norm(d.user_dn("ashamir"))}
    assert sales["member_count"] == 6
