"""What the sync engine does with each class of failure, and what happens after the sync.

Within a sync (:class:`RecoveryPolicy`), by the failure's ``action``:

=========  ==================================================================================
retry      transient network trouble, 5xx: retry the stream from its last checkpoint, with
           exponential backoff and jitter, up to ``max_attempts`` attempts in all
wait       rate limited: wait as long as the server said (``Retry-After``), up to
           ``max_waits`` times and never longer than ``max_wait`` seconds at once
refresh    401: rebuild the connector with freshly loaded credentials (an OAuth token is
           fetched anew) once; a second 401 fails the sync at once with the hint
fail/skip  configuration, permissions, 4xx, data the connector cannot read: fail now
=========  ==================================================================================

After a failed sync (:func:`after_sync`): an admin-only failure (credentials, configuration,
a 4xx refusal) or ``breaker_failures`` failed syncs in a row open the circuit breaker: the
instance goes to ``error`` with an ``error_message`` that says what failed and what to do,
scheduled syncs are skipped until the breaker's probe time (never, for admin-only failures),
and a task is opened for a person. A completed sync closes the breaker, puts the instance back
to ``active`` and resolves the instance's tasks.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.sdk.errors import ConnectorError, ErrorAction, RateLimitError
from server.db.models import (
    BreakerState,
    CircuitBreaker,
    InstanceStatus,
    IntegrationInstance,
    LogType,
    SyncExecution,
    SyncStatus,
    TriggerType,
)
from server.db.types import utcnow
from server.monitoring import tasks
from server.monitoring.config import MonitoringConfig
from server.services import activity

MAX_PROBE_DELAY = dt.timedelta(hours=24)

#: What an administrator should do, by error class (also in docs/guides/troubleshooting.md).
RECOVERY_STEPS: dict[str, str] = {
    "auth": "Renew or re-enter the credentials of this integration (test them on the "
            "Credentials page), then activate the instance.",
    "config": "Correct the integration's configuration (Test connection names the field at "
              "fault), then activate the instance.",
    "transient": "Check that the system is reachable from the agent (URL, DNS, firewall, "
                 "proxy, TLS). The agent tries again by itself; activate the instance to try "
                 "at once.",
    "rate_limited": "The remote API kept throttling the agent: lower the instance's rate "
                    "limit or sync less often. The agent tries again by itself.",
    "remote": "The remote system kept failing or refused the request: check its status and "
              "the URL and permissions of the integration, then activate the instance.",
    "data": "The remote system returned data the connector cannot read (a proxy page, a "
            "wrong endpoint, a changed API): check the base URL and the API, then activate "
            "the instance.",
    "internal": "The agent failed unexpectedly: see the agent log and report it; activate "
                "the instance to try again.",
}


def recovery_step(category: str | None) -> str:
    return RECOVERY_STEPS.get(category or "internal", RECOVERY_STEPS["internal"])


@dataclass
class Attempts:
    """What one stream of one sync has used of its recovery budget."""

    retries: int = 0
    waits: int = 0
    refreshed: bool = False


@dataclass(frozen=True)
class Decision:
    retry: bool
    delay: float = 0.0
    refresh: bool = False
    #: Why the engine gives up (added to the failure), or what it does next (logged).
    note: str = ""


@dataclass(frozen=True)
class RecoveryPolicy:
    max_attempts: int = 3
    backoff_base: float = 5.0
    backoff_max: float = 300.0
    max_waits: int = 3
    max_wait: float = 900.0

    @classmethod
    def of(cls, config: MonitoringConfig) -> RecoveryPolicy:
        return cls(max_attempts=config.retry_attempts,
                   backoff_base=config.retry_backoff_seconds,
                   max_wait=config.max_rate_limit_wait_seconds)

    def backoff(self, retry: int) -> float:
        """Exponential, with jitter in its upper half so retries of many syncs spread out."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, retry - 1))
        return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography

    def decide(self, error: ConnectorError, attempts: Attempts) -> Decision:
        """Retry (after ``delay``, with a refresh first if asked) or give up."""
        action = error.action
        if action == ErrorAction.RETRY:
            if attempts.retries + 1 >= self.max_attempts:
                return Decision(False, note=f"gave up after {attempts.retries + 1} attempts")
            attempts.retries += 1
            delay = self.backoff(attempts.retries)
            return Decision(True, delay, note=f"retry {attempts.retries} in {delay:.1f} s")
        if action == ErrorAction.WAIT:
            told = error.retry_after if isinstance(error, RateLimitError) else None
            wait = told if told is not None else self.backoff(attempts.waits + 1)
            if attempts.waits >= self.max_waits:
                return Decision(False, note=f"still rate limited after {attempts.waits} waits")
            if wait > self.max_wait:
                return Decision(False, note=f"the server asks to wait {wait:g} s, more than "
                                            f"the {self.max_wait:g} s allowed")
            attempts.waits += 1
            return Decision(True, wait, note=f"rate limited: waiting {wait:g} s as told")
        if action == ErrorAction.REFRESH:
            if attempts.refreshed:
                return Decision(False, note="refused again after refreshing the credentials")
            attempts.refreshed = True
            return Decision(True, refresh=True, note="refreshing the credentials once")
        return Decision(False)


# ---- after the sync: circuit breaker and tasks ----------------------------------------------

def admin_only(error: dict[str, Any] | None) -> bool:
    """A failure no retry can fix: a person has to change something first."""
    if not error:
        return False
    category = error.get("category")
    return category in ("auth", "config") or (category == "remote"
                                              and error.get("action") == ErrorAction.FAIL)


def consecutive_failures(session: Session, instance_id: uuid.UUID, limit: int = 100) -> int:
    """Failed syncs since the instance's last completed one (cancelled ones do not count)."""
    statuses = session.scalars(
        select(SyncExecution.status)
        .where(SyncExecution.instance_id == instance_id,
               SyncExecution.status.in_((SyncStatus.COMPLETED, SyncStatus.FAILED)))
        .order_by(SyncExecution.start_time.desc(), SyncExecution.id).limit(limit))
    count = 0
    for status in statuses:
        if status != SyncStatus.FAILED:
            break
        count += 1
    return count


#: ``session.info`` key: breakers (or their absence) already read in the session's transaction.
KNOWN = "simpletrust.monitoring.breakers"


def remember_breaker(session: Session, instance_id: uuid.UUID,
                     breaker: CircuitBreaker | None) -> None:
    """Note the instance's breaker row (None: it has none) read with other rows, so that
    :func:`breaker_of` needs no query: a sync's start and end each looked it up by key, a
    round trip that finds nothing for an instance that never failed."""
    session.info.setdefault(KNOWN, {})[instance_id] = breaker


def breaker_of(session: Session, instance_id: uuid.UUID) -> CircuitBreaker | None:
    known: dict[uuid.UUID, CircuitBreaker | None] = session.info.get(KNOWN) or {}
    if instance_id in known:
        return known[instance_id]
    return session.get(CircuitBreaker, instance_id)


def blocked(session: Session, instance: IntegrationInstance, execution: SyncExecution,
            now: dt.datetime) -> str | None:
    """Why a scheduled sync must not run now (the breaker is open), or None.

    An admin who activated the instance again closes the breaker; a manual sync always runs
    (it is a person's probe); a scheduled one runs once the probe time has come.
    """
    breaker = breaker_of(session, instance.id)
    if breaker is None or breaker.state != BreakerState.OPEN:
        return None
    if instance.status == InstanceStatus.ACTIVE:
        close_breaker(session, instance, "the instance was activated again", reactivate=False)
        return None
    if execution.trigger_type != TriggerType.SCHEDULED:
        return None
    if breaker.retry_at is not None and now >= breaker.retry_at:
        return None  # half-open: this sync is the probe
    until = (f"until {breaker.retry_at.isoformat(timespec='seconds')}"
             if breaker.retry_at else "until an administrator activates the instance")
    return f"skipped: the circuit breaker is open {until} ({breaker.reason})"


def close_breaker(session: Session, instance: IntegrationInstance, why: str, *,
                  reactivate: bool = True) -> None:
    breaker = breaker_of(session, instance.id)
    was_open = breaker is not None and breaker.state == BreakerState.OPEN
    if breaker is not None:
        breaker.state, breaker.retry_at, breaker.trips = BreakerState.CLOSED, None, 0
    if reactivate and instance.status == InstanceStatus.ERROR:
        instance.status = InstanceStatus.ACTIVE
        instance.error_message = None
    if was_open:
        activity.record(session, "instance.breaker_closed", f"circuit breaker closed: {why}",
                        instance_id=instance.id, log_type=LogType.SUCCESS)


def open_breaker(session: Session, instance: IntegrationInstance, error: dict[str, Any],
                 failures: int, config: MonitoringConfig, now: dt.datetime) -> CircuitBreaker:
    breaker = breaker_of(session, instance.id)
    if breaker is None:
        breaker = CircuitBreaker(instance_id=instance.id, state=BreakerState.CLOSED, trips=0)
        session.add(breaker)
        session.info.get(KNOWN, {}).pop(instance.id, None)
    category = error.get("category") or "internal"
    breaker.trips = (breaker.trips or 0) + 1
    breaker.state, breaker.opened_at = BreakerState.OPEN, now
    if admin_only(error):
        breaker.retry_at = None
    else:
        delay = min(MAX_PROBE_DELAY, config.breaker_cooldown * 2 ** (breaker.trips - 1))
        breaker.retry_at = now + delay
    why = (f"{failures} syncs failed in a row" if failures > 1 else "the sync failed")
    breaker.reason = f"{why}: {category}"
    message = str(error.get("message") or "unknown error")
    instance.status = InstanceStatus.ERROR
    probe = (f" The next automatic attempt is at {breaker.retry_at.isoformat(timespec='seconds')}."
             if breaker.retry_at else "")
    instance.error_message = (f"{why} ({category}): {message} Recovery: "
                              f"{recovery_step(category)}{probe}")[:4000]
    activity.record(session, "instance.breaker_opened",
                    f"circuit breaker opened: {why} ({category})", instance_id=instance.id,
                    log_type=LogType.ERROR,
                    details={"error": error, "retry_at": breaker.retry_at.isoformat()
                             if breaker.retry_at else None})
    return breaker


def after_sync(session: Session, execution: SyncExecution, instance: IntegrationInstance,
               error: dict[str, Any] | None, config: MonitoringConfig,
               now: dt.datetime | None = None) -> None:
    """Breaker and tasks after a sync ended (in the transaction that records its end)."""
    now = now or utcnow()
    if execution.status == SyncStatus.COMPLETED:
        close_breaker(session, instance, f"sync {execution.id} completed")
        tasks.resolve_for_instance(session, instance.id,
                                   f"resolved automatically: sync {execution.id} completed")
        return
    if execution.status != SyncStatus.FAILED or not error:
        return
    session.flush()
    failures = consecutive_failures(session, instance.id)
    if admin_only(error) or failures >= config.breaker_failures:
        open_breaker(session, instance, error, failures, config, now)
        tasks.open_for_failure(session, instance, execution, error,
                               recovery_step(error.get("category")))
