"""The LDAP streams: ``users``, ``groups`` and ``org_units``.

``users`` and ``groups`` are incremental: OpenLDAP by ``modifyTimestamp`` (refined to the
microsecond with ``entryCSN`` when the server keeps it), Active Directory by ``uSNChanged``.
Group nesting is resolved on every read from the whole group graph, whose fingerprint is
kept in the state: when memberships changed since the last read, the next incremental read
re-reads every record (adding a group to another changes the resolved memberships of users
whose own entries did not change). ``org_units`` is small and always read in full.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from connectors.builtin.ldap.client import LdapClient
from connectors.builtin.ldap.config import DirectorySettings
from connectors.builtin.ldap.entries import (
    Entry,
    GroupGraph,
    generalized_time,
    group_record,
    org_unit_records,
    user_record,
)
from connectors.sdk.messages import ReadMessage, StateMessage
from connectors.sdk.streams import Stream, SyncMode

__all__ = ["GroupsStream", "LdapDirectory", "OrgUnitsStream", "UsersStream"]

_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_IDS = {"type": "array", "items": {"type": "string"}}

_COMMON: dict[str, Any] = {
    "id": {**_TEXT, "description": "Normalised DN (lower case); what references point at."},
    "dn": {**_TEXT, "description": "The entry's DN as the server spells it."},
    "uuid": {**_TEXT_OR_NULL, "description": "entryUUID (OpenLDAP) or objectGUID (AD)."},
    "created_at": _TIME_OR_NULL,
    "modified_at": _TIME_OR_NULL,
    "usn_changed": {"type": ["integer", "null"], "description": "AD update sequence number."},
}


def _schema(properties: Mapping[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {**_COMMON, **properties},
        "required": required,
    }


USER_SCHEMA = _schema(
    {
        "username": _TEXT,
        "user_principal_name": _TEXT_OR_NULL,
        "email": _TEXT_OR_NULL,
        "display_name": _TEXT_OR_NULL,
        "given_name": _TEXT_OR_NULL,
        "family_name": _TEXT_OR_NULL,
        "title": _TEXT_OR_NULL,
        "department": _TEXT_OR_NULL,
        "employee_id": _TEXT_OR_NULL,
        "manager_id": {**_TEXT_OR_NULL, "description": "id of the manager's entry."},
        "enabled": {"type": "boolean"},
        "disabled_reason": _TEXT_OR_NULL,
        "last_logon": _TIME_OR_NULL,
        "org_unit_id": {**_TEXT_OR_NULL, "description": "id of the parent entry (an OU)."},
        "member_of": {**_IDS, "description": "Groups the user is a direct member of."},
        "member_of_all": {**_IDS, "description": "Groups, direct or through nested groups."},
        "object_classes": _IDS,
        "attributes": {"type": "object", "description": "The configured extra attributes."},
    },
    ["id", "dn", "username", "enabled", "member_of", "member_of_all"],
)

GROUP_SCHEMA = _schema(
    {
        "name": _TEXT,
        "description": _TEXT_OR_NULL,
        "email": _TEXT_OR_NULL,
        "group_type": {"type": ["string", "null"], "enum": ["security", "distribution", None]},
        "manager_id": _TEXT_OR_NULL,
        "org_unit_id": _TEXT_OR_NULL,
        "member_ids": {**_IDS, "description": "Direct members (users, groups, other)."},
        "member_user_ids": _IDS,
        "member_group_ids": {**_IDS, "description": "Directly nested groups."},
        "other_member_ids": {**_IDS, "description": "Members that are neither (contacts…)."},
        "parent_group_ids": {**_IDS, "description": "Groups this group is a member of."},
        "effective_member_ids": {**_IDS, "description": "Users, direct or nested."},
        "member_count": {"type": "integer", "minimum": 0},
    },
    ["id", "dn", "name", "member_ids", "effective_member_ids", "member_count"],
)

ORG_UNIT_SCHEMA = _schema(
    {
        "name": _TEXT,
        "description": _TEXT_OR_NULL,
        "parent_id": {**_TEXT_OR_NULL, "description": "id of the parent OU (None at the top)."},
        "path": {**_TEXT, "description": "'/People/Engineering/Platform'"},
        "depth": {"type": "integer", "minimum": 1},
        "manager_id": _TEXT_OR_NULL,
    },
    ["id", "dn", "name", "path", "depth"],
)


class LdapDirectory:
    """What the streams share: the client, the resolved settings, and graph loading."""

    def __init__(self, client: LdapClient, settings: DirectorySettings) -> None:
        self.client = client
        self.settings = settings

    async def entries(
        self, base: str, search_filter: str, attributes: list[str], what: str
    ) -> AsyncIterator[Entry]:
        async for page in self.client.search(
            base, search_filter, attributes, what=what, page_size=self.settings.page_size
        ):
            for entry in page:
                yield entry

    async def graph(self) -> GroupGraph:
        """Every group with its members, and the ids of every user (DNs only)."""
        s = self.settings
        user_ids = [e.id async for e in self.entries(s.user_base, s.user_filter, ["1.1"], "users")]
        groups = [
            e async for e in self.entries(
                s.group_base, s.group_filter, ["member", "uniqueMember"], "groups"
            )
        ]
        return GroupGraph.build(groups, user_ids)

    def changed_filter(self, base_filter: str, cursor: Any | None) -> str:
        """``base_filter`` narrowed to entries changed at or after ``cursor``."""
        if cursor is None:
            return base_filter
        if self.settings.is_ad:
            return f"(&{base_filter}(uSNChanged>={int(cursor)}))"
        since = generalized_time(str(cursor))
        return f"(&{base_filter}({self.settings.modified_attribute}>={since}))"


class _GraphStream(Stream):
    """Incremental by the change cursor, re-read in full when memberships changed."""

    detects_deletions = True

    def __init__(self, directory: LdapDirectory) -> None:
        self.directory = directory
        self.cursor_field = directory.settings.cursor_field
        self._graph: GroupGraph | None = None

    async def read(
        self, state: Mapping[str, Any] | None = None, sync_mode: SyncMode | None = None
    ) -> AsyncIterator[ReadMessage]:
        self._graph = await self.directory.graph()
        digest = self._graph.digest()
        saved = dict(state or {})
        if saved.get("groups_digest") != digest:
            saved = {}  # memberships changed: every resolved membership may have changed
        async for message in super().read(saved or None, sync_mode):
            if isinstance(message, StateMessage):
                yield StateMessage(message.stream, {**message.state, "groups_digest": digest})
            else:
                yield message

    @property
    def graph(self) -> GroupGraph:
        assert self._graph is not None, "read() loads the group graph first"
        return self._graph


class UsersStream(_GraphStream):
    name = "users"
    description = "User accounts: state, manager, title, department, direct and nested groups."
    json_schema = USER_SCHEMA
    primary_key = ("id",)

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        s = self.directory.settings
        search_filter = self.directory.changed_filter(s.user_filter, cursor)
        async for entry in self.directory.entries(
            s.user_base, search_filter, s.user_attributes(), "users"
        ):
            yield user_record(entry, s, self.graph)


class GroupsStream(_GraphStream):
    name = "groups"
    description = "Groups with direct members, nested groups and effective (resolved) members."
    json_schema = GROUP_SCHEMA
    primary_key = ("id",)

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        s = self.directory.settings
        search_filter = self.directory.changed_filter(s.group_filter, cursor)
        async for entry in self.directory.entries(
            s.group_base, search_filter, s.group_attributes(), "groups"
        ):
            yield group_record(entry, s, self.graph)


class OrgUnitsStream(Stream):
    name = "org_units"
    description = "Organisational units as a tree (parent links and paths)."
    json_schema = ORG_UNIT_SCHEMA
    primary_key = ("id",)
    detects_deletions = True

    def __init__(self, directory: LdapDirectory) -> None:
        self.directory = directory

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        s = self.directory.settings
        entries = [
            e async for e in self.directory.entries(
                s.ou_base, s.ou_filter, s.ou_attributes(), "organizational units"
            )
        ]
        for record in org_unit_records(entries, s):
            yield record
