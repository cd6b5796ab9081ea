"""Alerts: conditions detected per instance, raised once, refreshed, and resolved by themselves.

Each evaluation computes the conditions that hold now; a condition without a live alert raises
one (event ``alert.raised``), a live alert whose condition no longer holds is resolved (event
``alert.resolved``). Acknowledging (``alert.acknowledged``) only says a person has seen it: the
alert still resolves when its condition clears. The engine evaluates an instance when one of
its syncs ends; the monitoring service evaluates every instance periodically (for hung and
stale syncs, expiring credentials).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.sdk.versioning import version_matches
from server.agents.dbutil import insert_or_skip
from server.db.models import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertStatus,
    InstanceStatus,
    IntegrationInstance,
    Principal,
)
from server.db.types import utcnow
from server.events.emit import emit
from server.monitoring.config import MonitoringConfig
from server.monitoring.facts import InstanceFacts, gather, human

STALE_GRACE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Condition:
    kind: AlertKind
    subject: str
    severity: AlertSeverity
    title: str
    message: str
    hint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.subject}"


def version_compatible(spec: str, version: str) -> bool:
    """``version`` satisfies the instance's ``version_compatibility`` (a PEP 440 specifier
    such as ``>=1.2,<2``, or a comma-separated list of accepted version prefixes)."""
    try:
        return Version(version) in SpecifierSet(spec)
    except (InvalidSpecifier, InvalidVersion):
        return any(version_matches(part, version) for part in spec.split(",") if part.strip())


def detect(facts: InstanceFacts, config: MonitoringConfig) -> Iterator[Condition]:
    """The conditions that hold for one instance now."""
    instance, now, subject = facts.instance, facts.now, str(facts.instance.id)
    name = instance.name
    failures = facts.consecutive_failures
    if failures >= config.alert_failed_syncs:
        error = facts.last_error
        yield Condition(
            AlertKind.CONSECUTIVE_FAILURES, subject,
            AlertSeverity.CRITICAL if failures >= config.breaker_failures
            else AlertSeverity.WARNING,
            f"{name}: {failures} syncs failed in a row",
            f"The last {failures} syncs of {name!r} failed; the last one "
            f"({error.get('category', 'unknown')}): {error.get('message', 'unknown error')}",
            error.get("hint"), {"failures": failures, "error": error})
    if instance.status == InstanceStatus.ERROR:
        yield Condition(AlertKind.INSTANCE_ERROR, subject, AlertSeverity.CRITICAL,
                        f"{name} is in error", instance.error_message or "the instance is in "
                        "error", "Follow the recovery step in the message, then activate the "
                        "instance.")
    running = facts.running
    if running is not None:
        elapsed = (now - running.start_time).total_seconds()
        usual = facts.usual_duration
        limit = max(config.hung_min_seconds, config.hung_factor * usual if usual else 0.0)
        if elapsed > limit:
            usual_text = f"usually {human(dt.timedelta(seconds=usual))}" if usual \
                else "no earlier completed sync to compare with"
            yield Condition(
                AlertKind.SYNC_HUNG, subject, AlertSeverity.WARNING,
                f"{name}: sync running for {human(dt.timedelta(seconds=elapsed))}",
                f"Sync {running.id} of {name!r} has been running for "
                f"{human(dt.timedelta(seconds=elapsed))} ({usual_text}).",
                "Check the remote system and the agent log; cancel the sync if it does not "
                "progress (what it committed is kept).",
                {"execution_id": str(running.id), "elapsed_seconds": round(elapsed),
                 "usual_seconds": round(usual) if usual else None})
    every = facts.expected_every
    if instance.status == InstanceStatus.ACTIVE and every is not None:
        since = facts.last_success or instance.created_at
        window = 2 * every + STALE_GRACE
        if now - since > window:
            last = f"last success {human(now - facts.last_success)} ago" \
                if facts.last_success else "no successful sync yet"
            yield Condition(
                AlertKind.INSTANCE_STALE, subject, AlertSeverity.WARNING,
                f"{name}: no successful sync for {human(now - since)}",
                f"{name!r} should sync every {human(every)}; {last}.",
                "Check the instance's schedule, the scheduler on the agents, and the last "
                "syncs' errors.", {"expected_every_seconds": round(every.total_seconds()),
                                   "last_success": since.isoformat()})
    credential = facts.credential
    if credential is not None and credential.expiration is not None:
        left = credential.expiration - now
        if left <= dt.timedelta(days=config.credential_warning_days):
            expired = left.total_seconds() <= 0
            yield Condition(
                AlertKind.CREDENTIAL_EXPIRING, f"{subject}:{credential.id}",
                AlertSeverity.CRITICAL if expired else AlertSeverity.WARNING,
                f"{name}: credential {credential.name!r} "
                + ("expired" if expired else f"expires in {human(left)}"),
                f"The credential {credential.name!r} used by {name!r} "
                + (f"expired at {credential.expiration.isoformat(timespec='seconds')}."
                   if expired else
                   f"expires at {credential.expiration.isoformat(timespec='seconds')}."),
                "Renew the credential and update it on the Credentials page.",
                {"credential_id": str(credential.id),
                 "expires_at": credential.expiration.isoformat(),
                 "days_left": max(0, left.days)})
    if facts.throttled_1h >= config.throttled_per_hour:
        yield Condition(
            AlertKind.THROTTLING_SPIKE, subject, AlertSeverity.WARNING,
            f"{name}: {facts.throttled_1h} throttled requests in the last hour",
            f"The remote API throttled {facts.throttled_1h} requests of {name!r} in the last "
            f"hour (threshold {config.throttled_per_hour}).",
            "Lower the instance's rate limit, spread its schedules, or ask the vendor for a "
            "higher quota.", {"throttled_last_hour": facts.throttled_1h})
    version = instance.connector.version
    spec = instance.version_compatibility
    error = facts.last_error
    if spec and not version_compatible(spec, version):
        yield Condition(
            AlertKind.VERSION_INCOMPATIBLE, subject, AlertSeverity.CRITICAL,
            f"{name}: connector version {version} is outside {spec}",
            f"{name!r} is compatible with connector versions {spec}, but the agent has "
            f"{instance.connector.key} {version}.",
            "Install a compatible connector version on every agent, or update the instance's "
            "version compatibility after checking the change log.",
            {"connector_version": version, "version_compatibility": spec})
    elif error.get("type") == "UnsupportedApiVersionError":
        yield Condition(
            AlertKind.VERSION_INCOMPATIBLE, subject, AlertSeverity.CRITICAL,
            f"{name}: remote API version not supported", str(error.get("message")),
            error.get("hint"), {"error": error})


def alert_data(alert: Alert, instance_name: str | None) -> dict[str, Any]:
    return {
        "alert_id": str(alert.id), "kind": alert.kind.value, "severity": alert.severity.value,
        "status": alert.status.value,
        "instance_id": str(alert.instance_id) if alert.instance_id else None,
        "instance": instance_name, "title": alert.title, "message": alert.message,
        "hint": alert.hint, "details": alert.details,
        "first_seen_at": alert.first_seen_at.isoformat(),
    }


def _raise(session: Session, condition: Condition, instance: IntegrationInstance,
           now: dt.datetime) -> Alert | None:
    alert_id = uuid.uuid4()
    created = insert_or_skip(session, Alert.__table__, {  # type: ignore[arg-type]
        "id": alert_id, "active_key": condition.key, "fingerprint": condition.key,
        "kind": condition.kind.value, "severity": condition.severity.value,
        "status": AlertStatus.OPEN.value, "instance_id": instance.id,
        "title": condition.title[:300], "message": condition.message,
        "hint": condition.hint, "details": condition.details, "first_seen_at": now,
        "last_seen_at": now, "created_at": now, "updated_at": now}, ["active_key"])
    if not created:
        return None  # another agent raised it a moment ago
    alert = session.get(Alert, alert_id)
    assert alert is not None
    emit(session, "alert.raised", alert_data(alert, instance.name),
         dedupe_key=f"alert.raised:{alert.id}", instance_id=instance.id, occurred_at=now)
    return alert


def resolve(session: Session, alert: Alert, now: dt.datetime, why: str) -> None:
    alert.status, alert.active_key, alert.resolved_at = AlertStatus.RESOLVED, None, now
    alert.details = {**alert.details, "resolution": why}
    instance = session.get(IntegrationInstance, alert.instance_id) if alert.instance_id else None
    emit(session, "alert.resolved", alert_data(alert, instance.name if instance else None),
         dedupe_key=f"alert.resolved:{alert.id}", instance_id=alert.instance_id,
         occurred_at=now)


def acknowledge(session: Session, alert: Alert, principal: Principal) -> None:
    if alert.status != AlertStatus.OPEN:
        return
    alert.status, alert.acknowledged_at = AlertStatus.ACKNOWLEDGED, utcnow()
    alert.acknowledged_by = principal.id
    instance = session.get(IntegrationInstance, alert.instance_id) if alert.instance_id else None
    emit(session, "alert.acknowledged",
         {**alert_data(alert, instance.name if instance else None),
          "acknowledged_by": principal.name},
         dedupe_key=f"alert.acknowledged:{alert.id}", instance_id=alert.instance_id)


@dataclass
class Outcome:
    raised: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)


def evaluate_instance(session: Session, instance: IntegrationInstance,
                      config: MonitoringConfig, now: dt.datetime | None = None) -> Outcome:
    """Raise, refresh and resolve the alerts of one instance (the caller commits)."""
    now = now or utcnow()
    session.flush()
    outcome = Outcome()
    facts = gather(session, instance, now, requests_24h=False)  # detect needs only the hour
    current = {c.key: c for c in detect(facts, config)}
    live = {str(a.active_key): a for a in session.scalars(select(Alert).where(
        Alert.instance_id == instance.id, Alert.active_key.is_not(None)))
        } if facts.live_alerts else {}
    for key, condition in current.items():
        alert = live.get(key)
        if alert is None:
            raised = _raise(session, condition, instance, now)
            if raised is not None:
                outcome.raised.append(raised)
            continue
        alert.last_seen_at, alert.message, alert.title = now, condition.message, \
            condition.title[:300]
        alert.severity, alert.details = condition.severity, condition.details
    for key, alert in live.items():
        if key not in current:
            resolve(session, alert, now, "the condition cleared")
            outcome.resolved.append(alert)
    return outcome


def evaluate_all(session: Session, config: MonitoringConfig,
                 now: dt.datetime | None = None) -> Outcome:
    """Every instance, one after the other (the caller commits)."""
    total = Outcome()
    for instance in list(session.scalars(select(IntegrationInstance))):
        outcome = evaluate_instance(session, instance, config, now)
        total.raised += outcome.raised
        total.resolved += outcome.resolved
    return total
