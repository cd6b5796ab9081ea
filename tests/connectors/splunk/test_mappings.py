"""Every Splunk stream has a default mapping (configured searches share a template) that
maps the simulator's records to valid canonical records."""

from __future__ import annotations

import jsonschema
import pytest

from connectors.builtin.splunk import SplunkConnector, default_mappings
from server.mapping import MappingSpec, compile_mapping, load_entity_schema, validate_mapping

from .helpers import read_all

PROVENANCE = {
    "instance_id": "demo", "connector": "splunk", "connector_version": "1.0.0",
    "stream": "s", "sync_id": "sync-1", "fetched_at": "2026-01-01T00:00:00Z",
    "content_hash": "0" * 64,
}
SPECS = [MappingSpec.model_validate(m) for m in default_mappings()]
# The search_results template serves every configured search stream.
STREAM_OF = {"splunk.search_results": ["failed_logins", "root_usage"]}


def test_every_stream_kind_has_a_default_mapping() -> None:
    assert {s.source for s in SPECS} == {
        "splunk.notable_events", "splunk.saved_searches", "splunk.search_results"}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.source}->{s.target}")
async def test_mapping_maps_every_record_to_a_canonical_one(
    spec: MappingSpec, connector: SplunkConnector
) -> None:
    assert [p for p in validate_mapping(spec) if p.severity == "error"] == []
    compiled = compile_mapping(spec)
    validator = jsonschema.Draft202012Validator(
        load_entity_schema(spec.target),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    statuses = set()
    for stream in STREAM_OF.get(spec.source, [spec.source.removeprefix("splunk.")]):
        records, _ = await read_all(connector, stream)
        assert records
        for record in records:
            result = compiled.apply(record)
            assert result.errors == [], (stream, result.errors)
            assert result.output is not None
            statuses.add(result.output.get("status"))
            errors = [e.message for e in validator.iter_errors(
                {**result.output, "provenance": PROVENANCE})]
            assert errors == [], (stream, errors)
    if spec.target == "configuration_check":
        assert statuses == {"pass", "fail"}
