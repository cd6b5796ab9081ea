"""docs/connectors/ldap.md: its Python example runs, and its configuration table names
every config field."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.builtin.ldap import LdapConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "connectors" / "ldap.md"
BLOCK = re.compile(r"^```([\w-]+)\n(.*?)^```", re.S | re.M)


def test_python_example_runs() -> None:
    [example] = [body for lang, body in BLOCK.findall(DOC.read_text()) if lang == "python"]
    exec(compile(example, str(DOC), "exec", dont_inherit=True), {"__name__": "docs_ldap"})


def test_every_config_field_is_documented() -> None:
    text = DOC.read_text()
    missing = [name for name in LdapConfig.model_fields if f"`{name}`" not in text]
    assert missing == []
