"""From raw directory entries to stream records: pure functions, no I/O.

Identifiers are normalised DNs (attribute types and values lower-cased, no spaces around the
separators), because that is what ``member``, ``manager`` and ``memberOf`` hold: an identity's
manager and a group's members point at the same ``id`` the records carry. The stable
``entryUUID`` / ``objectGUID`` is kept as ``uuid``.

Nested groups are resolved here (:class:`GroupGraph`): cycles are allowed and terminate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.builtin.ldap.config import DirectorySettings

__all__ = [
    "Entry",
    "GroupGraph",
    "generalized_time",
    "group_record",
    "normalize_dn",
    "org_unit_records",
    "parent_dn",
    "parse_time",
    "user_record",
]

ACCOUNTDISABLE = 0x0002  # AD userAccountControl bit: the account is disabled
AD_SECURITY_GROUP = 0x80000000  # AD groupType bit: security (else distribution) group
_NEVER = {0, 0x7FFFFFFFFFFFFFFF}  # AD FILETIME values meaning "never"
_FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
_GENERALIZED = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d{1,6})\d*)?(Z|[+-]\d{2}(?:\d{2})?)?$"
)


@dataclass(frozen=True)
class Entry:
    """One search result: its DN and attributes (lists of str, or bytes for binary ones)."""

    dn: str
    attributes: Mapping[str, list[Any]]

    def values(self, name: str) -> list[Any]:
        for key, value in self.attributes.items():
            if key.lower() == name.lower():
                return [v for v in (value if isinstance(value, list) else [value]) if v != ""]
        return []

    def first(self, name: str) -> Any | None:
        found = self.values(name)
        return found[0] if found else None

    def text(self, name: str) -> str | None:
        value = self.first(name)
        if value is None:
            return None
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return str(value)

    @property
    def id(self) -> str:
        return normalize_dn(self.dn)


_SPECIAL = set(',+"\\<>;=')


def _unescape(value: str) -> str:
    """``Lee\\, Ann`` / ``Lee\\2C Ann`` -> ``Lee, Ann`` (hex escapes are UTF-8 bytes)."""
    out = bytearray()
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out += value[i + 1].encode()
            i += 2
            continue
        out += char.encode()
        i += 1
    return out.decode("utf-8", errors="replace")


def _escape(value: str) -> str:
    escaped = "".join(f"\\{c}" if c in _SPECIAL else c for c in value)
    if escaped.startswith((" ", "#")):
        escaped = "\\" + escaped
    if escaped.endswith(" ") and not escaped.endswith("\\ "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def _split_unescaped(text: str, separators: str) -> list[tuple[str, str]]:
    """Split on separator characters that are not escaped: ``[(part, separator_after)]``."""
    parts: list[tuple[str, str]] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if char in separators:
            parts.append(("".join(current), char))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append(("".join(current), ""))
    return parts


def normalize_dn(dn: str) -> str:
    """``CN=Lee\\2C Ann, OU=People,DC=Example`` -> ``cn=lee\\, ann,ou=people,dc=example``.

    Attribute types and values are lower-cased (the naming attributes of users, groups and
    OUs compare case-insensitively), spaces around separators dropped and escapes made
    canonical, so the same entry always gets the same id however a reference spells it.
    """
    out: list[str] = []
    for part, separator in _split_unescaped(dn.strip(), ",+;"):
        name, equals, value = part.partition("=")
        if not equals:
            return dn.strip().lower()
        out.append(f"{name.strip().lower()}={_escape(_unescape(value.strip())).lower()}")
        out.append("+" if separator == "+" else ",")
    return "".join(out[:-1])


def parent_dn(dn: str) -> str | None:
    """The normalised parent of ``dn`` (None for a single RDN)."""
    parts = _split_unescaped(normalize_dn(dn), ",")
    if len(parts) < 2:
        return None
    return ",".join(p for p, _ in parts[1:])


def parse_time(value: Any) -> dt.datetime | None:
    """GeneralizedTime (``20240101120000Z``, ``20240101120000.0Z``), an entryCSN
    (``20240101120000.123456Z#000000#000#000000``) or an AD FILETIME (100 ns since 1601)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    text = str(value).strip()
    if text.isdigit() and len(text) > 14:  # FILETIME
        ticks = int(text)
        if ticks in _NEVER:
            return None
        return _FILETIME_EPOCH + dt.timedelta(microseconds=ticks // 10)
    match = _GENERALIZED.match(text.split("#", 1)[0])
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        stamp = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:  # e.g. OpenLDAP's "000001010000Z" (locked forever)
        return None
    offset = dt.timedelta(0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or 0))
    return stamp.replace(tzinfo=dt.timezone(offset)).astimezone(dt.UTC)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def generalized_time(value: str) -> str:
    """An ISO cursor -> the GeneralizedTime of its second, for ``(modifyTimestamp>=...)``.

    Rounded down, so the inclusive filter re-reads that second and the SDK drops what was
    already read: nothing changed within the same second is lost.
    """
    stamp = dt.datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")


def _uuid(entry: Entry, settings: DirectorySettings) -> str | None:
    value = entry.first(settings.uuid_attribute)
    if isinstance(value, bytes):
        if len(value) == 16:  # AD objectGUID: little-endian GUID bytes
            return str(uuid.UUID(bytes_le=value))
        return value.hex()
    return str(value) if value is not None else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def modified(entry: Entry, settings: DirectorySettings) -> dt.datetime | None:
    """When the entry last changed: entryCSN (microseconds) when present, else the timestamp."""
    if not settings.is_ad:
        csn = parse_time(entry.first("entryCSN"))
        if csn is not None:
            return csn
    return parse_time(entry.first(settings.modified_attribute))


def _timestamps(entry: Entry, settings: DirectorySettings) -> dict[str, Any]:
    data: dict[str, Any] = {
        "created_at": iso(parse_time(entry.first(settings.created_attribute))),
        "modified_at": iso(modified(entry, settings)),
    }
    if settings.is_ad:
        data["usn_changed"] = _int(entry.first("uSNChanged"))
    return data


def account_state(entry: Entry, settings: DirectorySettings) -> tuple[bool, str | None]:
    """``(enabled, why_disabled)`` from userAccountControl (AD) or the disabled attribute."""
    if settings.is_ad:
        control = _int(entry.first("userAccountControl"))
        if control is not None and control & ACCOUNTDISABLE:
            return False, "userAccountControl has ACCOUNTDISABLE (0x2)"
    name = settings.disabled_attribute
    if name:
        values = [str(v).strip().lower() for v in entry.values(name)]
        if settings.disabled_values:
            if any(v in settings.disabled_values for v in values):
                return False, f"{name} is {values[0]!r}"
        elif values:
            return False, f"{name} is set"
    return True, None


def user_record(
    entry: Entry,
    settings: DirectorySettings,
    graph: GroupGraph,
) -> dict[str, Any]:
    """The ``users`` stream record of one entry."""
    enabled, why = account_state(entry, settings)
    uid = entry.id
    username = entry.text(settings.username_attribute) or entry.text("cn") or uid
    manager = entry.text("manager")
    extra = {
        name: [v.hex() if isinstance(v, bytes) else v for v in entry.values(name)]
        for name in settings.extra_attributes
    }
    return {
        "id": uid,
        "dn": entry.dn,
        "uuid": _uuid(entry, settings),
        "username": username,
        "user_principal_name": entry.text("userPrincipalName") if settings.is_ad else None,
        "email": entry.text("mail"),
        "display_name": entry.text("displayName") or entry.text("cn"),
        "given_name": entry.text("givenName"),
        "family_name": entry.text("sn"),
        "title": entry.text("title"),
        "department": entry.text(settings.department_attribute),
        "employee_id": entry.text(settings.employee_id_attribute),
        "manager_id": normalize_dn(manager) if manager else None,
        "enabled": enabled,
        "disabled_reason": why,
        "last_logon": iso(parse_time(entry.first(settings.last_logon_attribute)))
        if settings.last_logon_attribute
        else None,
        "org_unit_id": parent_dn(entry.dn),
        "member_of": graph.direct_groups_of(uid),
        "member_of_all": graph.all_groups_of(uid),
        "object_classes": sorted(str(v) for v in entry.values("objectClass")),
        "attributes": extra,
        **_timestamps(entry, settings),
    }


def group_record(entry: Entry, settings: DirectorySettings, graph: GroupGraph) -> dict[str, Any]:
    """The ``groups`` stream record of one group entry."""
    gid = entry.id
    node = graph.groups.get(gid)
    direct = sorted(node.members) if node else []
    group_type: str | None = None
    if settings.is_ad:
        raw = _int(entry.first("groupType"))
        if raw is not None:
            group_type = "security" if raw & AD_SECURITY_GROUP else "distribution"
    effective = graph.effective_users(gid)
    manager = entry.text("managedBy")
    return {
        "id": gid,
        "dn": entry.dn,
        "uuid": _uuid(entry, settings),
        "name": entry.text("cn") or gid,
        "description": entry.text("description"),
        "email": entry.text("mail"),
        "group_type": group_type,
        "manager_id": normalize_dn(manager) if manager else None,
        "org_unit_id": parent_dn(entry.dn),
        "member_ids": direct,
        "member_user_ids": [m for m in direct if m in graph.users],
        "member_group_ids": [m for m in direct if m in graph.groups],
        "other_member_ids": [m for m in direct if m not in graph.users and m not in graph.groups],
        "parent_group_ids": graph.direct_groups_of(gid),
        "effective_member_ids": effective,
        "member_count": len(effective),
        **_timestamps(entry, settings),
    }


def org_unit_records(entries: Iterable[Entry], settings: DirectorySettings) -> list[dict[str, Any]]:
    """The ``org_units`` records, parents before children, with ``/A/B`` paths."""
    by_id = {e.id: e for e in entries}
    records: dict[str, dict[str, Any]] = {}

    def path_of(ou_id: str, seen: frozenset[str] = frozenset()) -> str:
        entry = by_id[ou_id]
        name = entry.text("ou") or ou_id
        parent = parent_dn(entry.dn)
        if parent in by_id and parent not in seen:
            return f"{path_of(parent, seen | {ou_id})}/{name}"
        return f"/{name}"

    for ou_id, entry in by_id.items():
        parent = parent_dn(entry.dn)
        manager = entry.text("managedBy")
        path = path_of(ou_id)
        records[ou_id] = {
            "id": ou_id,
            "dn": entry.dn,
            "uuid": _uuid(entry, settings),
            "name": entry.text("ou") or ou_id,
            "description": entry.text("description"),
            "parent_id": parent if parent in by_id else None,
            "path": path,
            "depth": path.count("/"),
            "manager_id": normalize_dn(manager) if manager else None,
            **_timestamps(entry, settings),
        }
    return sorted(records.values(), key=lambda r: (r["depth"], r["id"]))


@dataclass
class GroupNode:
    members: set[str] = field(default_factory=set)


@dataclass
class GroupGraph:
    """Groups and their direct members; resolves nesting (cycles allowed).

    ``users`` is the set of user ids (to tell user members from groups and other objects).
    """

    groups: dict[str, GroupNode] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    _effective: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _parents: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _all_groups: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, group_entries: Iterable[Entry], user_ids: Iterable[str]) -> GroupGraph:
        graph = cls(users=set(user_ids))
        for entry in group_entries:
            members = {normalize_dn(m) for m in [*entry.values("member"),
                                                 *entry.values("uniqueMember")]
                       if isinstance(m, str) and m.strip()}
            graph.groups[entry.id] = GroupNode(members)
        for gid, node in graph.groups.items():
            for member in node.members:
                graph._parents.setdefault(member, set()).add(gid)
        return graph

    def direct_groups_of(self, member_id: str) -> list[str]:
        return sorted(self._parents.get(member_id, ()))

    def all_groups_of(self, member_id: str) -> list[str]:
        """Every group ``member_id`` belongs to, directly or through nested groups."""
        cached = self._all_groups.get(member_id)
        if cached is not None:
            return cached
        found: set[str] = set()
        stack = list(self._parents.get(member_id, ()))
        while stack:
            gid = stack.pop()
            if gid in found:
                continue
            found.add(gid)
            stack.extend(self._parents.get(gid, ()))
        result = sorted(found - {member_id})
        self._all_groups[member_id] = result
        return result

    def effective_users(self, group_id: str) -> list[str]:
        """Users in ``group_id`` directly or through nested groups."""
        cached = self._effective.get(group_id)
        if cached is not None:
            return cached
        users: set[str] = set()
        seen: set[str] = set()
        stack = [group_id]
        while stack:
            gid = stack.pop()
            if gid in seen:
                continue
            seen.add(gid)
            for member in self.groups.get(gid, GroupNode()).members:
                if member in self.groups:
                    stack.append(member)
                elif member in self.users:
                    users.add(member)
        result = sorted(users)
        self._effective[group_id] = result
        return result

    def digest(self) -> str:
        """Fingerprint of every group's direct and effective membership.

        An incremental read compares it with the saved one: when memberships changed, every
        record whose resolved groups may have changed is read again (a change to a nested
        group does not touch the entries of the users it brings in).
        """
        canonical = [
            [gid, sorted(self.groups[gid].members), self.effective_users(gid)]
            for gid in sorted(self.groups)
        ]
        data = json.dumps(canonical, separators=(",", ":")).encode()
        return hashlib.sha256(data).hexdigest()[:32]
