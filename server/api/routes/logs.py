"""Integration logs: filter by instance, type, operation, time range and text."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, select

from server.api import crud
from server.api.deps import Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort
from server.api.problems import problem_responses
from server.api.schemas.monitoring import LogRead
from server.api.types import Limit, ShortText
from server.db.models import IntegrationInstance, IntegrationLog, LogType

router = APIRouter(prefix="/logs", tags=["logs"], responses=problem_responses(401, 422))
SORTS = {"timestamp": IntegrationLog.timestamp}


class LogQuery(BaseModel):

    log_type: list[LogType] = Field(default_factory=list, description="One or more log types")
    operation: ShortText | None = Field(
        default=None, description="An operation, or its family: `instance` matches "
        "`instance.create`, `instance.update`…")
    since: dt.datetime | None = Field(default=None, description="At or after (UTC if no zone)")
    until: dt.datetime | None = Field(default=None, description="Before (UTC if no zone)")
    q: ShortText | None = Field(default=None, description="Text in the message")
    sync_id: uuid.UUID | None = None
    sort: str | None = Field(default=None, pattern="^-?timestamp$",
                             description="timestamp or -timestamp (default)")
    limit: Limit = 50
    cursor: ShortText | None = None

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        if self.log_type:
            stmt = stmt.where(IntegrationLog.log_type.in_(self.log_type))
        if self.operation:
            stmt = stmt.where(
                (IntegrationLog.operation == self.operation)
                | IntegrationLog.operation.startswith(self.operation + ".", autoescape=True)
            )
        if self.since:
            stmt = stmt.where(IntegrationLog.timestamp >= crud.as_utc(self.since))
        if self.until:
            stmt = stmt.where(IntegrationLog.timestamp < crud.as_utc(self.until))
        if self.q:
            stmt = stmt.where(IntegrationLog.message.icontains(self.q, autoescape=True))
        if self.sync_id:
            stmt = stmt.where(IntegrationLog.sync_id == self.sync_id)
        return stmt


def _page(session: SessionDep, stmt: Select[Any], query: LogQuery) -> Page[LogRead]:
    order = parse_sort(query.sort, SORTS, IntegrationLog.id, "-timestamp")
    return paginate(session, query.apply(stmt), order, query.limit, query.cursor,
                    LogRead.model_validate)


@router.get("", response_model=Page[LogRead])
def list_logs(
    session: SessionDep, _: Reader, query: Annotated[LogQuery, Query()],
    instance_id: uuid.UUID | None = None,
) -> Page[LogRead]:
    stmt = select(IntegrationLog)
    if instance_id:
        stmt = stmt.where(IntegrationLog.instance_id == instance_id)
    return _page(session, stmt, query)


@router.get("/{instance_id}", response_model=Page[LogRead], responses=problem_responses(404))
def list_instance_logs(
    instance_id: uuid.UUID, session: SessionDep, _: Reader, query: Annotated[LogQuery, Query()],
) -> Page[LogRead]:
    crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    return _page(session, select(IntegrationLog).where(IntegrationLog.instance_id == instance_id),
                 query)
