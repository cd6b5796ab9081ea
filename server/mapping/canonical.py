"""The canonical evidence model: JSON Schemas (2020-12) of the entities SimpleTrust consumes.

Schemas live in ``resources/canonical/`` (one ``<entity>.schema.json`` each, plus shared
definitions under ``defs/``). ``load_entity_schema`` returns a self-contained (bundled) schema:
the shared provenance schema is embedded under ``$defs`` with its ``$id``, so any 2020-12
validator resolves the reference without a registry.

The folder is found, in order: ``$SIMPLETRUST_RESOURCES/canonical``; ``resources/canonical``
in the source tree; ``share/simpletrust/resources/canonical`` under the installation prefix
(where package data files go). Ship that folder with the package.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import sysconfig
from functools import cache
from pathlib import Path
from typing import Any

ENV_VAR = "SIMPLETRUST_RESOURCES"
_SUFFIX = ".schema.json"
# Filled in by the sync engine, never by a mapping.
ENGINE_FIELDS = frozenset({"provenance"})


class UnknownEntityError(KeyError):
    """No canonical schema of that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown entity type"


def _candidates() -> list[Path]:
    out: list[Path] = []
    env = os.environ.get(ENV_VAR)
    if env:
        out.append(Path(env) / "canonical")
    out.append(Path(__file__).resolve().parents[2] / "resources" / "canonical")
    for prefix in {sys.prefix, sysconfig.get_path("data")}:
        out.append(Path(prefix) / "share" / "simpletrust" / "resources" / "canonical")
    return out


@cache
def canonical_dir() -> Path:
    """The folder holding the canonical schemas (FileNotFoundError lists where it looked)."""
    candidates = _candidates()
    for folder in candidates:
        if (folder / f"identity{_SUFFIX}").is_file():
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"canonical schemas not found; looked in: {looked}")


@cache
def entity_types() -> tuple[str, ...]:
    """Names of the canonical entity types, sorted."""
    return tuple(sorted(p.name[: -len(_SUFFIX)] for p in canonical_dir().glob(f"*{_SUFFIX}")))


@cache
def _read(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((canonical_dir() / relative).read_text(encoding="utf-8"))
    return data


@cache
def _bundled(name: str) -> dict[str, Any]:
    if name not in entity_types():
        known = ", ".join(entity_types())
        raise UnknownEntityError(f"unknown entity type '{name}' (known: {known})")
    schema = copy.deepcopy(_read(f"{name}{_SUFFIX}"))
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    for ref in sorted(_external_refs(schema)):
        defs[Path(ref).name[: -len(_SUFFIX)]] = copy.deepcopy(_read(ref))
    return schema


def _external_refs(node: Any) -> set[str]:
    refs: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            refs.add(ref)
        for value in node.values():
            refs |= _external_refs(value)
    elif isinstance(node, list):
        for value in node:
            refs |= _external_refs(value)
    return refs


def load_entity_schema(name: str) -> dict[str, Any]:
    """The bundled JSON Schema of entity ``name`` (a fresh copy: callers may modify it)."""
    return copy.deepcopy(_bundled(name))


def required_fields(name: str) -> list[str]:
    """Fields a mapping must produce for ``name`` (the schema's required list, minus
    ``provenance``, which the sync engine adds)."""
    return [f for f in _bundled(name).get("required", []) if f not in ENGINE_FIELDS]


def field_names(name: str) -> list[str]:
    """Top-level fields a mapping may produce for ``name``, in schema order."""
    return [f for f in _bundled(name).get("properties", {}) if f not in ENGINE_FIELDS]
