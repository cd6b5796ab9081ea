"""The FastAPI application: routers, problem+json errors, OpenAPI under the API prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from server import __version__
from server.api import problems
from server.api.routes import (
    auth_configs,
    connectors,
    executions,
    health,
    instances,
    logs,
    mappings,
    metrics,
    principals,
    records,
    schedules,
    subscriptions,
    sync,
)
from server.config import Settings
from server.db.engine import make_session_factory
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
        manager: SyncManager = app.state.sync_manager
        manager.recover()  # syncs a stopped agent left behind resume from their checkpoints
        yield
        await manager.shutdown()

    app = FastAPI(
        title="SimpleTrust Integrations agent",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.vault = vault or Vault.load(settings.data_dir, create=True)
    app.state.registry = Registry(settings)
    with app.state.session_factory() as session:
        app.state.registry.sync_rows(session)  # the connector library, as rows instances use
        session.commit()
    app.state.sync_manager = SyncManager(
        app.state.session_factory, app.state.registry, app.state.vault,
        max_parallel=settings.max_parallel_syncs, agent_id=settings.agent_id)
    problems.install(app)

    api = APIRouter(prefix=API_PREFIX)
    for module in (health, principals, connectors, instances, auth_configs, mappings,
                   schedules, executions, sync, records, subscriptions, logs, metrics):
        api.include_router(module.router)
    app.include_router(api)
    return app
