"""Shared by the tests of the connectors run against real peers (AWS on moto, LDAP on slapd):
reading a stream to the end, and applying a connector's shipped default mappings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema

from connectors.sdk import Connector, RecordMessage, SkippedRecordMessage, StateMessage
from server.mapping import MappingSpec, compile_mapping, load_entity_schema

PROVENANCE = {
    "instance_id": "i-1", "connector": "test", "connector_version": "1.0.0",
    "external_api_version": None, "stream": "users", "sync_id": "s-1",
    "fetched_at": "2026-01-01T00:00:00Z", "content_hash": "0" * 64,
}


async def read_all(
    connector: Connector[Any], stream: str, state: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    async for message in connector.read(stream, state):
        if isinstance(message, RecordMessage):
            records.append(message.data)
        elif isinstance(message, StateMessage):
            final = message.state
        elif isinstance(message, SkippedRecordMessage):
            raise AssertionError(f"skipped: {message.reason}")
    return records, final


def map_records(mappings_dir: Path, stream: str, entity: str,
                records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply the shipped default mapping; every output must be a valid canonical entity."""
    spec = MappingSpec.model_validate_json((mappings_dir / f"{stream}.{entity}.json").read_text())
    compiled = compile_mapping(spec)
    validator = jsonschema.Draft202012Validator(
        load_entity_schema(entity), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    out = []
    for record in records:
        result = compiled.apply(record)
        assert result.output is not None, (record.get("id"), result.errors)
        full = {**result.output, "provenance": {**PROVENANCE, "stream": stream}}
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(full)]
        assert errors == [], (record.get("id"), errors)
        out.append(result.output)
    return out


BUILT_INS = ("connectors.builtin.aws:AwsConnector", "connectors.builtin.ldap:LdapConnector")


def register_built_ins(monkeypatch: Any) -> None:
    """Make the agent's registry list the AWS and LDAP connectors.

    Until they are in ``connectors.registry.BUILTIN_CONNECTORS`` (or the package's entry
    points are installed), the end-to-end tests add them for their own duration.
    """
    from connectors import registry  # noqa: PLC0415 - only the end-to-end tests need it

    missing = tuple(ref for ref in BUILT_INS if ref not in registry.BUILTIN_CONNECTORS)
    monkeypatch.setattr(registry, "BUILTIN_CONNECTORS", registry.BUILTIN_CONNECTORS + missing)
