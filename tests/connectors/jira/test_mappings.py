"""Every Jira stream has a default mapping that maps the simulator's records (Cloud and
Server shapes) to valid canonical records."""

from __future__ import annotations

import jsonschema
import pytest

from connectors.builtin.jira import JiraConnector, default_mappings
from server.mapping import MappingSpec, compile_mapping, load_entity_schema, validate_mapping

from .helpers import read_all

PROVENANCE = {
    "instance_id": "demo", "connector": "jira", "connector_version": "1.0.0",
    "stream": "s", "sync_id": "sync-1", "fetched_at": "2026-01-01T00:00:00Z",
    "content_hash": "0" * 64,
}
SPECS = [MappingSpec.model_validate(m) for m in default_mappings()]


def test_every_stream_has_a_default_mapping() -> None:
    assert {s.source for s in SPECS} == {"jira.issues", "jira.users", "jira.projects"}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.source}->{s.target}")
async def test_mapping_maps_every_record_to_a_canonical_one(
    spec: MappingSpec, connector: JiraConnector
) -> None:
    assert [p for p in validate_mapping(spec) if p.severity == "error"] == []
    compiled = compile_mapping(spec)
    validator = jsonschema.Draft202012Validator(
        load_entity_schema(spec.target),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    records, _ = await read_all(connector, spec.source.removeprefix("jira."))
    assert records
    for record in records:
        result = compiled.apply(record)
        assert result.errors == [], (record.get("id"), result.errors)
        assert result.output is not None
        errors = [e.message for e in validator.iter_errors(
            {**result.output, "provenance": PROVENANCE})]
        assert errors == [], (record.get("id"), errors)
