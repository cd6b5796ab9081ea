"""Filter criteria: validation names the field; matching follows the documented rules."""

from __future__ import annotations

from typing import Any

import pytest

from server.events.filters import FilterError, match, validate

EVENT = {"type": "sync.failed", "instance_id": "i-1",
         "data": {"status": "failed", "stats": {"failed": 12, "created": 0},
                  "connector": "aws", "instance": "prod-aws", "tags": ["pci", "prod"]}}


@pytest.mark.parametrize(("criteria", "expected"), [
    ({}, True),
    ({"field": "data.status", "op": "equals", "value": "failed"}, True),
    ({"field": "data.status", "op": "not_equals", "value": "failed"}, False),
    ({"field": "data.connector", "op": "in", "value": ["aws", "github"]}, True),
    ({"field": "data.instance", "op": "contains", "value": "aws"}, True),
    ({"field": "data.tags", "op": "contains", "value": "pci"}, True),
    ({"field": "data.instance", "op": "regex", "value": "^prod-"}, True),
    ({"field": "data.stats.failed", "op": "gt", "value": 10}, True),
    ({"field": "data.stats.failed", "op": "lte", "value": 11}, False),
    ({"field": "data.missing", "op": "exists", "value": False}, True),
    ({"field": "data.missing", "op": "equals", "value": None}, False),
    ({"field": "data.tags.0", "op": "equals", "value": "pci"}, True),
    ({"and": [{"field": "type", "op": "equals", "value": "sync.failed"},
              {"or": [{"field": "data.stats.failed", "op": "gt", "value": 100},
                      {"field": "data.connector", "op": "equals", "value": "aws"}]}]}, True),
    ({"not": {"field": "data.instance", "op": "regex", "value": "^prod"}}, False),
])
def test_match(criteria: dict[str, Any], expected: bool) -> None:
    validate(criteria)
    assert match(criteria, EVENT) is expected


@pytest.mark.parametrize(("criteria", "field", "fragment"), [
    ({"field": "data.x", "op": "like", "value": 1}, "filter_criteria.op", "must be one of"),
    ({"field": "data.x", "op": "gt", "value": "10"}, "filter_criteria.value", "numbers"),
    ({"and": [{"field": "a", "op": "in", "value": 3}]}, "filter_criteria.and.0.value", "list"),
    ({"or": []}, "filter_criteria.or", "non-empty"),
    ({"and": [{"op": "equals", "value": 1}]}, "filter_criteria.and.0.field", "required"),
    ({"field": "a", "op": "regex", "value": "(a+)+$"}, "filter_criteria.value", "backtracking"),
    ({"field": "a", "op": "regex", "value": "(unclosed"}, "filter_criteria.value", "regular"),
    ([1], "filter_criteria", "must be an object"),
])
def test_validation_names_the_field(criteria: Any, field: str, fragment: str) -> None:
    with pytest.raises(FilterError) as info:
        validate(criteria)
    assert any(f == field and fragment in m for f, m in info.value.errors), info.value.errors
