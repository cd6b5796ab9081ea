"""Every stream has a default mapping that validates and maps the simulator's records to
valid canonical records."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from connectors.builtin.github import GitHubConnector, default_mappings
from server.mapping import MappingSpec, compile_mapping, load_entity_schema, validate_mapping

from .helpers import read_all

PROVENANCE = {
    "instance_id": "demo", "connector": "github", "connector_version": "1.0.0",
    "stream": "s", "sync_id": "sync-1", "fetched_at": "2026-01-01T00:00:00Z",
    "content_hash": "0" * 64,
}
SPECS = [MappingSpec.model_validate(m) for m in default_mappings()]


def test_every_stream_has_a_default_mapping() -> None:
    streams = {"members", "repositories", "branch_protection", "dependabot_alerts",
               "code_scanning_alerts", "workflow_runs"}
    assert {spec.source.removeprefix("github.") for spec in SPECS} == streams


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.source}->{s.target}")
async def test_mapping_validates_and_maps_every_record_to_a_canonical_one(
    spec: MappingSpec, connector: GitHubConnector
) -> None:
    assert [p for p in validate_mapping(spec) if p.severity == "error"] == []
    compiled = compile_mapping(spec)
    validator = jsonschema.Draft202012Validator(
        load_entity_schema(spec.target),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    records, _ = await read_all(connector, spec.source.removeprefix("github."))
    assert records
    outputs: list[dict[str, Any]] = []
    for record in records:
        result = compiled.apply(record)
        assert result.errors == [], (record.get("id"), result.errors)
        assert result.output is not None
        canonical = {**result.output, "provenance": PROVENANCE}
        errors = [e.message for e in validator.iter_errors(canonical)]
        assert errors == [], (record.get("id"), errors)
        outputs.append(result.output)
    if spec.target == "configuration_check":
        statuses = {o["status"] for o in outputs}
        assert statuses == {"pass", "fail"}  # the seeded data has both
