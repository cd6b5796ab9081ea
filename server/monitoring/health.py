"""Health of instances and connectors: a state with its reason, and a 0-100 score.

The score is a weighted sum of five components, each between 0 and 1::

    score = round(100 * (0.35 * success + 0.20 * freshness + 0.15 * latency
                         + 0.15 * throttling + 0.15 * credentials))

* success: completed / (completed + failed) over the last 10 finished syncs (1 with none);
* freshness: 1 while the last successful sync (or, before one, the instance's creation) is no
  older than its schedule's interval plus 5 minutes, falling linearly to 0 at three
  intervals; 1 for instances without an interval or cron schedule;
* latency: p95 of request latencies over 24 hours: 1 up to 1 s, 0 from 10 s, linear between;
* throttling: share of throttled requests over 24 hours: 1 at 0 %, 0 from 20 %;
* credentials: 1 without an expiry or with more than the warning window left, 0 when expired,
  days left / warning days in between.

The state: ``paused`` for inactive or unconfigured instances; ``failing`` when the instance is
in error or scores under 50; ``degraded`` when it scores under 80 or its last sync failed;
``healthy`` otherwise. A connector scores the mean of its active instances.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import InstanceStatus, IntegrationInstance, SyncStatus
from server.db.types import utcnow
from server.monitoring.config import MonitoringConfig
from server.monitoring.facts import InstanceFacts, gather, human

HealthState = Literal["healthy", "degraded", "failing", "paused"]
WEIGHTS = {"success": 0.35, "freshness": 0.20, "latency": 0.15, "throttling": 0.15,
           "credentials": 0.15}
GRACE = dt.timedelta(minutes=5)
LATENCY_GOOD_MS, LATENCY_BAD_MS = 1000.0, 10_000.0
THROTTLE_BAD = 0.20


@dataclass
class InstanceHealth:
    instance_id: str
    name: str
    connector: str
    status: str
    health: HealthState
    score: int
    reason: str
    components: dict[str, float] = field(default_factory=dict)
    last_success_at: dt.datetime | None = None


@dataclass
class ConnectorHealth:
    connector: str
    score: int | None
    health: HealthState
    instances: int


def _linear(value: float, good: float, bad: float) -> float:
    """1 at ``good`` or better, 0 at ``bad`` or worse, linear between."""
    if value <= good:
        return 1.0
    if value >= bad:
        return 0.0
    return (bad - value) / (bad - good)


def components(facts: InstanceFacts, config: MonitoringConfig) -> dict[str, float]:
    finished = facts.recent
    ok = sum(1 for e in finished if e.status == SyncStatus.COMPLETED)
    success = ok / len(finished) if finished else 1.0
    freshness = 1.0
    if facts.expected_every is not None:
        since = facts.last_success or facts.instance.created_at
        age = (facts.now - since).total_seconds()
        every = facts.expected_every.total_seconds()
        freshness = _linear(age, every + GRACE.total_seconds(), 3 * every)
    latency = 1.0 if facts.p95_ms_24h is None else _linear(facts.p95_ms_24h, LATENCY_GOOD_MS,
                                                           LATENCY_BAD_MS)
    throttling = 1.0
    if facts.requests_24h:
        throttling = _linear(facts.throttled_24h / facts.requests_24h, 0.0, THROTTLE_BAD)
    credentials = 1.0
    credential = facts.credential
    if credential is not None and credential.expiration is not None:
        left = (credential.expiration - facts.now).total_seconds() / 86_400
        window = max(config.credential_warning_days, 1)
        credentials = 0.0 if left <= 0 else min(1.0, left / window)
    return {"success": round(success, 3), "freshness": round(freshness, 3),
            "latency": round(latency, 3), "throttling": round(throttling, 3),
            "credentials": round(credentials, 3)}


def score_of(parts: dict[str, float]) -> int:
    return round(100 * sum(WEIGHTS[name] * value for name, value in parts.items()))


def _weakest(facts: InstanceFacts, parts: dict[str, float]) -> str:
    name = min(parts, key=lambda k: (parts[k] - 1) * WEIGHTS[k])
    if parts[name] >= 1.0:
        if facts.last_success:
            return f"last sync completed {human(facts.now - facts.last_success)} ago"
        return "no sync has run yet"
    if name == "success":
        error = facts.last_error
        failed = sum(1 for e in facts.recent if e.status == SyncStatus.FAILED)
        last = f"; last error ({error.get('category')}): {error.get('message')}" if error else ""
        return f"{failed} of the last {len(facts.recent)} syncs failed{last}"
    if name == "freshness":
        since = facts.last_success or facts.instance.created_at
        every = facts.expected_every or dt.timedelta()
        return f"no successful sync for {human(facts.now - since)} (expected every " \
               f"{human(every)})"
    if name == "latency":
        return f"p95 response time {(facts.p95_ms_24h or 0) / 1000:.1f} s over 24 h"
    if name == "throttling":
        share = 100 * facts.throttled_24h / max(facts.requests_24h, 1)
        return f"{share:.0f} % of requests throttled over 24 h"
    credential = facts.credential
    assert credential is not None
    assert credential.expiration is not None
    left = credential.expiration - facts.now
    return (f"credential {credential.name!r} expired" if left.total_seconds() <= 0 else
            f"credential {credential.name!r} expires in {human(left)}")


def instance_health(session: Session, instance: IntegrationInstance, config: MonitoringConfig,
                    now: dt.datetime | None = None) -> InstanceHealth:
    facts = gather(session, instance, now or utcnow())
    parts = components(facts, config)
    score = score_of(parts)
    state: HealthState
    if instance.status in (InstanceStatus.INACTIVE, InstanceStatus.CONFIGURING):
        state, reason = "paused", f"the instance is {instance.status.value}"
    elif instance.status == InstanceStatus.ERROR:
        state, reason = "failing", instance.error_message or "the instance is in error"
    else:
        reason = _weakest(facts, parts)
        last = facts.recent[0] if facts.recent else None
        last_failed = last is not None and last.status == SyncStatus.FAILED
        # A sync that completed but rejected records (mapping or validation errors) leaves
        # evidence missing: not healthy, whatever the score.
        record_errors = (last.error_count or 0) if last is not None and not last_failed else 0
        if score < 50:
            state = "failing"
        elif score < 80 or last_failed or record_errors:
            state = "degraded"
            if last_failed and parts["success"] >= 1.0:
                reason = f"the last sync failed: {facts.last_error.get('message')}"
            elif record_errors and score >= 80:
                reason = (f"the last sync completed with {record_errors} record error(s); "
                          "their details are in the sync's errors")
        else:
            state = "healthy"
    return InstanceHealth(
        instance_id=str(instance.id), name=instance.name, connector=instance.connector.key,
        status=instance.status.value, health=state, score=score, reason=reason,
        components=parts, last_success_at=facts.last_success)


def all_health(session: Session, config: MonitoringConfig, now: dt.datetime | None = None
               ) -> tuple[list[InstanceHealth], list[ConnectorHealth]]:
    now = now or utcnow()
    instances = [instance_health(session, i, config, now) for i in session.scalars(
        select(IntegrationInstance).order_by(IntegrationInstance.name))]
    by_connector: dict[str, list[InstanceHealth]] = {}
    for item in instances:
        by_connector.setdefault(item.connector, []).append(item)
    connectors = []
    for key, items in sorted(by_connector.items()):
        live = [i for i in items if i.health != "paused"]
        score = round(sum(i.score for i in live) / len(live)) if live else None
        state: HealthState = ("paused" if score is None else "failing" if score < 50 or any(
            i.health == "failing" for i in live) else "degraded" if score < 80 or any(
            i.health == "degraded" for i in live) else "healthy")
        connectors.append(ConnectorHealth(connector=key, score=score, health=state,
                                          instances=len(items)))
    return instances, connectors
