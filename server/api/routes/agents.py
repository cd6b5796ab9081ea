"""The agents sharing this database and their state."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from server.agents.service import list_agents as agent_rows
from server.api.deps import CurrentPrincipal, SessionDep
from server.api.problems import problem_responses
from server.api.schemas.agents import AgentRead
from server.db.types import utcnow

router = APIRouter(prefix="/agents", tags=["agents"], responses=problem_responses(401))


def _agents(session: Session, request: Request) -> list[AgentRead]:
    lease = dt.timedelta(seconds=request.app.state.settings.sync_lease_seconds)
    me = getattr(request.app.state, "agent_id", None)
    return [AgentRead(id=a.id, hostname=a.hostname, pid=a.pid, version=a.version,
                      started_at=a.started_at, heartbeat_at=a.heartbeat_at, state=state,
                      running_syncs=a.running_syncs, this_agent=a.id == me)
            for a, state in agent_rows(session, utcnow(), lease)]


@router.get("", response_model=list[AgentRead])
def list_agents(request: Request, session: SessionDep, _: CurrentPrincipal
                      ) -> list[AgentRead]:
    """Every agent that ever started on this database; ``lost`` ones stopped heartbeating
    (their syncs are taken over once their leases lapse)."""
    return _agents(session, request)
