"""The FastAPI application: routers, problem+json errors, OpenAPI under the API prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from server import __version__
from server.agents.runtime import AgentRuntime
from server.agents.runtime import attach as attach_agent_runtime
from server.api import problems
from server.api.routes import (
    agents,
    alerts,
    audit,
    auth_configs,
    config_code,
    connectors,
    credential_ops,
    events,
    executions,
    health,
    instance_ops,
    instances,
    logs,
    mappings,
    metrics,
    principals,
    prometheus,
    records,
    revisions,
    schedules,
    subscriptions,
    sync,
    tasks,
    webhooks,
)
from server.audit import load_signing_key
from server.audit.service import CheckpointService
from server.config import Settings
from server.db.engine import make_session_factory
from server.monitoring.config import MonitoringConfig
from server.monitoring.recovery import RecoveryPolicy
from server.monitoring.service import MonitoringService
from server.services.registry import Registry
from server.sync.manager import SyncManager
from server.vault import Vault

API_PREFIX = "/api/integration"

DESCRIPTION = """
The sync agent of SimpleTrust Integrations: connectors, instances, credentials, mappings,
schedules, executions, events, logs and health.

Every endpoint except `GET /health` and inbound webhooks needs `Authorization: Bearer <token>`
(`simpletrust token create`). Errors are RFC 9457 `application/problem+json`; validation errors
name each field in `errors`. Lists take `limit` and an opaque `cursor` (from `next_cursor`).
"""


def _operation_id(route: APIRoute) -> str:
    # Readable ids (list_instances, create_schedule…) for generated clients and the console.
    return route.name


def create_app(settings: Settings, engine: Engine, vault: Vault | None = None) -> FastAPI:
    """The app on ``engine``; the vault defaults to the master key of ``settings.data_dir``."""
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime: AgentRuntime = app.state.agent_runtime
        # Heartbeats, then syncs a stopped agent left behind resume from their checkpoints
        # (an atomic claim, safe with several agents), the scheduler and the event worker.
        await runtime.start()
        checkpoints: CheckpointService = app.state.audit_checkpoints
        checkpoints.start()  # signs the audit chain's head periodically and on stop
        monitoring: MonitoringService = app.state.monitoring
        monitoring.start()  # issue 7: metric rollups, alert evaluation, sample pruning
        demo = None
        if settings.demo:  # make run: simulated vendors and demo instances on loopback
            from server.demo import start_demo  # noqa: PLC0415

            demo = await start_demo(app)
        yield
        if demo is not None:
            demo.stop()
        await monitoring.stop()
        await checkpoints.stop()
        await runtime.stop()  # scheduler, events, then SyncManager.shutdown (leases released)

    app = FastAPI(
        title="SimpleTrust Integrations agent",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
        # The agent exports no OpenTelemetry data; off, FastAPI skips a per-request lookup of
        # the global providers (about a tenth of a small request's time, issue 6).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.vault = vault or Vault.load(settings.data_dir, create=True)
    app.state.registry = Registry(settings)
    # Kept like the master key: OS keyring, SIMPLETRUST_AUDIT_SIGNING_KEY, or a 0600 file.
    app.state.audit_signer = load_signing_key(settings.data_dir, create=True)
    app.state.audit_checkpoints = CheckpointService(app.state.session_factory,
                                                    app.state.audit_signer)
    with app.state.session_factory() as session:
        app.state.registry.sync_rows(session)  # the connector library, as rows instances use
        session.commit()
    app.state.sync_manager = SyncManager(
        app.state.session_factory, app.state.registry, app.state.vault,
        max_parallel=settings.max_parallel_syncs, agent_id=settings.agent_id)
    attach_agent_runtime(app, settings)  # issue 6: agents, scheduler, webhooks, events
    # Issue 7: the engine's thresholds and recovery by error class; the monitoring loop.
    health_config = MonitoringConfig.of(settings)
    app.state.sync_manager.engine.monitoring = health_config
    app.state.sync_manager.engine.recovery = RecoveryPolicy.of(health_config)
    app.state.monitoring = MonitoringService(app.state.session_factory, health_config)
    problems.install(app)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(prometheus.router)  # before metrics, whose /metrics/{id} would match
    for module in (health, principals, connectors, instances, instance_ops, auth_configs,
                   credential_ops, mappings,
                   schedules, executions, sync, records, subscriptions, logs, metrics):
        api.include_router(module.router)
    api.include_router(credential_ops.callback_router)  # the browser's OAuth redirect
    for module in (audit, config_code, revisions):  # issue 10
        api.include_router(module.router)
    for module in (webhooks, events, agents):  # issue 6
        api.include_router(module.router)
    for module in (alerts, tasks):  # issue 7
        api.include_router(module.router)
    app.include_router(api)
    return app
