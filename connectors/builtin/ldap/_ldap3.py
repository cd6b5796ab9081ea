"""ldap3, imported once with pyasn1's import-time deprecation warnings silenced.

ldap3 2.9.1 imports ``tagMap``/``typeMap`` from pyasn1, which pyasn1 >= 0.6.1 reports as
deprecated (a ``DeprecationWarning`` at import, nothing at run time). The warning is theirs,
not ours; silencing it here keeps ``-W error`` runs and the agent's logs clean. Import ldap3
through this module everywhere (tests included) so the first import is always this one.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pyasn1\..*")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ldap3\..*")
    import ldap3
    from ldap3 import (
        BASE,
        LEVEL,
        MODIFY_ADD,
        MODIFY_DELETE,
        MODIFY_REPLACE,
        NO_ATTRIBUTES,
        SUBTREE,
        Connection,
        Server,
        Tls,
    )
    from ldap3.core import exceptions as ldap_exceptions
    from ldap3.utils.conv import escape_filter_chars

__all__ = [
    "BASE",
    "LEVEL",
    "MODIFY_ADD",
    "MODIFY_DELETE",
    "MODIFY_REPLACE",
    "NO_ATTRIBUTES",
    "SUBTREE",
    "Connection",
    "Server",
    "Tls",
    "escape_filter_chars",
    "ldap3",
    "ldap_exceptions",
]
