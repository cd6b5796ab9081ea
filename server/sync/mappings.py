"""Which mapping turns a stream's records into evidence, and the version that was run."""

from __future__ import annotations

import functools
import importlib.resources
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, ScalarSelect, Table, literal, select
from sqlalchemy.orm import Session

from server.db.models import DataMapping, DataMappingVersion
from server.mapping import CompiledMapping, MappingSpec, compile_mapping

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedMapping:
    compiled: CompiledMapping
    entity_type: str
    #: Where it came from: {"mapping_id": …, "version": 3} or {"default": "github/users.json"}.
    reference: dict[str, Any]


class StoredMapping(NamedTuple):
    """The columns of a DataMapping row that :func:`resolve_stored` needs, read with other
    rows in one statement (the sync engine's stream open) instead of as an ORM object."""

    id: uuid.UUID
    name: str
    version: str
    direction: str
    source: str
    target: str
    source_schema: dict[str, Any] | None
    target_schema: dict[str, Any] | None
    field_mappings: list[Any] | None
    description: str


_MAPPINGS = cast(Table, DataMapping.__table__)


def active_inbound_id(instance_id: ColumnElement[uuid.UUID], stream: ColumnElement[str]
                      ) -> ScalarSelect[uuid.UUID]:
    """The id of the instance's active inbound mapping of ``stream`` (the oldest, as
    :func:`resolve` picks it), as a scalar subquery to embed in a larger statement."""
    m = _MAPPINGS.c
    return (select(m.id).where(m.instance_id == instance_id, m.is_active.is_(True),
                               m.direction == "inbound", m.source == stream)
            .order_by(m.created_at).limit(1).scalar_subquery())


def spec_of(row: DataMapping | StoredMapping) -> MappingSpec:
    """The MappingSpec a DataMapping row stores (columns hold its parts)."""
    return MappingSpec.model_validate({
        "name": row.name, "version": int(row.version) if row.version.isdigit() else 1,
        "direction": row.direction or "inbound", "source": row.source or row.name,
        "target": row.target or "unknown", "source_schema": row.source_schema or None,
        "target_schema": row.target_schema or None, "fields": row.field_mappings or [],
        "description": row.description or "",
    })


def default_mappings(connector_class: type) -> dict[str, MappingSpec]:
    """Default inbound mappings shipped beside a connector (``mappings/*.json``), by stream."""
    return dict(_package_defaults(_package_of(connector_class)))


def _package_of(connector_class: type) -> str:
    """The package a connector class ships in (its default mappings lie beside it)."""
    return connector_class.__module__.rsplit(".", 1)[0]


@functools.lru_cache(maxsize=256)
def _package_defaults(package: str) -> dict[str, MappingSpec]:
    """Read once per package: they ship with the code, and every sync start asked again."""
    found: dict[str, MappingSpec] = {}
    try:
        folder = importlib.resources.files(package).joinpath("mappings")
        if not folder.is_dir():
            return found
        for item in sorted(folder.iterdir(), key=lambda p: p.name):
            if item.name.endswith(".json"):
                spec = MappingSpec.model_validate(json.loads(item.read_text()))
                if spec.direction == "inbound":
                    found.setdefault(spec.source.rsplit(".", 1)[-1], spec)
    except (ModuleNotFoundError, OSError, ValueError) as exc:
        log.warning("default mappings of %s unreadable: %s", package, exc)
    return found


def resolve(
    session: Session, instance_id: uuid.UUID, stream: str, connector_class: type,
    version: int | None = None,
) -> ResolvedMapping | None:
    """The active inbound mapping of the instance for ``stream``, else the connector's default.

    ``version`` pins an older version (a retried execution reruns what it started with).
    """
    m = _MAPPINGS.c  # the values bound with the columns' own types
    row = session.scalar(select(DataMapping).where(DataMapping.id == active_inbound_id(
        literal(instance_id, m.instance_id.type), literal(stream, m.source.type))))
    return resolve_stored(session, row, stream, connector_class, version)


def resolve_stored(
    session: Session, row: DataMapping | StoredMapping | None, stream: str,
    connector_class: type, version: int | None = None,
) -> ResolvedMapping | None:
    """:func:`resolve` with the instance's mapping row already read (None: it has none)."""
    if row is not None:
        spec = spec_of(row)
        if version is not None and version != spec.version:
            stored = session.scalar(select(DataMappingVersion).where(
                DataMappingVersion.mapping_id == row.id, DataMappingVersion.version == version))
            if stored is not None:
                spec = MappingSpec.model_validate(stored.spec)
        fingerprint = spec.fingerprint()
        return ResolvedMapping(_compiled(spec, fingerprint), spec.target,
                               {"mapping_id": str(row.id), "name": row.name,
                                "version": spec.version, "fingerprint": fingerprint})
    default = _default_resolved(_package_of(connector_class), stream)
    if default is None:
        return None
    return ResolvedMapping(default.compiled, default.entity_type, dict(default.reference))


def default_entity(connector_class: type, stream: str) -> str | None:
    """The entity type the connector's default mapping of ``stream`` writes, if it has one."""
    default = _package_defaults(_package_of(connector_class)).get(stream)
    return default.target if default is not None else None


@functools.lru_cache(maxsize=1024)
def _default_resolved(package: str, stream: str) -> ResolvedMapping | None:
    """A default mapping resolved once (it ships with the code): its fingerprint, a hash of
    its canonical JSON, was computed anew at every sync's start. Callers get a copy of the
    reference, which goes into the execution's row and every record's provenance."""
    default = _package_defaults(package).get(stream)
    if default is None:
        return None
    fingerprint = default.fingerprint()
    return ResolvedMapping(_compiled(default, fingerprint), default.target,
                           {"default": default.name, "version": default.version,
                            "fingerprint": fingerprint})


#: Compiled mappings by fingerprint (the spec's canonical JSON hashed): a CompiledMapping is
#: immutable and thread-safe, and compiling one (analysis, generated code) cost ~0.8 ms of
#: every sync's start, paid 200 times when 200 instances share a mapping and a schedule.
_COMPILED: dict[str, CompiledMapping] = {}
_COMPILED_MAX = 512
_compiled_lock = threading.Lock()


def _compiled(spec: MappingSpec, fingerprint: str) -> CompiledMapping:
    found = _COMPILED.get(fingerprint)
    if found is not None:
        return found
    compiled = compile_mapping(spec)  # raises MappingCompileError: nothing is cached
    with _compiled_lock:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.pop(next(iter(_COMPILED)))  # the oldest entry
        _COMPILED[fingerprint] = compiled
    return compiled
