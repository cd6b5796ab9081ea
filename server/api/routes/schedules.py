"""Sync schedules: interval, cron (with time zone) and event-based."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from server.api import crud
from server.api.deps import Operator, Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort, sort_query
from server.api.problems import Unprocessable, problem_responses
from server.api.schemas.schedules import ScheduleCreate, ScheduleRead, ScheduleUpdate
from server.api.types import Limit, ShortText
from server.db.models import IntegrationInstance, ScheduleType, SyncSchedule
from server.db.types import utcnow
from server.scheduler.service import notify_schedule_changed
from server.services import activity
from server.services.schedules import next_run, schedule_problems

router = APIRouter(prefix="/schedules", tags=["schedules"],
                   responses=problem_responses(401, 403, 404, 422))
SORTS = {"created_at": SyncSchedule.created_at, "updated_at": SyncSchedule.updated_at}


def _read(obj: SyncSchedule) -> ScheduleRead:
    return ScheduleRead.model_validate(obj)


def _check_and_plan(obj: SyncSchedule) -> None:
    problems = schedule_problems(obj)
    if problems:
        raise Unprocessable("the schedule is incomplete for its type", errors=problems)
    obj.next_execution = next_run(obj, utcnow())


@router.get("", response_model=Page[ScheduleRead])
def list_schedules(
    session: SessionDep, _: Reader, instance_id: uuid.UUID | None = None,
    schedule_type: ScheduleType | None = None, is_active: bool | None = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None, limit: Limit = 50,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[ScheduleRead]:
    stmt = select(SyncSchedule)
    if instance_id:
        stmt = stmt.where(SyncSchedule.instance_id == instance_id)
    if schedule_type:
        stmt = stmt.where(SyncSchedule.schedule_type == schedule_type)
    if is_active is not None:
        stmt = stmt.where(SyncSchedule.is_active.is_(is_active))
    return paginate(session, stmt, parse_sort(sort, SORTS, SyncSchedule.id, "created_at"),
                    limit, cursor, _read)


@router.get("/{schedule_id}", response_model=ScheduleRead)
def get_schedule(schedule_id: uuid.UUID, session: SessionDep, _: Reader) -> ScheduleRead:
    return _read(crud.get_or_404(session, SyncSchedule, schedule_id, "schedule"))


@router.post("", response_model=ScheduleRead, status_code=201)
def create_schedule(body: ScheduleCreate, request: Request, session: SessionDep, who: Operator
                    ) -> ScheduleRead:
    instance = crud.require_ref(session, IntegrationInstance, body.instance_id, "instance_id",
                                "instance")
    obj = SyncSchedule(id=uuid.uuid4(), **body.model_dump())
    _check_and_plan(obj)
    session.add(obj)
    session.flush()
    activity.record(session, "schedule.create",
                    f"{obj.schedule_type.value} schedule created for {instance.name!r}",
                    principal=who, instance_id=obj.instance_id,
                    details={"schedule_id": str(obj.id)})
    session.commit()
    notify_schedule_changed(request.app, obj.id)  # the scheduler plans it at once
    return _read(obj)


@router.put("/{schedule_id}", response_model=ScheduleRead)
def update_schedule(
    schedule_id: uuid.UUID, body: ScheduleUpdate, request: Request, session: SessionDep,
    who: Operator,
) -> ScheduleRead:
    obj = crud.get_or_404(session, SyncSchedule, schedule_id, "schedule")
    changed = crud.apply_changes(obj, body)
    if changed:
        _check_and_plan(obj)
        activity.record(session, "schedule.update", "schedule updated", principal=who,
                        instance_id=obj.instance_id,
                        details={"schedule_id": str(obj.id), "fields": sorted(changed)})
    session.commit()
    notify_schedule_changed(request.app, obj.id)
    return _read(obj)


@router.delete("/{schedule_id}", status_code=204)
def delete_schedule(schedule_id: uuid.UUID, request: Request, session: SessionDep,
                    who: Operator) -> Response:
    obj = crud.get_or_404(session, SyncSchedule, schedule_id, "schedule")
    activity.record(session, "schedule.delete", "schedule deleted", principal=who,
                    instance_id=obj.instance_id, details={"schedule_id": str(obj.id)})
    session.delete(obj)
    session.commit()
    notify_schedule_changed(request.app, schedule_id)
    return Response(status_code=204)
