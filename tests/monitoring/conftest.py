"""Fixtures for integration health tests: an agent tuned for fast failure handling."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from connectors.sdk.http import RetryPolicy
from server.db.engine import make_session_factory
from server.db.models import MetricSample
from server.monitoring.config import MonitoringConfig
from server.monitoring.recovery import RecoveryPolicy
from tests.support.api import Api
from tests.support.record_source import generic_rest_config

#: The HTTP client gives up after 2 attempts and 3 throttles; the engine retries a stream
#: 3 times and waits out 3 rate limits: milliseconds instead of minutes.
FAST_HTTP = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.02,
                        max_throttle_retries=3, max_retry_after=1.0)
FAST_RECOVERY = RecoveryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.02,
                               max_waits=3, max_wait=2.0)
CONFIG = MonitoringConfig(breaker_failures=3, alert_failed_syncs=2, throttled_per_hour=5,
                          hung_min_seconds=60, breaker_cooldown=dt.timedelta(minutes=15))
TIMEOUT = 0.3


@pytest.fixture
def mon(api: Api) -> Api:
    app: Any = api.client.app
    engine = app.state.sync_manager.engine
    engine.http_retry, engine.recovery, engine.monitoring = FAST_HTTP, FAST_RECOVERY, CONFIG
    engine.batch_size = 50  # several committed batches per sync
    app.state.monitoring.config = CONFIG
    return api


def make_instance(api: Api, url: str, *, name: str = "Directory API",
                  auth_config_id: str | None = None) -> dict[str, Any]:
    config = generic_rest_config(url, page=50)
    config["streams"][0]["schema"] = {"type": "object"}  # no sampling request
    if auth_config_id:
        config["auth"] = {"method": "bearer"}
    extra: dict[str, Any] = {"auth_config_id": auth_config_id} if auth_config_id else {}
    return api.create_instance(name, "generic-rest", config,
                               options={"http_timeout": TIMEOUT}, **extra)


def active_alerts(api: Api, instance_id: str) -> dict[str, dict[str, Any]]:
    items = api.all("/alerts", instance_id=instance_id, status="active")
    return {a["kind"]: a for a in items}


def live_ids(api: Api, instance_id: str) -> list[str]:
    rows = api.all("/records", instance_id=instance_id, deleted=False)
    return sorted(r["external_id"] for r in rows)


def request_samples(api: Api, sync_id: str) -> list[MetricSample]:
    with make_session_factory(api.engine)() as session:
        return list(session.scalars(select(MetricSample).where(
            MetricSample.sync_id == uuid.UUID(sync_id), MetricSample.kind == "request")))


def events(api: Api, prefix: str) -> list[dict[str, Any]]:
    from server.db.models import OutboxEvent  # noqa: PLC0415

    with make_session_factory(api.engine)() as session:
        rows = session.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type.startswith(prefix)).order_by(OutboxEvent.created_at))
        return [{"type": r.event_type, **r.payload} for r in rows]
