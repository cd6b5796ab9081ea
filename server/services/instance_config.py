"""Instance configuration at rest: the connector's secret fields are sealed by the vault.

A connector's config schema marks secret properties (``writeOnly`` / ``format: password``).
Their values are moved into a sealed envelope under ``SEALED`` in the stored configuration;
the API shows only the public fields and a masked hint per secret, and keeps a stored secret
when an update leaves it out. The engine opens the envelope when it builds the connector.
"""

from __future__ import annotations

from typing import Any

from connectors.sdk.auth.models import masked_hint
from connectors.sdk.fields import is_secret_schema
from server.vault import Vault

SEALED = "__sealed__"


def secret_properties(schema: dict[str, Any]) -> set[str]:
    props = (schema or {}).get("properties") or {}
    return {name for name, spec in props.items()
            if isinstance(spec, dict) and (is_secret_schema(spec) or any(
                isinstance(alt, dict) and is_secret_schema(alt)
                for alt in spec.get("anyOf", [])))}


def public(configuration: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (configuration or {}).items() if k != SEALED}


def _secrets(vault: Vault, instance_id: str, configuration: dict[str, Any]) -> dict[str, Any]:
    sealed = (configuration or {}).get(SEALED)
    return vault.open(instance_id, sealed["envelope"]) if sealed else {}


def opened(vault: Vault, instance_id: str, configuration: dict[str, Any]) -> dict[str, Any]:
    """The whole configuration with secrets revealed (for the connector only)."""
    return {**public(configuration), **_secrets(vault, instance_id, configuration)}


def hints(vault: Vault, instance_id: str, configuration: dict[str, Any]) -> dict[str, str]:
    return {k: masked_hint(str(v)) or "••••"
            for k, v in _secrets(vault, instance_id, configuration).items()
            if v not in (None, "")}


def seal(
    vault: Vault, instance_id: str, schema: dict[str, Any], incoming: dict[str, Any],
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The configuration to store: public fields in clear, secrets sealed. Secrets that the
    update leaves out (or sends empty) keep their stored value."""
    names = secret_properties(schema)
    kept = _secrets(vault, instance_id, stored or {})
    secrets = {k: v for k, v in kept.items() if k in names}
    for name in names:
        if incoming.get(name) not in (None, ""):
            secrets[name] = incoming[name]
    result = {k: v for k, v in incoming.items() if k not in names and k != SEALED}
    if secrets:
        # The field names stay readable (they are not secret) for completeness checks.
        result[SEALED] = {"fields": sorted(secrets),
                          "envelope": vault.seal(instance_id, secrets)}
    return result


def completeness_view(configuration: dict[str, Any]) -> dict[str, Any]:
    """Public fields plus a placeholder per sealed secret (for required-field checks)."""
    sealed = (configuration or {}).get(SEALED) or {}
    names = sealed.get("fields", []) if isinstance(sealed, dict) else []
    return {**public(configuration), **dict.fromkeys(names, "<sealed>")}
