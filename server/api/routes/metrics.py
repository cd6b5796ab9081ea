"""Connector metrics rolled up per hour and per day (the agent's monitoring service writes
them, see :mod:`server.monitoring.rollup` for what each figure means)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, select

from server.api import crud
from server.api.deps import Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort
from server.api.problems import problem_responses
from server.api.schemas.monitoring import MetricsRead
from server.api.types import Limit, ShortText
from server.db.models import ConnectorMetrics, IntegrationInstance

router = APIRouter(prefix="/metrics", tags=["monitoring"], responses=problem_responses(401, 422))
SORTS = {"period_start": ConnectorMetrics.period_start}


class MetricsQuery(BaseModel):
    since: dt.datetime | None = Field(default=None, description="Periods starting at or after")
    until: dt.datetime | None = Field(default=None, description="Periods starting before")
    period: Literal["hour", "day"] | None = Field(
        default=None, description="hour or day rollups (default: both)")
    sort: str | None = Field(default=None, pattern="^-?period_start$",
                             description="period_start or -period_start (default)")
    limit: Limit = 100
    cursor: ShortText | None = None

    def page(self, session: SessionDep, stmt: Select[Any]) -> Page[MetricsRead]:
        if self.since:
            stmt = stmt.where(ConnectorMetrics.period_start >= crud.as_utc(self.since))
        if self.until:
            stmt = stmt.where(ConnectorMetrics.period_start < crud.as_utc(self.until))
        if self.period:
            stmt = stmt.where(ConnectorMetrics.granularity == self.period)
        order = parse_sort(self.sort, SORTS, ConnectorMetrics.id, "-period_start")
        return paginate(session, stmt, order, self.limit, self.cursor,
                        MetricsRead.model_validate)


@router.get("", response_model=Page[MetricsRead])
def list_metrics(
    session: SessionDep, _: Reader, query: Annotated[MetricsQuery, Query()],
    instance_id: uuid.UUID | None = None,
) -> Page[MetricsRead]:
    stmt = select(ConnectorMetrics)
    if instance_id:
        stmt = stmt.where(ConnectorMetrics.instance_id == instance_id)
    return query.page(session, stmt)


@router.get("/{instance_id}", response_model=Page[MetricsRead], responses=problem_responses(404))
def list_instance_metrics(
    instance_id: uuid.UUID, session: SessionDep, _: Reader,
    query: Annotated[MetricsQuery, Query()],
) -> Page[MetricsRead]:
    crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    return query.page(session, select(ConnectorMetrics)
                      .where(ConnectorMetrics.instance_id == instance_id))
