"""``simpletrust connector new``: a connector package whose tests pass as generated.

The templates live next to this module in ``template/`` as ``*.tmpl`` files (so no tool
mistakes them for code), with ``__module__`` in paths and ``${...}`` placeholders in text
(:class:`string.Template`: TOML and Python braces need no escaping). For ``acme-tickets``::

    acme-tickets-connector/
        pyproject.toml          entry point  "acme-tickets" = "acme_tickets_connector:AcmeTicketsConnector"
        README.md
        src/acme_tickets_connector/__init__.py, connector.py
        tests/fake_api.py       a tiny HTTP server on 127.0.0.1 the tests read from
        tests/conftest.py, tests/test_connector.py   (the conformance kit and two more tests)
"""  # noqa: E501 - the tree is clearer on one line

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from connectors.sdk.metadata import KEY

__all__ = ["ScaffoldError", "names_for", "scaffold"]

TEMPLATE_SUFFIX = ".tmpl"
MODULE_MARKER = "__module__"


class ScaffoldError(ValueError):
    """The name or the target folder cannot be used; the message says why."""


def names_for(key: str) -> dict[str, str]:
    """The names a connector key gives its package, module, classes and title."""
    if not KEY.match(key):
        raise ScaffoldError(
            f"connector name {key!r} is not a valid key: use 2-64 characters, a lowercase "
            "letter first, then lowercase letters, digits, '_', '.' or '-' (e.g. acme-tickets)"
        )
    words = [w for w in re.split(r"[-_.]", key) if w]
    camel = "".join(w[:1].upper() + w[1:] for w in words)
    module = "_".join(words) + "_connector"
    return {
        "key": key,
        "dist": f"{'-'.join(words)}-connector",
        "module": module,
        "title": " ".join(w[:1].upper() + w[1:] for w in words),
        "prefix": camel,
        "class_name": f"{camel}Connector",
    }


def _files(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for child in sorted(root.iterdir(), key=lambda c: c.name):
        relative = f"{prefix}{child.name}"
        if child.is_dir():
            found += _files(child, f"{relative}/")
        elif child.name.endswith(TEMPLATE_SUFFIX):
            found.append((relative.removesuffix(TEMPLATE_SUFFIX), child))
    return found


def scaffold(key: str, target: Path) -> list[Path]:
    """Write the package for connector ``key`` into ``target`` (new or empty); return the files."""
    names = names_for(key)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not an empty folder; "
                            "choose another --dir")
    templates = _files(resources.files(__name__).joinpath("template"))
    created: list[Path] = []
    for relative, source in templates:
        path = target / relative.replace(MODULE_MARKER, names["module"])
        text = Template(source.read_text(encoding="utf-8")).substitute(names)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        created.append(path)
    return created
