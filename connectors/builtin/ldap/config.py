"""Configuration of the LDAP / Active Directory connector, with per-flavour defaults.

Everything has a sensible default for the chosen ``flavor``; an admin normally gives only the
URL, the base DN and (for OpenLDAP) how a disabled account is marked. ``settings()`` resolves
the defaults into one :class:`DirectorySettings` the rest of the connector reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DirectorySettings", "Flavor", "LdapConfig"]

Flavor = Literal["openldap", "active_directory"]

_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*(;[A-Za-z0-9-]+)*$")
_DN = re.compile(r"^[A-Za-z][A-Za-z0-9-]*=.+")


def _check_dn(value: str | None) -> str | None:
    if value is not None and not _DN.match(value.strip()):
        raise ValueError("must be a distinguished name like 'dc=example,dc=org'")
    return value.strip() if value is not None else None


def _check_filter(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not (text.startswith("(") and text.endswith(")")) or text.count("(") != text.count(")"):
        raise ValueError("must be an LDAP filter in parentheses, e.g. '(objectClass=person)'")
    return text


class LdapConfig(BaseModel):
    """What an admin fills in. Credentials (bind DN + password) come from the auth layer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(
        description="ldap://host[:port] or ldaps://host[:port] (LDAPS, default port 636)."
    )
    base_dn: str = Field(description="Where to search, e.g. 'dc=example,dc=org'.")
    flavor: Flavor = Field(
        "openldap",
        description="'active_directory' reads userAccountControl, uSNChanged, objectGUID, "
        "sAMAccountName; 'openldap' reads modifyTimestamp, entryUUID, uid.",
    )
    start_tls: bool = Field(False, description="Upgrade an ldap:// connection with StartTLS.")
    ca_certificate_pem: str | None = Field(
        None, description="CA certificate(s) (PEM) to trust for LDAPS / StartTLS."
    )
    user_base_dn: str | None = Field(None, description="Search base for users (default: base).")
    group_base_dn: str | None = Field(None, description="Search base for groups (default: base).")
    ou_base_dn: str | None = Field(None, description="Search base for OUs (default: base).")
    user_filter: str | None = Field(None, description="LDAP filter selecting user entries.")
    group_filter: str | None = Field(None, description="LDAP filter selecting group entries.")
    ou_filter: str | None = Field(None, description="LDAP filter selecting OUs.")
    page_size: int = Field(500, ge=1, le=5000, description="Simple paged results page size.")
    username_attribute: str | None = Field(None, description="Login name attribute.")
    department_attribute: str | None = Field(None, description="Department attribute.")
    disabled_attribute: str | None = Field(
        None,
        description="OpenLDAP: attribute marking a disabled account (default: the ppolicy "
        "overlay's pwdAccountLockedTime). Active Directory uses userAccountControl.",
    )
    disabled_values: list[str] = Field(
        default_factory=list,
        description="Values of disabled_attribute meaning 'disabled' (case-insensitive); "
        "empty: any value means disabled.",
    )
    last_logon_attribute: str | None = Field(
        None,
        description="Last logon time (default: AD lastLogonTimestamp; OpenLDAP authTimestamp "
        "from the lastbind overlay).",
    )
    extra_attributes: list[str] = Field(
        default_factory=list, description="More user attributes to copy into 'attributes'."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname:
            raise ValueError("must be ldap://host[:port] or ldaps://host[:port]")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if parts.path not in ("", "/") or parts.query or parts.username or parts.password:
            raise ValueError("must not contain a path, query or user information")
        return value

    @field_validator("base_dn", "user_base_dn", "group_base_dn", "ou_base_dn")
    @classmethod
    def _dn(cls, value: str | None) -> str | None:
        return _check_dn(value)

    @field_validator("user_filter", "group_filter", "ou_filter")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        return _check_filter(value)

    @field_validator(
        "username_attribute", "department_attribute", "disabled_attribute", "last_logon_attribute"
    )
    @classmethod
    def _attribute(cls, value: str | None) -> str | None:
        if value is not None and not _ATTRIBUTE.match(value):
            raise ValueError("must be an attribute name like 'employeeType'")
        return value

    @field_validator("extra_attributes")
    @classmethod
    def _attributes(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _ATTRIBUTE.match(v)]
        if bad:
            raise ValueError(f"not attribute names: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _tls(self) -> LdapConfig:
        if self.start_tls and self.url.lower().startswith("ldaps://"):
            raise ValueError("start_tls: use either ldaps:// or StartTLS, not both")
        return self

    @property
    def use_ssl(self) -> bool:
        return self.url.lower().startswith("ldaps://")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (636 if self.use_ssl else 389)

    def settings(self) -> DirectorySettings:
        ad = self.flavor == "active_directory"
        base = self.base_dn
        if ad:
            defaults = DirectorySettings(
                flavor=self.flavor,
                user_base=self.user_base_dn or base,
                group_base=self.group_base_dn or base,
                ou_base=self.ou_base_dn or base,
                user_filter="(&(objectCategory=person)(objectClass=user))",
                group_filter="(objectClass=group)",
                ou_filter="(objectClass=organizationalUnit)",
                username_attribute="sAMAccountName",
                department_attribute="department",
                employee_id_attribute="employeeID",
                uuid_attribute="objectGUID",
                disabled_attribute=None,
                last_logon_attribute="lastLogonTimestamp",
                created_attribute="whenCreated",
                modified_attribute="whenChanged",
            )
        else:
            defaults = DirectorySettings(
                flavor=self.flavor,
                user_base=self.user_base_dn or base,
                group_base=self.group_base_dn or base,
                ou_base=self.ou_base_dn or base,
                user_filter="(|(objectClass=inetOrgPerson)(objectClass=posixAccount))",
                group_filter="(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
                ou_filter="(objectClass=organizationalUnit)",
                username_attribute="uid",
                department_attribute="departmentNumber",
                employee_id_attribute="employeeNumber",
                uuid_attribute="entryUUID",
                disabled_attribute="pwdAccountLockedTime",
                last_logon_attribute="authTimestamp",
                created_attribute="createTimestamp",
                modified_attribute="modifyTimestamp",
            )
        return DirectorySettings(
            **{
                **defaults.__dict__,
                "user_filter": self.user_filter or defaults.user_filter,
                "group_filter": self.group_filter or defaults.group_filter,
                "ou_filter": self.ou_filter or defaults.ou_filter,
                "username_attribute": self.username_attribute or defaults.username_attribute,
                "department_attribute": self.department_attribute
                or defaults.department_attribute,
                "disabled_attribute": self.disabled_attribute or defaults.disabled_attribute,
                "disabled_values": tuple(v.lower() for v in self.disabled_values),
                "last_logon_attribute": self.last_logon_attribute
                or defaults.last_logon_attribute,
                "extra_attributes": tuple(self.extra_attributes),
                "page_size": self.page_size,
            }
        )


@dataclass(frozen=True)
class DirectorySettings:
    """The resolved view of the config: every attribute name and filter the streams use."""

    flavor: Flavor
    user_base: str
    group_base: str
    ou_base: str
    user_filter: str
    group_filter: str
    ou_filter: str
    username_attribute: str
    department_attribute: str
    employee_id_attribute: str
    uuid_attribute: str
    disabled_attribute: str | None
    last_logon_attribute: str | None
    created_attribute: str
    modified_attribute: str
    disabled_values: tuple[str, ...] = ()
    extra_attributes: tuple[str, ...] = ()
    page_size: int = 500

    @property
    def is_ad(self) -> bool:
        return self.flavor == "active_directory"

    @property
    def cursor_field(self) -> str:
        """AD: the update sequence number; elsewhere: the change time (microseconds)."""
        return "usn_changed" if self.is_ad else "modified_at"

    def user_attributes(self) -> list[str]:
        names = [
            "objectClass", "cn", "displayName", "givenName", "sn", "mail", "title",
            "manager", "memberOf", self.username_attribute, self.department_attribute,
            self.employee_id_attribute, self.uuid_attribute, self.created_attribute,
            self.modified_attribute, *self.extra_attributes,
        ]
        if self.is_ad:
            names += ["userAccountControl", "uSNChanged", "userPrincipalName"]
        else:
            names += ["entryCSN"]
        for optional in (self.disabled_attribute, self.last_logon_attribute):
            if optional:
                names.append(optional)
        return list(dict.fromkeys(names))

    def group_attributes(self) -> list[str]:
        names = [
            "objectClass", "cn", "description", "mail", "member", "uniqueMember",
            self.uuid_attribute, self.created_attribute, self.modified_attribute,
        ]
        names += ["groupType", "uSNChanged", "managedBy"] if self.is_ad else ["entryCSN"]
        return list(dict.fromkeys(names))

    def ou_attributes(self) -> list[str]:
        names = [
            "objectClass", "ou", "description", self.uuid_attribute,
            self.created_attribute, self.modified_attribute,
        ]
        names += ["managedBy", "uSNChanged"] if self.is_ad else ["entryCSN"]
        return list(dict.fromkeys(names))
