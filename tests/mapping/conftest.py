"""Fixtures for the mapping tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def identity_record() -> dict[str, Any]:
    return {
        "id": 1001,
        "profile": {"login": "  Ann.Lee ", "email": "Ann Lee <Ann.Lee@Example.COM>",
                    "first": "Ann", "last": "Lee"},
        "status": "ACTIVE",
        "lastLogin": "2024-05-01T10:00:00+02:00",
        "groups": [{"id": "g1", "name": "admins"}, {"id": "g2", "name": "dev"}, {"name": "x"}],
        "factors": [{"type": "push", "status": "ACTIVE"}, {"type": "sms", "status": "PENDING"}],
    }
