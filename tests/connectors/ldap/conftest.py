"""Fixtures: a real OpenLDAP slapd on loopback, loaded with the test directory.

slapd starts in well under a second, so tests that change the directory get their own
(``fresh_slapd``); read-only tests share one per module (``slapd``). Without slapd the tests
try to install it (as root, with apt-get); if that is impossible they are skipped with the
install command, except under ``CI=true``, where a missing slapd is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox.slapd import INSTALL_HINT, SERVICE_DN, SERVICE_PW, SUFFIX, Slapd, missing
from connectors.sdk.auth import LdapBind, build_auth
from tests.connectors.ldap import directory

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def try_install() -> str | None:
    """Install slapd with apt-get when running as root (returns why not, or None)."""
    if missing() is None:
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{missing()}; install it with: {INSTALL_HINT}"
    result = subprocess.run(["/bin/sh", "-c", INSTALL_HINT], capture_output=True, check=False,
                            timeout=600)
    if result.returncode != 0 or missing() is not None:
        return f"installing slapd failed ({result.returncode}); run: {INSTALL_HINT}"
    return None


def _require_slapd() -> None:
    problem = try_install()
    if problem:
        message = f"OpenLDAP slapd is not available: {problem}"
        if IN_CI:
            pytest.fail(message + " (under CI=true this is a failure, not a skip)")
        pytest.skip(message)


def start_loaded(folder: Path) -> Slapd:
    _require_slapd()
    server = Slapd.start(folder)
    try:
        server.load(directory.entries())
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    server = start_loaded(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()


@pytest.fixture
def fresh_slapd(tmp_path: Path) -> Iterator[Slapd]:
    server = start_loaded(tmp_path / "slapd")
    yield server
    server.stop()


def config_for(server: Slapd, **extra: Any) -> dict[str, Any]:
    return {"url": server.url, "base_dn": SUFFIX, **extra}


@pytest.fixture
def ldap_config(slapd: Slapd) -> dict[str, Any]:
    return config_for(slapd)


@pytest.fixture
def ldap_credentials() -> LdapBind:
    credential = build_auth("ldap_bind", {"bind_dn": SERVICE_DN, "password": SERVICE_PW})
    assert isinstance(credential, LdapBind)
    return credential
