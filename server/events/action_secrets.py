"""Secrets inside a subscription's ``action_config`` (the Slack webhook URL), sealed at rest.

A Slack incoming-webhook URL carries its token in the path, so it is a secret like any
credential. It is kept in the ``action_config`` JSON column itself, the way
:mod:`server.services.instance_config` keeps connector secrets: public fields in clear and
the secrets under ``SEALED``::

    {"message": "...", "__sealed__": {
        "fields": ["slack_url"],                               # declared secrets
        "hints": {"slack_url": "https://hooks.slack.com/…"},   # what the API shows
        "envelope": <vault envelope of {"slack_url": "https://hooks.slack.com/services/..."}>}}

A field may be declared without a value (a configuration import names it, the value is bound
later through the API): it is in ``fields`` but not in ``hints`` nor the envelope.
Values saved before sealing existed (plain ``slack_url``) are still read, and sealed on the
next write.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from server.vault import Vault

SEALED = "__sealed__"
#: The secret fields of each action type's configuration.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {"notification": ("slack_url",)}
_ALL = frozenset(name for names in SECRET_FIELDS.values() for name in names)


def aad(subscription_id: uuid.UUID | str) -> str:
    """Binds the envelope to its subscription (distinct from its signing secrets' binding)."""
    return f"subscription-action:{subscription_id}"


def secret_fields(action_type: Any) -> tuple[str, ...]:
    return SECRET_FIELDS.get(str(getattr(action_type, "value", action_type)), ())


def mask(value: str) -> str:
    """Scheme and host only, e.g. ``https://hooks.slack.com/…``: recognisable, not usable."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return "…"
    return f"{parts.scheme}://{host}/…" if parts.scheme and host else "…"


def _sealed(config: dict[str, Any] | None) -> dict[str, Any]:
    value = (config or {}).get(SEALED)
    return value if isinstance(value, dict) else {}


def public(config: dict[str, Any] | None) -> dict[str, Any]:
    """The configuration without any secret (sealed or legacy plain)."""
    return {k: v for k, v in (config or {}).items() if k != SEALED and k not in _ALL}


def _legacy(config: dict[str, Any] | None) -> dict[str, str]:
    return {k: str(v) for k, v in (config or {}).items() if k in _ALL and v not in (None, "")}


def has_plain(config: dict[str, Any] | None) -> bool:
    """Whether a secret is still stored in clear (saved before sealing; sealed on write)."""
    return bool(_legacy(config))


def declared(config: dict[str, Any] | None) -> list[str]:
    """Names of the secrets the action has, bound or not."""
    names = [str(n) for n in _sealed(config).get("fields", []) if isinstance(n, str)]
    return sorted(set(names) | set(_legacy(config)))


def hints(config: dict[str, Any] | None) -> dict[str, str]:
    """A masked form of each bound secret (for API reads: no vault needed)."""
    stored = _sealed(config).get("hints")
    out = {str(k): str(v) for k, v in stored.items()} if isinstance(stored, dict) else {}
    return {**out, **{k: mask(v) for k, v in _legacy(config).items()}}


def values(vault: Vault, subscription_id: uuid.UUID, config: dict[str, Any] | None
           ) -> dict[str, str]:
    """The bound secrets in clear (for the worker and for merging updates only)."""
    envelope = _sealed(config).get("envelope")
    opened = vault.open(aad(subscription_id), envelope) if envelope else {}
    return {**{str(k): str(v) for k, v in opened.items()}, **_legacy(config)}


def opened(vault: Vault, subscription_id: uuid.UUID, config: dict[str, Any] | None
           ) -> dict[str, Any]:
    """The whole configuration with its secrets revealed, as the action model reads it."""
    return {**public(config), **values(vault, subscription_id, config)}


class Resolved(NamedTuple):
    """An action configuration about to be stored: ``plain`` to validate, then ``sealed``."""

    public: dict[str, Any]
    secrets: dict[str, str]
    declared: frozenset[str]

    @property
    def plain(self) -> dict[str, Any]:
        return {**self.public, **self.secrets}

    def sealed(self, vault: Vault, subscription_id: uuid.UUID) -> dict[str, Any]:
        if not self.declared:
            return dict(self.public)
        box: dict[str, Any] = {"fields": sorted(self.declared),
                               "hints": {k: mask(v) for k, v in sorted(self.secrets.items())}}
        if self.secrets:
            box["envelope"] = vault.seal(aad(subscription_id), dict(self.secrets))
        return {**self.public, SEALED: box}


def resolve(vault: Vault, subscription_id: uuid.UUID, action_type: Any,
            incoming: dict[str, Any], stored: dict[str, Any] | None = None) -> Resolved:
    """Merge an incoming configuration with the stored one, as credential updates do.

    A secret left out of ``incoming`` keeps its stored value (and a value equal to its masked
    hint is taken as left out: a client echoing a read back); ``null`` removes it.
    """
    names = secret_fields(action_type)
    kept = values(vault, subscription_id, stored) if stored else {}
    kept_declared = set(declared(stored)) if stored else set()
    kept_hints = hints(stored) if stored else {}
    secrets: dict[str, str] = {}
    names_declared: set[str] = set()
    for name in names:
        value = incoming.get(name, ...)
        if value is ... or (isinstance(value, str) and value == kept_hints.get(name)):
            if name in kept:
                secrets[name] = kept[name]
            if name in kept_declared:
                names_declared.add(name)
        elif value is not None:
            secrets[name] = value if isinstance(value, str) else str(value)
            names_declared.add(name)
    rest = {k: v for k, v in incoming.items() if k not in names}
    return Resolved(rest, secrets, frozenset(names_declared))
