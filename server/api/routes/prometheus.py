"""`GET /api/integration/metrics/prometheus`: the Prometheus text exposition (issue 7).

Scrapers send a bearer token (any role); with the setting ``prometheus_anonymous_loopback`` a
scraper on the agent's own machine (127.0.0.1 or ::1) may omit it.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.api.deps import SessionDep, SettingsDep, current_principal
from server.api.problems import problem_responses
from server.monitoring import prometheus

router = APIRouter(tags=["monitoring"], responses=problem_responses(401))
_bearer = HTTPBearer(auto_error=False)


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/metrics/prometheus", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Prometheus text format 0.0.4"}})
def prometheus_metrics(
    request: Request, session: SessionDep, settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> PlainTextResponse:
    """Health scores, syncs, records, request rates and latencies, alerts and tasks."""
    if not (settings.prometheus_anonymous_loopback and credentials is None
            and _loopback(request)):
        current_principal(session, credentials)  # 401 without a valid token
    text = prometheus.render(session, request.app.state.monitoring.config,
                             str(request.app.state.agent_id))
    return PlainTextResponse(text, media_type=prometheus.CONTENT_TYPE)
