"""A small company directory for slapd: nested OUs, nested groups (with a cycle), manager chains.

The LDAP connector's tests load it (and state by hand what it means, in their own module);
the ``make run`` demo loads it into its sandbox slapd so the directory instance has
real-looking people, teams and reporting lines.
"""

from __future__ import annotations

from typing import Any

from connectors.sandbox.slapd import SERVICE_DN, SERVICE_PW, SUFFIX

PEOPLE = f"ou=people,{SUFFIX}"
ENG = f"ou=engineering,{PEOPLE}"
PLATFORM = f"ou=platform,{ENG}"
SECURITY = f"ou=security,{ENG}"
SALES = f"ou=sales,{PEOPLE}"
GROUPS = f"ou=groups,{SUFFIX}"
SERVICES = f"ou=services,{SUFFIX}"

# uid -> (OU, full name, title, department, manager uid)
USERS: dict[str, tuple[str, str, str, str, str | None]] = {
    "ghopper": (PEOPLE, "Grace Hopper", "Chief Executive Officer", "Executive", None),
    "alovelace": (ENG, "Ada Lovelace", "Chief Technology Officer", "Engineering", "ghopper"),
    "kthompson": (PLATFORM, "Ken Thompson", "Platform Lead", "Platform", "alovelace"),
    "dritchie": (PLATFORM, "Dennis Ritchie", "Platform Engineer", "Platform", "kthompson"),
    "ltorvalds": (PLATFORM, "Linus Torvalds", "Platform Engineer", "Platform", "kthompson"),
    "rrivest": (SECURITY, "Ron Rivest", "Security Lead", "Security", "alovelace"),
    "ashamir": (SECURITY, "Adi Shamir", "Security Analyst", "Security", "rrivest"),
    "mhamilton": (SALES, "Margaret Hamilton", "Head of Sales", "Sales", "ghopper"),
    "bliskov": (SALES, "Barbara Liskov", "Account Executive", "Sales", "mhamilton"),
    "fallen": (SALES, "Frances Allen", "Account Executive", "Sales", "mhamilton"),
    "jbackus": (SALES, "John Backus", "Account Executive", "Sales", "mhamilton"),
}


def user_dn(uid: str) -> str:
    return f"uid={uid},{USERS[uid][0]}"


def group_dn(cn: str) -> str:
    return f"cn={cn},{GROUPS}"


# cn -> (description, members: "u:uid" or "g:cn")
GROUP_DEFS: dict[str, tuple[str, list[str]]] = {
    "platform": ("Platform team", ["u:kthompson", "u:dritchie", "u:ltorvalds"]),
    "security": ("Security team", ["u:rrivest", "u:ashamir"]),
    "engineering": ("All engineering", ["g:platform", "g:security", "u:alovelace"]),
    "sales": ("Sales team", ["u:mhamilton", "u:bliskov", "u:fallen", "u:jbackus"]),
    "all-staff": ("Everyone", ["g:engineering", "g:sales", "u:ghopper"]),
    "admins": ("Directory administrators", ["u:kthompson", "u:rrivest"]),
    "loop-a": ("Cycle, part A", ["g:loop-b", "u:bliskov"]),
    "loop-b": ("Cycle, part B", ["g:loop-a", "u:fallen"]),
}


def _member_dn(ref: str) -> str:
    kind, name = ref.split(":", 1)
    return user_dn(name) if kind == "u" else group_dn(name)


def entries() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = [
        (SUFFIX, {"objectClass": ["dcObject", "organization"], "o": "Example", "dc": "example"}),
    ]
    for dn in (PEOPLE, ENG, PLATFORM, SECURITY, SALES, GROUPS, SERVICES):
        name = dn.split(",", 1)[0].split("=", 1)[1]
        out.append((dn, {"objectClass": ["organizationalUnit"], "ou": name,
                         "description": f"The {name} unit"}))
    out.append((SERVICE_DN, {"objectClass": ["organizationalRole", "simpleSecurityObject"],
                             "cn": "svc-reader", "userPassword": SERVICE_PW}))
    for number, (uid, (_ou, name, title, department, manager)) in enumerate(USERS.items(), 1):
        given, family = name.split(" ", 1)
        attributes: dict[str, Any] = {
            "objectClass": ["inetOrgPerson"], "uid": uid, "cn": name, "sn": family,
            "givenName": given, "displayName": name, "mail": f"{uid}@Example.org",
            "title": title, "departmentNumber": department, "employeeNumber": f"E{number:04d}",
            "userPassword": f"pw-{uid}-unused",
        }
        if manager:
            attributes["manager"] = user_dn(manager)
        out.append((user_dn(uid), attributes))
    for cn, (description, members) in GROUP_DEFS.items():
        out.append((group_dn(cn), {"objectClass": ["groupOfNames"], "cn": cn,
                                   "description": description,
                                   "member": [_member_dn(m) for m in members]}))
    return out
