"""The built-in LDAP / Active Directory connector (see docs/connectors/ldap.md)."""

from connectors.builtin.ldap.config import LdapConfig
from connectors.builtin.ldap.connector import MAPPINGS_DIR, LdapConnector

__all__ = ["MAPPINGS_DIR", "LdapConfig", "LdapConnector"]
