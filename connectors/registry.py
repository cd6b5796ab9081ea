"""Connector discovery: built-ins, third-party packages and declarative specs, by key.

Pure Python: it returns connector classes and their description; syncing them into
IntegrationConnector rows and serving them over HTTP is the agent's job.

Connectors are found through the entry-point group ``simpletrust.connectors``, built-ins
included (an entry point names a ``Connector`` subclass)::

    [project.entry-points."simpletrust.connectors"]
    acme = "acme_connector:AcmeConnector"

Built-ins are also imported directly (:data:`BUILTIN_CONNECTORS`), so they are present even
when the package's own entry points are not installed. A broken plugin never breaks
discovery: it is reported in :attr:`DiscoveryResult.problems` and left out.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from connectors.declarative.engine import build_connector_class
from connectors.declarative.spec import DeclarativeSpec
from connectors.sdk.connector import Connector
from connectors.sdk.errors import ConnectorError
from connectors.sdk.metadata import ConnectorMetadata

__all__ = [
    "BUILTIN_CONNECTORS",
    "ENTRY_POINT_GROUP",
    "ConnectorEntry",
    "ConnectorSource",
    "DiscoveryResult",
    "LoadProblem",
    "discover_connectors",
]

ENTRY_POINT_GROUP = "simpletrust.connectors"
BUILTIN_PREFIX = "connectors.builtin."
OWN_DISTRIBUTION = "simpletrust-integrations"
BUILTIN_CONNECTORS: tuple[str, ...] = (
    "connectors.builtin.generic_rest:GenericRestConnector",
    "connectors.builtin.file_import:FileImportConnector",
    "connectors.builtin.github:GitHubConnector",
    "connectors.builtin.jira:JiraConnector",
    "connectors.builtin.splunk:SplunkConnector",
    "connectors.builtin.aws:AwsConnector",
    "connectors.builtin.ldap:LdapConnector",
)

ConnectorClass = type[Connector[Any]]


class ConnectorSource(enum.StrEnum):
    BUILTIN = "builtin"
    PLUGIN = "plugin"
    DECLARATIVE = "declarative"


@dataclass(frozen=True)
class ConnectorEntry:
    """One discovered connector type."""

    connector_class: ConnectorClass
    source: ConnectorSource
    origin: str  # "module:Class", or "declarative"
    distribution: str | None = None  # "acme-connector 1.0.2" for plugins

    @property
    def key(self) -> str:
        return self.connector_class.metadata.key

    @property
    def metadata(self) -> ConnectorMetadata:
        return self.connector_class.metadata

    @property
    def is_built_in(self) -> bool:
        return self.source is ConnectorSource.BUILTIN

    def describe(self) -> dict[str, Any]:
        """Metadata, config schema, capabilities and provenance (JSON-able)."""
        return {
            **self.connector_class.describe(),
            "source": self.source.value,
            "origin": self.origin,
            "distribution": self.distribution,
            "is_built_in": self.is_built_in,
        }


@dataclass(frozen=True)
class LoadProblem:
    """A connector that could not be loaded, and why (shown to admins, logged)."""

    origin: str
    message: str


@dataclass
class DiscoveryResult:
    connectors: dict[str, ConnectorEntry] = field(default_factory=dict)
    problems: list[LoadProblem] = field(default_factory=list)

    def __getitem__(self, key: str) -> ConnectorEntry:
        return self.connectors[key]

    def __contains__(self, key: object) -> bool:
        return key in self.connectors

    def classes(self) -> dict[str, ConnectorClass]:
        return {key: entry.connector_class for key, entry in self.connectors.items()}

    def _add(self, entry: ConnectorEntry) -> None:
        existing = self.connectors.get(entry.key)
        if existing is not None:
            self.problems.append(
                LoadProblem(
                    entry.origin,
                    f"connector key {entry.key!r} is already provided by {existing.origin}; "
                    "this one is ignored",
                )
            )
            return
        self.connectors[entry.key] = entry


def _validate(obj: Any, origin: str) -> ConnectorClass:
    if not (isinstance(obj, type) and issubclass(obj, Connector)):
        raise TypeError(f"{origin} is not a Connector subclass")
    if not isinstance(getattr(obj, "metadata", None), ConnectorMetadata):
        raise TypeError(f"{origin} has no ConnectorMetadata in 'metadata'")
    if getattr(obj, "config_model", None) is None:
        raise TypeError(f"{origin} has no 'config_model'")
    if getattr(obj, "__abstractmethods__", None):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise TypeError(f"{origin} does not implement {missing}")
    obj.config_schema()  # must produce a JSON Schema
    return obj


def _load_reference(reference: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else []:
        target = getattr(target, part)
    return target


def _is_builtin(ep: EntryPoint) -> bool:
    dist = getattr(ep, "dist", None)
    dist_name = (getattr(dist, "name", None) or "").lower().replace("_", "-")
    return ep.value.startswith(BUILTIN_PREFIX) or dist_name == OWN_DISTRIBUTION


def _distribution(ep: EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None
    return f"{dist.name} {dist.version}"


def _try(result: DiscoveryResult, origin: str, load: Any) -> Any:
    """Run ``load``; a plugin's failure of any kind becomes a LoadProblem, not a crash."""
    try:
        return load()
    except Exception as exc:  # noqa: BLE001 - third-party code can fail in any way
        message = str(exc) if isinstance(exc, (ConnectorError, TypeError)) else repr(exc)
        result.problems.append(LoadProblem(origin, f"could not be loaded: {message}"))
        return None


def discover_connectors(
    *,
    allow_third_party: bool = True,
    declarative_specs: Iterable[DeclarativeSpec | Mapping[str, Any] | str] = (),
    entry_point_list: Iterable[EntryPoint] | None = None,
) -> DiscoveryResult:
    """Find every available connector type, keyed by ``metadata.key``.

    Args:
        allow_third_party: False ignores entry points of other distributions (the agent's
            "disable third-party plugins" setting); built-ins and declarative specs stay.
        declarative_specs: specs (dicts, YAML/JSON text or parsed) registered by admins.
        entry_point_list: entry points to use instead of the installed ones (tests).

    Order of precedence on a key clash: built-in, then plugin, then declarative.
    """
    result = DiscoveryResult()
    points = list(
        entry_point_list
        if entry_point_list is not None
        else entry_points(group=ENTRY_POINT_GROUP)
    )
    builtin_refs = list(BUILTIN_CONNECTORS)
    for ep in points:
        if _is_builtin(ep) and ep.value not in builtin_refs:
            builtin_refs.append(ep.value)
    for reference in builtin_refs:
        cls = _try(result, reference, lambda r=reference: _validate(_load_reference(r), r))
        if cls is not None:
            result._add(ConnectorEntry(cls, ConnectorSource.BUILTIN, reference))
    if allow_third_party:
        for ep in sorted((p for p in points if not _is_builtin(p)), key=lambda p: p.name):
            origin = f"{ep.value} (entry point {ep.name!r})"
            cls = _try(result, origin, lambda e=ep, o=origin: _validate(e.load(), o))
            if cls is not None:
                result._add(
                    ConnectorEntry(cls, ConnectorSource.PLUGIN, ep.value, _distribution(ep))
                )
    for index, spec in enumerate(declarative_specs):
        origin = f"declarative spec #{index}"
        cls = _try(result, origin, lambda s=spec: build_connector_class(s))
        if cls is not None:
            result._add(ConnectorEntry(cls, ConnectorSource.DECLARATIVE, "declarative"))
    return result
