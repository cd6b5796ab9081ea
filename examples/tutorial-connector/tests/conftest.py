"""Fixtures: a fake Pinewood, a config pointing at it, credentials as the agent builds them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_pinewood import TOKEN, WEBHOOK_SECRET, FakePinewood, serve

from connectors.sdk.auth import build_auth


@pytest.fixture
def pinewood() -> Iterator[FakePinewood]:
    with serve(FakePinewood()) as api:
        yield api


@pytest.fixture
def config(pinewood: FakePinewood) -> dict[str, Any]:
    return {"base_url": pinewood.url, "project": "OPS", "page_size": 3,
            "webhook_secret": WEBHOOK_SECRET}


@pytest.fixture
def credentials() -> Any:
    return build_auth("bearer", {"token": TOKEN})
