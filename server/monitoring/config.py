"""The monitoring thresholds, one frozen object built from the agent's settings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from server.config import Settings


@dataclass(frozen=True)
class MonitoringConfig:
    interval_seconds: float = 60.0
    retention: dt.timedelta = dt.timedelta(days=14)
    retry_attempts: int = 3
    retry_backoff_seconds: float = 5.0
    max_rate_limit_wait_seconds: float = 900.0
    breaker_failures: int = 3
    breaker_cooldown: dt.timedelta = dt.timedelta(minutes=15)
    alert_failed_syncs: int = 2
    hung_factor: float = 3.0
    hung_min_seconds: float = 900.0
    throttled_per_hour: int = 50
    credential_warning_days: int = 14

    @classmethod
    def of(cls, settings: Settings) -> MonitoringConfig:
        return cls(
            interval_seconds=settings.monitoring_interval_seconds,
            retention=dt.timedelta(days=settings.metrics_retention_days),
            retry_attempts=settings.sync_retry_attempts,
            retry_backoff_seconds=settings.sync_retry_backoff_seconds,
            max_rate_limit_wait_seconds=settings.sync_max_rate_limit_wait_seconds,
            breaker_failures=settings.circuit_breaker_failures,
            breaker_cooldown=dt.timedelta(seconds=settings.circuit_breaker_cooldown_seconds),
            alert_failed_syncs=settings.alert_failed_syncs,
            hung_factor=settings.alert_hung_factor,
            hung_min_seconds=settings.alert_hung_min_seconds,
            throttled_per_hour=settings.alert_throttled_per_hour,
            credential_warning_days=settings.credential_expiry_warning_days,
        )
