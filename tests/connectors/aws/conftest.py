"""Fixtures: one moto server per session, reset before every test that uses it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.sdk.auth import AwsCredentials, build_auth
from tests.connectors.aws.moto import KEY_ID, SECRET, MotoServer, available

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def moto_session() -> Iterator[MotoServer]:
    problem = available()
    if problem:
        if IN_CI:
            pytest.fail(f"{problem} (under CI=true this is a failure, not a skip)")
        pytest.skip(problem)
    server = MotoServer.start()
    yield server
    server.stop()


@pytest.fixture
def moto(moto_session: MotoServer) -> MotoServer:
    moto_session.reset()
    return moto_session


@pytest.fixture(scope="module")
def moto_with_managed_policies() -> Iterator[MotoServer]:
    """A second server that knows the AWS managed policies (AdministratorAccess …)."""
    problem = available()
    if problem:
        if IN_CI:
            pytest.fail(f"{problem} (under CI=true this is a failure, not a skip)")
        pytest.skip(problem)
    server = MotoServer.start(managed_policies=True)
    yield server
    server.stop()


def credentials(key_id: str = KEY_ID, secret: str = SECRET, **more: Any) -> AwsCredentials:
    credential = build_auth("aws", {"access_key_id": key_id, "secret_access_key": secret,
                                    **more})
    assert isinstance(credential, AwsCredentials)
    return credential


@pytest.fixture
def aws_credentials() -> AwsCredentials:
    return credentials()


def config_for(server: MotoServer, **extra: Any) -> dict[str, Any]:
    return {"regions": ["us-east-1", "eu-west-1"], "endpoint_url": server.url,
            "account_public_access_block": False, **extra}
