"""The built-in LDAP / Active Directory connector (Directory).

Reads users (enabled or not, last logon, manager, title, department), groups with nested
membership resolved, and OUs as the organisation structure, from OpenLDAP or Active Directory
over LDAP, LDAPS or StartTLS, bound as a read-only service account (bind DN + password from
the auth layer's :class:`~connectors.sdk.auth.LdapBind`; anonymous when none is given).
See docs/connectors/ldap.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from connectors.builtin.ldap.client import LdapClient, SearchBaseError
from connectors.builtin.ldap.config import LdapConfig
from connectors.builtin.ldap.streams import (
    GroupsStream,
    LdapDirectory,
    OrgUnitsStream,
    UsersStream,
)
from connectors.sdk.auth.credentials import LdapBind
from connectors.sdk.connector import Connector
from connectors.sdk.errors import ConfigError, PermissionDeniedError
from connectors.sdk.metadata import AuthMethod, ConnectorMetadata, SystemType
from connectors.sdk.streams import Stream

__all__ = ["MAPPINGS_DIR", "LdapConnector"]

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"


class LdapConnector(Connector[LdapConfig]):
    """OpenLDAP and Active Directory: identities, groups (nested) and org units."""

    metadata: ClassVar[ConnectorMetadata] = ConnectorMetadata(
        key="ldap",
        name="LDAP / Active Directory",
        description="Users, groups (nested memberships resolved) and organisational units "
        "from OpenLDAP or Active Directory; incremental by modifyTimestamp / uSNChanged.",
        version="1.0.0",
        system_type=SystemType.DIRECTORY,
        vendor="OpenLDAP / Microsoft",
        author="SimpleTrust",
        auth_methods=(AuthMethod.LDAP_BIND, AuthMethod.NONE),
        api_versions=("3",),
    )
    config_model: ClassVar[type[BaseModel]] = LdapConfig

    def __init__(self, config: LdapConfig | Any, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        credentials = self.credentials
        if credentials is not None and not isinstance(credentials, LdapBind):
            raise ConfigError(
                "The LDAP connector authenticates with a bind DN and password "
                f"(ldap_bind), not {type(credentials).__name__}.",
                hint="Choose the 'ldap_bind' authentication method for this integration.",
            )
        self.client = LdapClient(self.config, credentials, self.context)
        self.directory = LdapDirectory(self.client, self.config.settings())

    async def check_connection(self) -> None:
        await self.client.connect()

    async def check_permissions(self) -> None:
        """Read one entry under each search base: a bind that can see nothing is useless."""
        s = self.directory.settings
        empty: list[str] = []
        for what, base, search_filter in (
            ("users", s.user_base, s.user_filter),
            ("groups", s.group_base, s.group_filter),
        ):
            found = False
            try:
                async for page in self.client.search(
                    base, search_filter, ["1.1"], what=what, page_size=1, size_limit=1
                ):
                    found = found or bool(page)
            except SearchBaseError:
                found = False
            if not found:
                empty.append(f"{what} under {base}")
        if empty:
            raise PermissionDeniedError(
                f"The service account sees no {' and no '.join(empty)} (the search base "
                "may not exist, or the account may not read it).",
                hint="Check the search bases and filters, and grant the bind DN read access "
                "to those entries.",
            )

    async def detect_api_version(self) -> str | None:
        """The highest LDAP protocol version the root DSE announces (``supportedLDAPVersion``);
        the connector speaks LDAPv3 only, so a server announcing only v2 is refused."""
        root = await self.client.root_dse(["supportedLDAPVersion"])
        versions = [int(v) for v in (root.values("supportedLDAPVersion") if root else [])
                    if str(v).isdigit()]
        return str(max(versions)) if versions else None

    async def streams(self) -> Sequence[Stream]:
        return [
            UsersStream(self.directory),
            GroupsStream(self.directory),
            OrgUnitsStream(self.directory),
        ]

    async def aclose(self) -> None:
        await self.client.close()
        await super().aclose()
