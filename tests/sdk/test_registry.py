"""Registry discovery with real (temporary) installed distributions and their entry points."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from connectors.registry import ConnectorSource, discover_connectors

PLUGIN = '''
from pydantic import BaseModel
from connectors.sdk import Connector, ConnectorMetadata, SystemType


class AcmeConfig(BaseModel):
    url: str


class AcmeConnector(Connector[AcmeConfig]):
    metadata = ConnectorMetadata(key="acme", name="Acme", version="2.1.0",
                                 system_type=SystemType.SECURITY, vendor="Acme Corp")
    config_model = AcmeConfig

    async def check_connection(self):
        return None

    async def streams(self):
        return []


class NotAConnector:
    pass


class ClashConnector(AcmeConnector):
    metadata = ConnectorMetadata(key="file-import", name="Fake files", version="1.0.0",
                                 system_type="File")
'''

ENTRY_POINTS = """
[simpletrust.connectors]
acme = acme_connector:AcmeConnector
wrong = acme_connector:NotAConnector
missing = acme_connector_gone:Thing
clash = acme_connector:ClashConnector
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A third-party distribution installed the way pip lays it out (package + dist-info)."""
    site = tmp_path / "site"
    (site / "acme_connector").mkdir(parents=True)
    (site / "acme_connector" / "__init__.py").write_text(PLUGIN)
    info = site / "acme_connector-2.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-connector\nVersion: 2.1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("acme_connector", None)


def test_builtins_are_always_found():
    result = discover_connectors(allow_third_party=False)
    assert {"generic-rest", "file-import"} <= set(result.connectors)
    assert result["generic-rest"].source is ConnectorSource.BUILTIN
    described = result["file-import"].describe()
    assert described["is_built_in"] is True
    assert described["system_type"] == "File"
    assert described["config_schema"]["required"] == ["folder"]


def test_third_party_plugin_via_entry_point_and_problems_reported(installed_plugin: Path):
    result = discover_connectors()
    acme = result["acme"]
    assert acme.source is ConnectorSource.PLUGIN
    assert acme.distribution == "acme-connector 2.1.0"
    assert acme.metadata.vendor == "Acme Corp"
    assert not acme.is_built_in
    problems = {p.origin.split(" ")[0]: p.message for p in result.problems}
    assert "not a Connector subclass" in problems["acme_connector:NotAConnector"]
    assert "No module named" in problems["acme_connector_gone:Thing"]
    assert "already provided by connectors.builtin" in problems["acme_connector:ClashConnector"]
    assert result["file-import"].source is ConnectorSource.BUILTIN  # a plugin cannot replace it


def test_third_party_plugins_can_be_disabled(installed_plugin: Path):
    result = discover_connectors(allow_third_party=False)
    assert "acme" not in result
    assert result.problems == []


def test_declarative_specs_are_registered_and_bad_ones_reported():
    good = {
        "connector": {"key": "tiny", "name": "Tiny", "version": "1.0.0", "system_type": "DevOps"},
        "base_url": "https://tiny.example",
        "streams": [{"name": "jobs", "path": "/jobs"}],
    }
    bad = {"connector": {"key": "bad", "name": "Bad", "version": "1"}, "streams": []}
    result = discover_connectors(allow_third_party=False, declarative_specs=[good, bad])
    assert result["tiny"].source is ConnectorSource.DECLARATIVE
    assert result["tiny"].describe()["system_type"] == "DevOps"
    (problem,) = result.problems
    assert "connector.version" in problem.message
    assert "base_url" in problem.message
