"""Wiring of issue 6 into an agent app: heartbeats, scheduler, webhook intake, event worker.

``create_app`` calls :func:`attach`; the lifespan calls :meth:`AgentRuntime.start` (instead
of ``SyncManager.recover``: taking orphaned syncs over is an atomic claim here, safe with
several agents) and :meth:`AgentRuntime.stop`.
"""

from __future__ import annotations

import datetime as dt
import logging

from fastapi import FastAPI

from server.agents.service import AgentService
from server.config import Settings
from server.events.emit import install_status_hook
from server.events.worker import EventWorker
from server.scheduler.service import SchedulerService
from server.sync.manager import SyncManager
from server.webhooks.intake import WebhookIntake

log = logging.getLogger(__name__)


class AgentRuntime:
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        manager: SyncManager = app.state.sync_manager
        self.manager = manager
        self.agent_id = manager.engine.agent_id
        lease = dt.timedelta(seconds=settings.sync_lease_seconds)
        manager.engine.lease = lease
        factory = app.state.session_factory
        self.agents = AgentService(factory, manager, self.agent_id,
                                   heartbeat=settings.agent_heartbeat_seconds, lease=lease)
        self.scheduler = SchedulerService(factory, manager, self.agent_id, lease=lease,
                                          refresh_seconds=max(settings.agent_heartbeat_seconds,
                                                              1.0))
        self.scheduler.fresh = self.agents.fresh
        self.events = EventWorker(factory, app.state.registry, app.state.vault, manager,
                                  settings, self.agent_id, lease=lease)
        self.intake = WebhookIntake(factory, app.state.registry, app.state.vault,
                                    max_body=settings.webhook_max_body_bytes,
                                    tolerance=settings.webhook_tolerance_seconds,
                                    on_stored=self.events.wake)
        self._started = False

    async def start(self) -> None:
        await self.agents.start()  # registers, then resumes orphaned syncs
        await self.scheduler.start()
        await self.events.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            await self.scheduler.stop()
            await self.events.stop()
        await self.manager.shutdown()  # releases leases: other agents resume at once
        if self._started:
            await self.agents.stop()
        self._started = False


def attach(app: FastAPI, settings: Settings) -> AgentRuntime:
    """Create the runtime and publish its parts on ``app.state`` for the routers."""
    install_status_hook()
    runtime = AgentRuntime(app, settings)
    app.state.agent_runtime = runtime
    app.state.agent_id = runtime.agent_id
    app.state.scheduler = runtime.scheduler
    app.state.webhook_intake = runtime.intake
    app.state.event_worker = runtime.events
    return runtime
