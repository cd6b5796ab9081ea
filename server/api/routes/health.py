"""Health of the agent, its database and scheduler, and of each integration (issue 7).

No token is needed (load balancers and probes call it); the per-instance and per-connector
detail, which names the systems the agent talks to, is only returned with a valid token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from server import __version__
from server.api.deps import SessionDep
from server.api.schemas.alerts import ConnectorHealthRead, InstanceHealthRead
from server.api.schemas.monitoring import ComponentHealth, HealthRead
from server.db.models import InstanceStatus, IntegrationInstance
from server.db.types import utcnow
from server.monitoring.health import all_health
from server.security.tokens import authenticate

router = APIRouter(tags=["monitoring"])
_bearer = HTTPBearer(auto_error=False)


def _scheduler(request: Request) -> ComponentHealth:
    service = getattr(request.app.state, "scheduler", None)
    running = bool(service is not None and service.scheduler.running)
    return ComponentHealth(status="healthy" if running else "degraded",
                           detail=None if running else "the scheduler is not running: "
                           "scheduled syncs do not start on this agent")


def _agent(request: Request) -> ComponentHealth:
    manager = request.app.state.sync_manager
    return ComponentHealth(status="healthy",
                           detail=f"agent {request.app.state.agent_id}, "
                                  f"{len(manager.running())} sync(s) running")


@router.get("/health", response_model=HealthRead,
            responses={503: {"model": HealthRead, "description": "The agent cannot work"}},
            # The token is optional: without one, the overall status; with one, the detail.
            openapi_extra={"security": [{}, {"HTTPBearer": []}]})
def get_health(
    request: Request, session: SessionDep, response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> HealthRead:
    """Overall health; 503 when the agent cannot do its job (its database is unreachable).
    With a valid token: each instance's state, score and reason, and each connector's score."""
    counts = dict.fromkeys(InstanceStatus, 0)
    detail: list[InstanceHealthRead] | None = None
    connectors: list[ConnectorHealthRead] | None = None
    try:
        rows = session.execute(select(IntegrationInstance.status, func.count())
                               .group_by(IntegrationInstance.status))
        counts.update({status: n for status, n in rows})
        database = ComponentHealth(status="healthy")
        if credentials is not None and authenticate(session, credentials.credentials):
            items, per_connector = all_health(session, request.app.state.monitoring.config)
            detail = [InstanceHealthRead.model_validate(i, from_attributes=True)
                      for i in items]
            connectors = [ConnectorHealthRead.model_validate(c, from_attributes=True)
                          for c in per_connector]
    except SQLAlchemyError as exc:
        database = ComponentHealth(status="failing",
                                   detail=f"database unreachable: {type(exc).__name__}")
    scheduler = _scheduler(request)
    status = database.status
    # The same with or without a token: it does not depend on the detail.
    if status == "healthy" and (counts[InstanceStatus.ERROR] or scheduler.status != "healthy"):
        status = "degraded"
    if status == "failing":
        response.status_code = 503
    return HealthRead(status=status, version=__version__, time=utcnow(), database=database,
                      instances=counts, agent=_agent(request), scheduler=scheduler,
                      instance_health=detail, connector_health=connectors)
