"""The generated per-mapping function (``CompiledMapping.output`` and the first try of
``apply``) agrees with the field-by-field walk on every record: same output, same errors."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.mapping import MappingSpec, compile_mapping
from server.mapping.engine import CompiledMapping
from tests.mapping.test_mapping_engine import _kitchen_sink, json_values
from tests.support.record_source import IDENTITY_MAPPING, Source


def _identity_spec() -> MappingSpec:
    spec = {k: v for k, v in IDENTITY_MAPPING.items() if k != "field_mappings"}
    return MappingSpec.model_validate({**spec, "fields": IDENTITY_MAPPING["field_mappings"]})


def _nested_spec() -> MappingSpec:
    return MappingSpec.model_validate({
        "name": "nested", "source": "s", "target": "thing", "target_schema": {"type": "object"},
        "fields": [{"target": "a.b", "source": "v"}, {"target": "a.c", "source": "id",
                                                     "rules": {"required": True}},
                   {"target": "top", "source": "name", "steps": ["trim"]}]})


def _pair(spec: MappingSpec) -> tuple[CompiledMapping, CompiledMapping]:
    generated = compile_mapping(spec)
    walk = compile_mapping(spec)
    walk._fast = None  # the reference: the field walk only
    return generated, walk


PAIRS = [_pair(_kitchen_sink()), _pair(_identity_spec()), _pair(_nested_spec())]


def _agree(record: Any) -> None:
    for generated, walk in PAIRS:
        expected = walk.apply(copy.deepcopy(record))
        got = generated.apply(record)
        assert got.output == expected.output
        assert got.errors == expected.errors
        assert generated.output(record) == expected.output


def test_the_mappings_are_generated() -> None:
    assert all(generated._fast is not None for generated, _ in PAIRS)


ODD_VALUES: list[Any] = ["", None, 0, [], {"x": 1}, "  MiXeD@Example.COM ", 1.5, True]


def test_source_records_agree() -> None:
    source = Source(300, broken={3, 50})
    for i in range(300):
        record = source.record(i)
        _agree(record)
        for key in ("login", "first_name", "active", "updated_at", "id"):
            for odd in ODD_VALUES:
                _agree({**record, key: odd})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["v", "id", "a", "b", "items", "name", "login",
                                        "email", "active", "updated_at", "first_name"]),
                       json_values, max_size=6))
def test_arbitrary_records_agree(record: dict[str, Any]) -> None:
    _agree(record)
