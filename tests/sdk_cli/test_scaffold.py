"""`simpletrust connector new`: the generated package's own tests pass as generated, it installs
as a separate package that discovery finds, and its tests do catch a broken connector."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from server.cli.scaffold import ScaffoldError, names_for, scaffold

from .conftest import CONNECTOR_CLI, PYTHON, cli_env, run


def test_names_follow_the_key() -> None:
    assert names_for("acme-tickets") == {
        "key": "acme-tickets", "dist": "acme-tickets-connector",
        "module": "acme_tickets_connector", "title": "Acme Tickets", "prefix": "AcmeTickets",
        "class_name": "AcmeTicketsConnector",
    }


@pytest.mark.parametrize("name", ["Acme", "a", "9lives", "acme tickets", "acme/../x"])
def test_invalid_names_are_refused_with_the_rule(name: str, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="is not a valid key: use 2-64 characters"):
        scaffold(name, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_existing_folder_with_files_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="already exists and is not an empty folder"):
        scaffold("acme", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_new_writes_a_package_whose_tests_pass_and_that_installs_as_a_plugin(
    tmp_path: Path,
) -> None:
    env = cli_env(tmp_path / "data")
    package = tmp_path / "acme-connector"
    created = run([*CONNECTOR_CLI, "new", "acme", "--dir", str(package)], env=env)
    assert created.returncode == 0, created.stderr
    assert f"Created {package} (7 files)" in created.stdout

    pyproject = tomllib.loads((package / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == ["simpletrust-integrations"]
    assert pyproject["project"]["entry-points"]["simpletrust.connectors"] == {
        "acme": "acme_connector:AcmeConnector"}
    assert not (package / "src" / "acme_connector" / "connector.py").read_text().count("${")

    tests = run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env=env, cwd=package)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b4 passed\b", tests.stdout), tests.stdout

    # Installed as its own distribution, discovery finds it through the entry point.
    target = tmp_path / "site"
    build = tmp_path / "build-copy"
    shutil.copytree(package, build)  # pip builds in the source folder: keep the scaffold clean
    install = run([PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                   "--no-index", "--target", str(target), str(build)], env=env, timeout=120)
    assert install.returncode == 0, install.stderr
    listed = run([*CONNECTOR_CLI, "list"], env={**env, "PYTHONPATH": str(target)})
    assert listed.returncode == 0, listed.stderr
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith("acme "))
    assert row == ["acme", "Acme", "0.1.0", "Generic", "plugin"]


def test_the_generated_tests_catch_a_connector_that_breaks_its_schema(tmp_path: Path) -> None:
    package = tmp_path / "acme-connector"
    scaffold("acme", package)
    fake = package / "tests" / "fake_api.py"
    fake.write_text(fake.read_text().replace('{"id": n,', '{"id": str(n),'))
    tests = run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                env=cli_env(tmp_path / "data"), cwd=package)
    assert tests.returncode == 1
    assert "Connector 'acme' failed 1 of" in tests.stdout
    assert "FAIL read items: records valid, state at the end: record 0 does not match the " \
           "stream schema: id:" in tests.stdout


def test_new_refuses_a_bad_name_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run([*CONNECTOR_CLI, "new", "Bad Name"], cwd=tmp_path,
                            env=cli_env(tmp_path / "data"), capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("error: connector name 'Bad Name' is not a valid key")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("-connector")]
