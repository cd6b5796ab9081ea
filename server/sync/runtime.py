"""Build a ready connector for an instance: its class, configuration, credentials, options."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from connectors.registry import ConnectorEntry
from connectors.sdk import ConfigError, Connector, ConnectorContext
from connectors.sdk.auth import build_auth
from connectors.sdk.auth.models import plain_values
from server.db.models import (
    AuthenticationConfig,
    CircuitBreaker,
    IntegrationConnector,
    IntegrationInstance,
    SyncExecution,
)
from server.db.types import utcnow
from server.monitoring import recovery
from server.services import credentials, instance_config
from server.services.registry import Registry
from server.vault import Vault


@dataclass(frozen=True)
class InstanceOptions:
    """Per-instance options the admin sets (not the connector's own configuration)."""

    allow_loopback: bool = False
    rate_limit_per_second: float | None = None
    rate_limit_burst: float | None = None
    http_timeout: float = 30.0
    verify_tls: bool = True

    @classmethod
    def of(cls, instance: IntegrationInstance) -> InstanceOptions:
        raw = instance.options or {}
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


#: The connector columns a sync's own bookkeeping reads (the registry lookup, events, alerts).
#: The row's JSON schemas, the rest of it, were decoded again at each sync's claim, start and
#: end: ~a tenth of a small sync's CPU (issue 6).
_LIGHT = (IntegrationConnector.key, IntegrationConnector.name, IntegrationConnector.version)


_LIGHT_CONNECTOR = joinedload(IntegrationInstance.connector, innerjoin=True).load_only(*_LIGHT)

#: Built once (their cache keys are then computed once): one SELECT each, with the joins.
_WITH_INSTANCE = (select(SyncExecution, IntegrationInstance, CircuitBreaker)
                  .join(IntegrationInstance,
                        IntegrationInstance.id == SyncExecution.instance_id)
                  .outerjoin(CircuitBreaker,
                             CircuitBreaker.instance_id == IntegrationInstance.id)
                  .options(_LIGHT_CONNECTOR))
_EXECUTION = _WITH_INSTANCE.where(SyncExecution.id == bindparam("id"))
_EXECUTION_LOCKED = _EXECUTION.with_for_update(of=SyncExecution)
#: Many executions, those whose rows are free locked (see executions_free).
_EXECUTIONS_FREE = (_WITH_INSTANCE
                    .where(SyncExecution.id.in_(bindparam("ids", expanding=True)))
                    .order_by(SyncExecution.id)
                    .with_for_update(of=SyncExecution, skip_locked=True))


def execution_for_sync(session: Session, execution_id: uuid.UUID, *, lock: bool = False
                       ) -> tuple[SyncExecution, IntegrationInstance] | None:
    """The execution and its instance, with only :data:`_LIGHT` of its connector loaded and
    its circuit breaker row (if any) noted for :func:`server.monitoring.recovery.breaker_of`,
    in one SELECT (a sync's start and end); ``lock``: the execution's row ``FOR UPDATE`` (of
    it alone). Other connector attributes still load when read, inside the session."""
    row = session.execute(_EXECUTION_LOCKED if lock else _EXECUTION,
                          {"id": execution_id}).first()
    if row is None:
        return None
    execution, instance, breaker = row
    recovery.remember_breaker(session, instance.id, breaker)
    return execution, instance


def executions_free(session: Session, execution_ids: Collection[uuid.UUID]
                    ) -> dict[uuid.UUID, tuple[SyncExecution, IntegrationInstance]]:
    """:func:`execution_for_sync` (``lock``) for many executions in one SELECT, of those whose
    rows are free: a row another transaction holds is left out, not waited for (the caller
    writes that one alone), so locking many rows at once never waits in a cycle."""
    found: dict[uuid.UUID, tuple[SyncExecution, IntegrationInstance]] = {}
    for execution, instance, breaker in session.execute(
            _EXECUTIONS_FREE, {"ids": sorted(set(execution_ids))}):
        recovery.remember_breaker(session, instance.id, breaker)
        found[execution.id] = (execution, instance)
    return found


_LOCKED = (select(IntegrationInstance)
           .options(_LIGHT_CONNECTOR)
           .where(IntegrationInstance.id == bindparam("id"))
           .with_for_update(of=IntegrationInstance))


def instance_locked(session: Session, instance_id: uuid.UUID) -> IntegrationInstance | None:
    """The instance, its row locked (``FOR UPDATE`` of the instance alone), with only
    :data:`_LIGHT` of its connector, in one SELECT."""
    return session.execute(_LOCKED, {"id": instance_id}).scalar_one_or_none()


_MANY_LOCKED = (select(IntegrationInstance, CircuitBreaker)
                .outerjoin(CircuitBreaker, CircuitBreaker.instance_id == IntegrationInstance.id)
                .options(_LIGHT_CONNECTOR)
                .where(IntegrationInstance.id.in_(bindparam("ids", expanding=True)))
                .order_by(IntegrationInstance.id)
                .with_for_update(of=IntegrationInstance))


def instances_locked(session: Session, instance_ids: Collection[uuid.UUID]
                     ) -> dict[uuid.UUID, IntegrationInstance]:
    """The instances, their rows locked in id order (agents claiming overlapping sets wait
    for each other instead of deadlocking), with only :data:`_LIGHT` of their connectors and
    their circuit breaker rows noted for :func:`server.monitoring.recovery.breaker_of`, in
    one SELECT (the slots of a schedule tick, claimed together)."""
    found: dict[uuid.UUID, IntegrationInstance] = {}
    for instance, breaker in session.execute(_MANY_LOCKED, {"ids": sorted(set(instance_ids))}):
        recovery.remember_breaker(session, instance.id, breaker)
        found[instance.id] = instance
    return found


def connector_entry(session: Session, registry: Registry, instance: IntegrationInstance
                    ) -> ConnectorEntry:
    entry = registry.entry(session, instance.connector.key)
    if entry is None:
        raise ConfigError(
            f"connector {instance.connector.key!r} is not available on this agent "
            "(its package is missing or third-party plugins are disabled)",
            hint="install the connector's package on every agent, or re-enable plugins",
        )
    return entry


def credential_for(
    session: Session, vault: Vault, auth: AuthenticationConfig,
    connector_class: type | None = None,
) -> Any:
    """The live credential (an ``httpx.Auth``, AWS keys, an LDAP bind…) of a stored config.

    OAuth tokens persist in the credential's sealed envelope, so a refreshed or rotated token
    survives restarts and is shared by every instance using the credential.
    """
    fields = plain_values(credentials.load(vault, auth))
    factory = sessionmaker(session.get_bind(), expire_on_commit=False)
    store = credentials.DbTokenStore(factory, vault, auth.id)
    # A connector may build its own credential from the fields (e.g. GitHub App auth).
    custom = getattr(connector_class, "build_credentials", None) if connector_class else None
    if custom is not None:
        return custom(auth.auth_type.value, fields, token_store=store)
    return build_auth(auth.auth_type.value, fields, token_store=store)


def build_connector(
    session: Session, registry: Registry, vault: Vault, instance: IntegrationInstance,
    **context: Any,
) -> Connector[Any]:
    """The instance's connector, with decrypted credentials; the caller closes it."""
    entry = connector_entry(session, registry, instance)
    credential: Any = None
    if instance.auth_config_id is not None:
        auth = session.get(AuthenticationConfig, instance.auth_config_id)
        if auth is not None:
            credential = credential_for(session, vault, auth, entry.connector_class)
            auth.last_used = utcnow()
    options = InstanceOptions.of(instance)
    ctx = ConnectorContext(
        instance_id=str(instance.id), allow_loopback=options.allow_loopback,
        rate_limit_per_second=options.rate_limit_per_second,
        rate_limit_burst=options.rate_limit_burst, http_timeout=options.http_timeout,
        verify_tls=options.verify_tls, **context,
    )
    configuration = instance_config.opened(vault, str(instance.id), instance.configuration)
    return entry.connector_class(configuration, credentials=credential, context=ctx)
