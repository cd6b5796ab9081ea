"""Field-name JMESPath expressions are searched without jmespath's interpreter, as it would."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import jmespath
import pytest

from connectors.sdk.errors import ConfigError
from connectors.sdk.http.records import FieldPath, RecordSelector, compile_jmespath

BODIES: list[Any] = [
    {"items": [{"id": 1}], "next_cursor": "2", "data": {"items": [], "a-b": {"c": 0}}},
    {"data": None, "items": None}, {"data": [1, 2]}, {"data": "text"}, {"data": {"items": False}},
    OrderedDict(data=OrderedDict(items=[{"id": 3}])), [], [{"items": 1}], "items", 7, None, {},
]


@pytest.mark.parametrize("expression", ["items", "next_cursor", "data.items", '"a-b"',
                                        'data."a-b".c', "data.items.id", "missing.items"])
def test_a_field_path_searches_as_jmespath_does(expression: str) -> None:
    compiled = compile_jmespath(expression)
    assert isinstance(compiled, FieldPath)
    for body in BODIES:
        assert compiled.search(body) == jmespath.search(expression, body), body


@pytest.mark.parametrize("expression", ["items[*]", "data.items[0]", "to_string(items)", "@",
                                        "data.items | [0]", "items[?id > `1`]"])
def test_other_expressions_stay_with_jmespath(expression: str) -> None:
    compiled = compile_jmespath(expression)
    assert not isinstance(compiled, FieldPath)
    for body in BODIES:
        assert compiled.search(body) == jmespath.search(expression, body)


def test_a_bad_expression_still_names_itself() -> None:
    with pytest.raises(ConfigError, match=r"cursor path 'a\.'"):
        compile_jmespath("a.", what="cursor path")
    assert RecordSelector("data.items").select(BODIES[5]) == [{"id": 3}]
