"""Request sample ids: version-4 UUIDs from pooled random bytes, never repeated."""

from __future__ import annotations

import os
import uuid

import pytest

from connectors.sdk.http.metrics import RequestMetric
from server.monitoring import samples


def test_ids_are_random_version_4_uuids_and_never_repeat(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[int] = []
    real = os.urandom

    def counting(size: int) -> bytes:
        fetched.append(size)
        return real(size)

    monkeypatch.setattr(os, "urandom", counting)
    ids = samples._RandomIds()
    made = [ids() for _ in range(1000)]
    assert len(set(made)) == 1000
    assert {(u.version, u.variant) for u in made} == {(4, uuid.RFC_4122)}
    assert fetched == [4096] * 4  # 256 ids per system call, not one each
    ids._forget()  # what a forked child does: its next id comes from fresh bytes
    ids()
    assert len(fetched) == 5


def test_a_request_row_gets_its_own_id() -> None:
    metric = RequestMetric(method="GET", host="h", path="/p", status=200,
                                   latency_s=0.01, bytes_sent=0, bytes_received=1, attempt=1)
    first, second = (samples.request_row(uuid.uuid4(), None, metric) for _ in range(2))
    assert isinstance(first["id"], uuid.UUID)
    assert first["id"] != second["id"]
    assert first["id"].version == 4
