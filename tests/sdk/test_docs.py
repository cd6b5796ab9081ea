"""The SDK docs' examples run: ```python blocks execute, the YAML spec validates.

```py blocks are fragments (they name things defined elsewhere) and are not executed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.declarative import DeclarativeSpec, build_connector_class, load_spec

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sdk"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(name: str, language: str) -> list[str]:
    text = (DOCS / name).read_text(encoding="utf-8")
    return [body for lang, body in BLOCK.findall(text) if lang == language]


@pytest.mark.parametrize("name", ["concepts.md", "declarative.md", "testing.md"])
def test_python_examples_run(name: str):
    blocks = _blocks(name, "python")
    assert blocks, f"{name} has no runnable example"
    namespace: dict[str, object] = {"__name__": f"docs_{name.split('.', maxsplit=1)[0]}"}
    for block in blocks:
        code = compile(block, f"docs/sdk/{name}", "exec", dont_inherit=True)
        exec(code, namespace)


def test_declarative_reference_spec_is_valid():
    (spec_text,) = _blocks("declarative.md", "yaml")
    spec = load_spec(spec_text, DeclarativeSpec)
    connector = build_connector_class(spec)
    assert connector.metadata.key == "acme-helpdesk"
    assert [s.name for s in spec.streams] == ["tickets", "users"]
