"""Record building without a server: Active Directory entries (no AD runs here, so its
attribute shapes are exercised directly), DN normalisation, times, nesting, and the shipped
default mappings."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connectors.builtin.ldap import MAPPINGS_DIR, LdapConfig
from connectors.builtin.ldap.entries import (
    Entry,
    GroupGraph,
    generalized_time,
    group_record,
    normalize_dn,
    org_unit_records,
    parent_dn,
    parse_time,
    user_record,
)
from connectors.builtin.ldap.streams import (
    GROUP_SCHEMA,
    ORG_UNIT_SCHEMA,
    USER_SCHEMA,
    LdapDirectory,
)
from connectors.sdk.schema import record_errors
from server.mapping import MappingSpec, validate_mapping
from tests.connectors.conftest_peers import map_records

AD = LdapConfig(url="ldaps://dc1.corp.example", base_dn="DC=corp,DC=example",
                flavor="active_directory").settings()
GUID = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
ANN = "CN=Ann Lee,OU=Finance,OU=Staff,DC=corp,DC=example"
BOB = "CN=Bob Ray,OU=Staff,DC=corp,DC=example"
FINANCE = "CN=Finance,OU=Groups,DC=corp,DC=example"
ALL = "CN=All Staff,OU=Groups,DC=corp,DC=example"


def ad_user(dn: str, control: int, **more: list[object]) -> Entry:
    return Entry(dn, {
        "objectClass": ["top", "person", "organizationalPerson", "user"],
        "cn": [dn.split(",", maxsplit=1)[0][3:]], "sAMAccountName": ["alee"],
        "mail": ["Ann.Lee@corp.example"],
        "userPrincipalName": ["alee@corp.example"], "department": ["Finance"],
        "title": ["Controller"], "employeeID": ["4711"], "manager": [BOB],
        "userAccountControl": [str(control)], "objectGUID": [GUID.bytes_le],
        "lastLogonTimestamp": ["133500000000000000"], "uSNChanged": ["20511"],
        "whenCreated": ["20230102030405.0Z"], "whenChanged": ["20240506070809.0Z"],
        **more,
    })


def graph() -> GroupGraph:
    groups = [
        Entry(FINANCE, {"member": [ANN]}),
        Entry(ALL, {"member": [FINANCE, BOB, "CN=Printer,OU=Devices,DC=corp,DC=example"]}),
    ]
    return GroupGraph.build(groups, [normalize_dn(ANN), normalize_dn(BOB)])


def test_an_active_directory_user() -> None:
    record = user_record(ad_user(ANN, 512), AD, graph())
    assert record["id"] == "cn=ann lee,ou=finance,ou=staff,dc=corp,dc=example"
    assert record["uuid"] == str(GUID)
    assert (record["username"], record["user_principal_name"]) == ("alee", "alee@corp.example")
    assert (record["department"], record["employee_id"]) == ("Finance", "4711")
    assert record["enabled"] is True
    assert record["manager_id"] == normalize_dn(BOB)
    assert record["last_logon"] == "2024-01-17T21:20:00+00:00"  # FILETIME
    assert record["usn_changed"] == 20511
    assert record["created_at"] == "2023-01-02T03:04:05+00:00"
    assert record["member_of"] == [normalize_dn(FINANCE)]
    assert record["member_of_all"] == sorted([normalize_dn(FINANCE), normalize_dn(ALL)])
    assert record["org_unit_id"] == "ou=finance,ou=staff,dc=corp,dc=example"
    assert record_errors(USER_SCHEMA, record) == []


@pytest.mark.parametrize(("control", "enabled"), [(512, True), (514, False), (66050, False),
                                                  (66048, True)])
def test_the_accountdisable_bit_decides(control: int, enabled: bool) -> None:
    record = user_record(ad_user(ANN, control), AD, graph())
    assert record["enabled"] is enabled
    assert (record["disabled_reason"] is None) is enabled


def test_never_logged_on_is_null() -> None:
    entry = ad_user(ANN, 512, lastLogonTimestamp=["0"])
    assert user_record(entry, AD, graph())["last_logon"] is None


def test_an_active_directory_group_and_incremental_filter() -> None:
    g = graph()
    entry = Entry(ALL, {"cn": ["All Staff"], "groupType": [str(-2147483646)],
                        "uSNChanged": ["9"], "whenChanged": ["20240101000000.0Z"]})
    record = group_record(entry, AD, g)
    assert record["group_type"] == "security"
    assert record["member_group_ids"] == [normalize_dn(FINANCE)]
    assert record["member_user_ids"] == [normalize_dn(BOB)]
    assert record["other_member_ids"] == ["cn=printer,ou=devices,dc=corp,dc=example"]
    assert record["effective_member_ids"] == sorted([normalize_dn(ANN), normalize_dn(BOB)])
    assert record_errors(GROUP_SCHEMA, record) == []
    distribution = group_record(Entry(FINANCE, {"cn": ["Finance"], "groupType": ["2"]}), AD, g)
    assert distribution["group_type"] == "distribution"
    directory = LdapDirectory(None, AD)  # type: ignore[arg-type]
    assert AD.cursor_field == "usn_changed"
    assert directory.changed_filter("(objectClass=group)", 20511) == (
        "(&(objectClass=group)(uSNChanged>=20511))")


def test_openldap_incremental_filter_rounds_down_to_the_second() -> None:
    settings = LdapConfig(url="ldap://x", base_dn="dc=x").settings()
    directory = LdapDirectory(None, settings)  # type: ignore[arg-type]
    assert settings.cursor_field == "modified_at"
    assert directory.changed_filter("(uid=*)", "2024-05-01T10:00:07.999+00:00") == (
        "(&(uid=*)(modifyTimestamp>=20240501100007Z))")
    assert generalized_time("2024-05-01T12:00:07+02:00") == "20240501100007Z"


def test_nested_cycles_terminate() -> None:
    a, b, c = "cn=a,dc=x", "cn=b,dc=x", "cn=c,dc=x"
    g = GroupGraph.build([Entry(a, {"member": [b, "uid=u1,dc=x"]}),
                          Entry(b, {"member": [c]}),
                          Entry(c, {"member": [a, "uid=u2,dc=x"]})],
                         ["uid=u1,dc=x", "uid=u2,dc=x"])
    assert g.effective_users(a) == g.effective_users(c) == ["uid=u1,dc=x", "uid=u2,dc=x"]
    assert g.all_groups_of("uid=u2,dc=x") == [a, b, c]
    assert g.all_groups_of(a) == [b, c]  # never itself


def test_the_membership_digest_changes_only_with_memberships() -> None:
    def make(extra: list[str]) -> str:
        return GroupGraph.build([Entry("cn=a,dc=x", {"member": ["uid=u1,dc=x", *extra]})],
                                ["uid=u1,dc=x", "uid=u2,dc=x"]).digest()
    assert make([]) == make([])
    assert make([]) != make(["uid=u2,dc=x"])


@pytest.mark.parametrize(("dn", "normal", "parent"), [
    ("CN=Lee\\, Ann,  OU=People,DC=Example", "cn=lee\\, ann,ou=people,dc=example",
     "ou=people,dc=example"),
    ("cn=Lee\\2C Ann,ou=people,dc=example", "cn=lee\\, ann,ou=people,dc=example",
     "ou=people,dc=example"),
    ("cn=a+uid=B,dc=x", "cn=a+uid=b,dc=x", "dc=x"),
    ("dc=org", "dc=org", None),
])
def test_dn_normalisation(dn: str, normal: str, parent: str | None) -> None:
    assert normalize_dn(dn) == normal
    assert parent_dn(dn) == parent


@pytest.mark.parametrize(("text", "iso"), [
    ("20240101120000Z", "2024-01-01T12:00:00+00:00"),
    ("20240101120000.5Z", "2024-01-01T12:00:00.500000+00:00"),
    ("20240101120000+0130", "2024-01-01T10:30:00+00:00"),
    ("20261126102520.586680Z#000000#000#000000", "2026-11-26T10:25:20.586680+00:00"),
    ("000001010000Z", None),  # OpenLDAP: locked forever, not a time
    ("9223372036854775807", None),  # AD: never
    ("garbage", None),
])
def test_times(text: str, iso: str | None) -> None:
    parsed = parse_time(text)
    assert (parsed.isoformat() if parsed else None) == iso


def test_org_unit_paths_skip_ancestors_outside_the_set() -> None:
    settings = LdapConfig(url="ldap://x", base_dn="dc=x").settings()
    records = org_unit_records([Entry("ou=b,ou=a,dc=x", {"ou": ["b"]}),
                                Entry("ou=a,dc=x", {"ou": ["a"]}),
                                Entry("ou=c,ou=missing,dc=x", {"ou": ["c"]})], settings)
    assert [(r["id"], r["parent_id"], r["path"]) for r in records] == [
        ("ou=a,dc=x", None, "/a"), ("ou=c,ou=missing,dc=x", None, "/c"),
        ("ou=b,ou=a,dc=x", "ou=a,dc=x", "/a/b")]
    assert all(record_errors(ORG_UNIT_SCHEMA, r) == [] for r in records)


MAPPINGS = {"users.identity.json": USER_SCHEMA, "groups.group.json": GROUP_SCHEMA,
            "org_units.org_unit.json": ORG_UNIT_SCHEMA}


@pytest.mark.parametrize("name", sorted(MAPPINGS))
def test_default_mappings_validate(name: str) -> None:
    spec = MappingSpec.model_validate_json((MAPPINGS_DIR / name).read_text())
    problems = validate_mapping(spec.model_copy(update={"source_schema": MAPPINGS[name]}))
    assert [p for p in problems if p.severity == "error"] == []
    assert [p for p in problems if p.code == "unknown_source"] == []
    stream = name.split(".", maxsplit=1)[0]
    assert spec.source == f"ldap.{stream}"


def test_default_mappings_map_ad_samples_to_canonical_records() -> None:
    g = graph()
    [identity] = map_records(MAPPINGS_DIR, "users", "identity",
                             [user_record(ad_user(ANN, 514), AD, g)])
    assert identity["status"] == "disabled"
    assert identity["last_login_at"] == "2024-01-17T21:20:00+00:00"
    [group] = map_records(MAPPINGS_DIR, "groups", "group",
                          [group_record(Entry(ALL, {"cn": ["All"], "groupType": ["-2147483646"]}),
                                        AD, g)])
    assert group["group_type"] == "security"
    assert group["member_count"] == 2


def test_every_shipped_mapping_is_tested() -> None:
    assert sorted(p.name for p in Path(MAPPINGS_DIR).glob("*.json")) == sorted(MAPPINGS)
