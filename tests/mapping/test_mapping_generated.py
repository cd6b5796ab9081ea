"""The generated per-mapping function (``CompiledMapping.output`` and the first try of
``apply``) agrees with the field-by-field walk on every record: same output, same errors."""

from __future__ import annotations

import copy
import datetime as dt
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.mapping import MappingSpec, compile_mapping
from server.mapping.engine import CompiledMapping
from server.mapping.errors import StepError
from server.mapping.functions.dates import _epoch_iso
from server.mapping.model import Step
from server.mapping.steps import compile_step
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


def _strings_spec() -> MappingSpec:
    """Checks a string passes inline (lengths, enums, ranges), and ones it does not."""
    return MappingSpec.model_validate({
        "name": "strings", "source": "s", "target": "thing", "target_schema": {
            "type": "object", "properties": {
                "code": {"type": "string", "minLength": 2, "maxLength": 5},
                "kind": {"type": ["string", "null"], "enum": ["a", "", 1, True, None]},
                "n": {"type": ["string", "integer"], "minimum": 0, "maximum": 9}},
            "required": ["code"]},
        "fields": [
            {"target": "code", "source": "login"},
            {"target": "kind", "source": "name"},
            {"target": "n", "source": "id"},
            {"target": "word", "source": "first_name",
             "rules": {"required": True, "max_length": 3}},
            {"target": "any_len", "source": "email", "rules": {"min_length": 0, "enum": ["x"]}},
            {"target": "pat", "source": "v", "rules": {"pattern": "^[a-z]+$", "max_length": 4}},
            {"target": "num", "source": "a", "rules": {"type": "integer", "max_length": 2}}]})


def _pair(spec: MappingSpec) -> tuple[CompiledMapping, CompiledMapping]:
    generated = compile_mapping(spec)
    walk = compile_mapping(spec)
    walk._fast = None  # the reference: the field walk only
    return generated, walk


PAIRS = [_pair(_kitchen_sink()), _pair(_identity_spec()), _pair(_nested_spec()),
         _pair(_strings_spec())]


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


STRINGS: list[Any] = ["", "a", "ab", "abcde", "abcdef", "x", "1", 1, True, None, [], ["a"],
                      " a ", "é" * 3, 0, 10, -1, 2.5]


def test_strings_checked_inline_agree() -> None:
    passing = {"login": "ab", "name": "a", "id": 3, "first_name": "abc", "email": "x",
               "v": "ab", "a": 5}
    assert PAIRS[3][0].output(passing) is not None
    for value in STRINGS:
        for key in passing:
            _agree({**passing, key: value})


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


def _dates_spec(unit: str) -> MappingSpec:
    return MappingSpec.model_validate({
        "name": "dates", "source": "s", "target": "thing", "target_schema": {
            "type": "object", "properties": {
                "at": {"type": ["string", "null"], "format": "date-time"},
                "due": {"type": "string", "format": "date-time", "maxLength": 25}}},
        "fields": [
            {"target": "id", "source": "id"},
            {"target": "at", "source": "at",
             "steps": [{"function": "parse_datetime", "params": {"unit": unit}}]},
            {"target": "must", "source": "at", "rules": {"required": True, "type": "date-time"},
             "steps": [{"function": "parse_datetime", "params": {"unit": unit}}]},
            {"target": "due", "source": "at",
             "steps": [{"function": "parse_datetime", "params": {"unit": unit}}]}]})


EPOCHS: list[Any] = [0, 1, 59, 86_399, 86_400, 951_782_400, 1_700_000_000, (1 << 33) - 1,
                     1 << 33, 253_402_300_799, 253_402_300_800, 10**20, -1, -86_401, 1.5,
                     1_700_000_000.25, True, None, "", " 2024-05-01T12:00:00Z ", "nope", [1]]


def test_a_last_parse_datetime_writes_the_text_a_datetime_would() -> None:
    """A field whose last step is parse_datetime is written as the step's datetime in ISO
    text (epoch seconds without the datetime), and its checks judge it as before."""
    for unit in ("s", "ms"):
        generated, walk = _pair(_dates_spec(unit))
        step, _ = compile_step(Step.model_validate(
            {"function": "parse_datetime", "params": {"unit": unit}}))
        for value in EPOCHS:
            record = {"id": 1, "at": value}
            try:
                parsed = None if value is None else step(value, record)
            except (StepError, TypeError):
                parsed = "error"
            expected = walk.apply(record)
            got = generated.apply(record)
            assert (got.output, got.errors) == (expected.output, expected.errors)
            assert generated.output(record) == expected.output
            if parsed == "error" or value is None or value == "":
                assert expected.output is None
            else:
                assert isinstance(parsed, dt.datetime)
                text = parsed.isoformat()  # "due" allows no fraction of a second
                assert expected.output == ({"id": 1, "at": text, "must": text, "due": text}
                                           if len(text) <= 25 else None)


def test_epoch_seconds_text_is_the_datetime_s() -> None:
    rng = random.Random(5)
    for value in [0, 1, 86_399, (1 << 33) - 1, *(rng.randrange(1 << 33) for _ in range(20_000))]:
        assert _epoch_iso(value) == dt.datetime.fromtimestamp(value, dt.UTC).isoformat()
