"""What the sandbox directory means, resolved by hand.

The entries come from ``connectors.sandbox.ldap_directory``; the ``EXPECTED_*`` constants here
are written out independently, so the acceptance tests compare the connector against a
statement of the directory rather than against its own resolution logic.
"""

from __future__ import annotations

from connectors.sandbox.ldap_directory import (
    ENG,
    GROUP_DEFS,
    GROUPS,
    PEOPLE,
    PLATFORM,
    SALES,
    SECURITY,
    SERVICES,
    USERS,
    entries,
    group_dn,
    user_dn,
)

__all__ = ["ENG", "GROUP_DEFS", "PLATFORM", "USERS", "entries", "expected_groups_of",
           "group_dn", "norm", "user_dn"]


def norm(dn: str) -> str:
    return dn.lower()


# What the directory means, resolved by hand.
EXPECTED_EFFECTIVE: dict[str, set[str]] = {
    "platform": {"kthompson", "dritchie", "ltorvalds"},
    "security": {"rrivest", "ashamir"},
    "engineering": {"alovelace", "kthompson", "dritchie", "ltorvalds", "rrivest", "ashamir"},
    "sales": {"mhamilton", "bliskov", "fallen", "jbackus"},
    "all-staff": set(USERS),
    "admins": {"kthompson", "rrivest"},
    "loop-a": {"bliskov", "fallen"},
    "loop-b": {"bliskov", "fallen"},
}
EXPECTED_NESTED: dict[str, set[str]] = {
    "engineering": {"platform", "security"},
    "all-staff": {"engineering", "sales"},
    "loop-a": {"loop-b"},
    "loop-b": {"loop-a"},
}
EXPECTED_OU_PATHS: dict[str, str] = {
    PEOPLE: "/people",
    ENG: "/people/engineering",
    PLATFORM: "/people/engineering/platform",
    SECURITY: "/people/engineering/security",
    SALES: "/people/sales",
    GROUPS: "/groups",
    SERVICES: "/services",
}


def expected_groups_of(uid: str) -> set[str]:
    return {cn for cn, users in EXPECTED_EFFECTIVE.items() if uid in users}
