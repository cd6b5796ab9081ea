"""Fixtures of the auth tests: a real OAuth 2.0 server on loopback, SQLite databases, keyrings."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backends import fail

from tests.auth.oauth_server import OAuthServer, running_oauth_server


@pytest.fixture
def fail_keyring() -> Iterator[None]:
    """The keyring a headless machine has: none (the vault must use env or a key file)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    with running_oauth_server() as server:
        yield server
