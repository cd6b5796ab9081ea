"""Health of the agent and its database (no token needed, for load balancers and probes)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from server import __version__
from server.api.deps import SessionDep
from server.api.schemas.monitoring import ComponentHealth, HealthRead
from server.db.models import InstanceStatus, IntegrationInstance
from server.db.types import utcnow

router = APIRouter(tags=["monitoring"])


@router.get("/health", response_model=HealthRead,
            responses={503: {"model": HealthRead, "description": "The agent cannot work"}})
def get_health(session: SessionDep, response: Response) -> HealthRead:
    """Overall health; 503 when the agent cannot do its job (its database is unreachable)."""
    counts = dict.fromkeys(InstanceStatus, 0)
    try:
        rows = session.execute(select(IntegrationInstance.status, func.count())
                               .group_by(IntegrationInstance.status))
        counts.update({status: n for status, n in rows})
        database = ComponentHealth(status="healthy")
    except SQLAlchemyError as exc:
        database = ComponentHealth(status="failing",
                                   detail=f"database unreachable: {type(exc).__name__}")
    status = database.status
    if status == "healthy" and counts[InstanceStatus.ERROR]:
        status = "degraded"
    if status == "failing":
        response.status_code = 503
    return HealthRead(status=status, version=__version__, time=utcnow(), database=database,
                      instances=counts)
