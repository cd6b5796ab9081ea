"""Integration health alerts: list, acknowledge, evaluate now (issue 7)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from server.api import crud
from server.api.deps import Operator, Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort
from server.api.problems import Conflict, problem_responses
from server.api.schemas.alerts import AlertRead
from server.api.types import Limit, ShortText
from server.db.models import Alert, AlertKind, AlertSeverity, AlertStatus
from server.monitoring import alerts
from server.monitoring.config import MonitoringConfig
from server.services import activity

router = APIRouter(prefix="/alerts", tags=["monitoring"], responses=problem_responses(401, 422))
SORTS = {"last_seen_at": Alert.last_seen_at, "first_seen_at": Alert.first_seen_at}


class AlertQuery(BaseModel):
    status: list[AlertStatus | Literal["active"]] = Field(
        default_factory=list,
        description="open, acknowledged, resolved; `active` is open or acknowledged")
    severity: AlertSeverity | None = None
    kind: AlertKind | None = None
    instance_id: uuid.UUID | None = None
    sort: str | None = Field(default=None, pattern="^-?(last_seen_at|first_seen_at)$",
                             description="last_seen_at (default -last_seen_at) or "
                                         "first_seen_at")
    limit: Limit = 50
    cursor: ShortText | None = None


def _config(request: Request) -> MonitoringConfig:
    config: MonitoringConfig = request.app.state.monitoring.config
    return config


@router.get("", response_model=Page[AlertRead])
def list_alerts(session: SessionDep, _: Reader, query: Annotated[AlertQuery, Query()]
                ) -> Page[AlertRead]:
    """Alerts, newest activity first; `status=active` for those not yet resolved."""
    stmt = select(Alert)
    wanted: set[Any] = set(query.status)
    if "active" in wanted:
        wanted = (wanted - {"active"}) | {AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED}
    if wanted:
        stmt = stmt.where(Alert.status.in_(wanted))
    if query.severity:
        stmt = stmt.where(Alert.severity == query.severity)
    if query.kind:
        stmt = stmt.where(Alert.kind == query.kind)
    if query.instance_id:
        stmt = stmt.where(Alert.instance_id == query.instance_id)
    order = parse_sort(query.sort, SORTS, Alert.id, "-last_seen_at")
    return paginate(session, stmt, order, query.limit, query.cursor, AlertRead.model_validate)


@router.get("/{alert_id}", response_model=AlertRead, responses=problem_responses(404))
def get_alert(alert_id: uuid.UUID, session: SessionDep, _: Reader) -> AlertRead:
    return AlertRead.model_validate(crud.get_or_404(session, Alert, alert_id, "alert"))


@router.post("/{alert_id}/acknowledge", response_model=AlertRead,
             responses=problem_responses(403, 404, 409))
def acknowledge_alert(alert_id: uuid.UUID, session: SessionDep, who: Operator) -> AlertRead:
    """Say a person has seen the alert; it still resolves by itself when the condition
    clears. Acknowledging twice is harmless; a resolved alert cannot be acknowledged."""
    alert = crud.get_or_404(session, Alert, alert_id, "alert")
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict("the alert is already resolved", errors=[("status", "resolved")])
    if alert.status == AlertStatus.OPEN:
        alerts.acknowledge(session, alert, who)
        activity.record(session, "alert.acknowledge", f"alert acknowledged: {alert.title}",
                        principal=who, instance_id=alert.instance_id,
                        details={"alert_id": str(alert.id)})
        session.commit()
    return AlertRead.model_validate(alert)


class EvaluationRead(BaseModel):
    raised: list[AlertRead]
    resolved: list[AlertRead]


@router.post("/evaluate", response_model=EvaluationRead, responses=problem_responses(403))
def evaluate_alerts(request: Request, session: SessionDep, _: Operator) -> EvaluationRead:
    """Evaluate every instance's alerts now (the agent also does it periodically)."""
    outcome = alerts.evaluate_all(session, _config(request))
    session.commit()
    return EvaluationRead(raised=[AlertRead.model_validate(a) for a in outcome.raised],
                          resolved=[AlertRead.model_validate(a) for a in outcome.resolved])
