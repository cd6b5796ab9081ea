"""The data-mapping guide's examples run: what the doc promises is what the engine does."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from server.mapping import MappingSpec, compile_mapping, list_functions, validate_mapping

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "data-mapping.md"


def blocks() -> dict[str, Any]:
    text = GUIDE.read_text(encoding="utf-8")
    found = re.findall(r"```json ([\w-]+)\n(.*?)```", text, flags=re.DOTALL)
    return {name: json.loads(body) for name, body in found}


def test_worked_example_produces_the_documented_output() -> None:
    example = blocks()
    spec = MappingSpec.model_validate(example["mapping"])
    assert validate_mapping(spec) == []
    result = compile_mapping(spec).apply(example["record"])
    assert result.errors == []
    assert result.output == example["expected"]


def test_documented_errors_are_the_real_ones() -> None:
    example = blocks()
    result = compile_mapping(MappingSpec.model_validate(example["mapping"])).apply(
        {"id": 42, "profile": {"login": "bob"}}
    )
    assert result.output is None
    assert [e.model_dump() for e in result.errors] == example["expected-errors"]


def test_every_function_is_documented() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    missing = [f.name for f in list_functions() if f"`{f.name}`" not in text]
    assert missing == []
