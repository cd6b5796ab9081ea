"""The SDK docs run: cli.md's shell sessions are executed and their output compared, the
tutorial's code blocks are exactly the files of examples/tutorial-connector (whose tests run
in test_tutorial.py), and index.md links only to pages that exist."""

from __future__ import annotations

import doctest
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from .conftest import CONNECTOR_CLI, REPO, SIMPLETRUST, cli_env

DOCS = REPO / "docs" / "sdk"
EXAMPLE = REPO / "examples" / "tutorial-connector"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
FILE_MARKER = re.compile(r"\A# file: (\S+)\n")


def blocks(name: str) -> list[tuple[str, str]]:
    return BLOCK.findall((DOCS / name).read_text(encoding="utf-8"))


def sessions(body: str) -> list[tuple[str, str]]:
    """`$ command` lines and the output lines that follow each."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"output before any command: {line!r}"
            steps[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in steps]


def shim(folder: Path) -> Path:
    """`simpletrust` on PATH, running this checkout's command line (the console script's job)."""
    folder.mkdir()
    script = folder / "simpletrust"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = connector ]; then shift; exec {shlex.join(CONNECTOR_CLI)} "$@"; fi\n'
        f'exec {shlex.join(SIMPLETRUST)} "$@"\n'
    )
    script.chmod(0o755)
    return folder


def test_cli_examples_run_in_order(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    bin_dir = shim(tmp_path / "bin")
    env = cli_env(tmp_path / "data", PWD=str(work))
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    checker = doctest.OutputChecker()
    ran = 0
    for language, body in blocks("cli.md"):
        marker = FILE_MARKER.match(body)
        if language == "yaml" and marker:
            (work / marker.group(1)).write_text(body, encoding="utf-8")
        elif language == "console":
            for command, expected in sessions(body):
                result = subprocess.run(["bash", "-c", command], cwd=work, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        timeout=60, check=False)
                want = expected + "\n" if expected else ""
                assert checker.check_output(want, result.stdout, doctest.ELLIPSIS), (
                    f"$ {command}\n--- expected ---\n{want}--- got ---\n{result.stdout}")
                ran += 1
    assert ran >= 10


def tutorial_files() -> dict[str, list[str]]:
    """Each `# file: PATH` block of the tutorial, joined per file in the order shown."""
    files: dict[str, list[str]] = {}
    for _, body in blocks("tutorial.md"):
        marker = FILE_MARKER.match(body)
        if marker:
            files.setdefault(marker.group(1), []).append(body[marker.end():])
    return files


def significant(text: str) -> list[str]:
    """Lines that matter: blank lines between the tutorial's snippets are layout."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def example_files() -> list[str]:
    return sorted(
        str(path.relative_to(EXAMPLE)) for path in EXAMPLE.rglob("*")
        if path.is_file() and path.suffix in {".py", ".toml"} and "cache" not in str(path)
    )


def test_the_tutorial_shows_every_file_of_its_connector() -> None:
    assert sorted(tutorial_files()) == example_files()


@pytest.mark.parametrize("path", example_files())
def test_the_tutorial_code_is_the_example_code(path: str) -> None:
    shown = significant("\n".join(tutorial_files()[path]))
    actual = significant((EXAMPLE / path).read_text(encoding="utf-8"))
    assert shown == actual, f"docs/sdk/tutorial.md differs from examples/tutorial-connector/{path}"


def test_the_index_links_to_pages_that_exist() -> None:
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    assert len(links) >= 6
    missing = [link for link in links if not (DOCS / link).exists()]
    assert not missing
