"""Sync executions: read-only history (syncs are started by schedules, events or /sync)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from server.api import crud
from server.api.deps import Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort, sort_query
from server.api.problems import problem_responses
from server.api.schemas.monitoring import ExecutionRead
from server.api.types import Limit, ShortText
from server.db.models import SyncExecution, SyncStatus, TriggerType

router = APIRouter(prefix="/sync-executions", tags=["sync"],
                   responses=problem_responses(401, 404, 422))
SORTS = {"start_time": SyncExecution.start_time, "created_at": SyncExecution.created_at}


def _read(obj: SyncExecution) -> ExecutionRead:
    return ExecutionRead.model_validate(obj)


@router.get("", response_model=Page[ExecutionRead])
def list_sync_executions(
    session: SessionDep, _: Reader, instance_id: uuid.UUID | None = None,
    status: SyncStatus | None = None, trigger_type: TriggerType | None = None,
    since: Annotated[dt.datetime | None, Query(description="Started at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="Started before")] = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None, limit: Limit = 50,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[ExecutionRead]:
    stmt = select(SyncExecution)
    if instance_id:
        stmt = stmt.where(SyncExecution.instance_id == instance_id)
    if status:
        stmt = stmt.where(SyncExecution.status == status)
    if trigger_type:
        stmt = stmt.where(SyncExecution.trigger_type == trigger_type)
    if since:
        stmt = stmt.where(SyncExecution.start_time >= crud.as_utc(since))
    if until:
        stmt = stmt.where(SyncExecution.start_time < crud.as_utc(until))
    return paginate(session, stmt, parse_sort(sort, SORTS, SyncExecution.id, "-start_time"),
                    limit, cursor, _read)


@router.get("/{execution_id}", response_model=ExecutionRead)
def get_sync_execution(execution_id: uuid.UUID, session: SessionDep, _: Reader) -> ExecutionRead:
    return _read(crud.get_or_404(session, SyncExecution, execution_id, "sync execution"))
