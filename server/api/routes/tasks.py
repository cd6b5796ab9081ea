"""Tasks for manual intervention (the Task Management integration point), pushing them to an
ITSM connector, and retrying a failed sync from its checkpoints (issue 7)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.api import crud
from server.api.deps import Operator, Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort
from server.api.problems import Conflict, Unprocessable, problem_responses
from server.api.routes.instance_ops import run_instance_action
from server.api.schemas.alerts import TaskPush, TaskRead, TaskResolve
from server.api.schemas.monitoring import ExecutionRead
from server.api.schemas.operations import ActionRequest
from server.api.types import Limit, ShortText
from server.db.models import (
    DeadLetter,
    InstanceStatus,
    IntegrationInstance,
    StreamState,
    SyncExecution,
    SyncStatus,
    Task,
    TaskStatus,
)
from server.monitoring import recovery, tasks
from server.services import activity
from server.services.registry import Registry
from server.sync.manager import ACTIVE, SyncManager

router = APIRouter(tags=["monitoring"], responses=problem_responses(401, 422))
SORTS = {"created_at": Task.created_at, "updated_at": Task.updated_at}


class TaskQuery(BaseModel):
    status: TaskStatus | None = Field(default=None, description="open or resolved")
    instance_id: uuid.UUID | None = None
    error_category: ShortText | None = None
    sort: str | None = Field(default=None, pattern="^-?(created_at|updated_at)$",
                             description="created_at or updated_at (default -updated_at)")
    limit: Limit = 50
    cursor: ShortText | None = None


@router.get("/tasks", response_model=Page[TaskRead])
def list_tasks(session: SessionDep, _: Reader, query: Annotated[TaskQuery, Query()]
               ) -> Page[TaskRead]:
    """Failures the agent could not resolve by itself; each says what to do (`hint`)."""
    stmt = select(Task)
    if query.status:
        stmt = stmt.where(Task.status == query.status)
    if query.instance_id:
        stmt = stmt.where(Task.instance_id == query.instance_id)
    if query.error_category:
        stmt = stmt.where(Task.error_category == query.error_category)
    order = parse_sort(query.sort, SORTS, Task.id, "-updated_at")
    return paginate(session, stmt, order, query.limit, query.cursor, TaskRead.model_validate)


@router.get("/tasks/{task_id}", response_model=TaskRead, responses=problem_responses(404))
def get_task(task_id: uuid.UUID, session: SessionDep, _: Reader) -> TaskRead:
    return TaskRead.model_validate(crud.get_or_404(session, Task, task_id, "task"))


@router.post("/tasks/{task_id}/resolve", response_model=TaskRead,
             responses=problem_responses(403, 404))
def resolve_task(task_id: uuid.UUID, body: TaskResolve, session: SessionDep, who: Operator
                 ) -> TaskRead:
    """Close a task by hand (resolving an already resolved task changes nothing)."""
    task = crud.get_or_404(session, Task, task_id, "task")
    if task.status == TaskStatus.OPEN:
        tasks.resolve(session, task, f"{body.resolution} ({who.name})")
        activity.record(session, "task.resolve", f"task resolved: {task.title}",
                        principal=who, instance_id=task.instance_id,
                        details={"task_id": str(task.id)})
        session.commit()
    return TaskRead.model_validate(task)


@router.post("/tasks/{task_id}/push", response_model=TaskRead,
             responses=problem_responses(403, 404, 409))
async def push_task(task_id: uuid.UUID, body: TaskPush, request: Request, session: SessionDep,
                    who: Operator) -> TaskRead:
    """Open the task in an ITSM system through a write action of its instance (Jira's
    `create_issue`): the same path as `POST /instances/{id}/actions/{action}`, with the task id
    as the Idempotency-Key, so pushing twice opens one ticket."""
    task = crud.get_or_404(session, Task, task_id, "task")
    target = crud.get_or_404(session, IntegrationInstance, body.instance_id, "instance")
    registry: Registry = request.app.state.registry
    entry = registry.entry(session, target.connector.key)
    spec = entry.connector_class.actions().get(body.action) if entry else None
    if spec is None:
        raise Unprocessable(errors=[("action", f"{target.connector.key} has no write action "
                                               f"{body.action!r}")])
    source = session.get(IntegrationInstance, task.instance_id) if task.instance_id else None
    payload = tasks.itsm_input(task, source.name if source else None,
                               set(spec.input_model.model_fields), dict(body.input))
    result = await run_instance_action(target.id, body.action, ActionRequest(input=payload),
                                       request, session, who,
                                       idempotency_key=f"task-{task.id}-{body.action}")
    task.external_instance_id, task.external_ref = target.id, {
        "action": body.action, "result": result.result, "replayed": result.replayed}
    session.commit()
    return TaskRead.model_validate(task)


@router.post("/sync-executions/{execution_id}/retry", response_model=ExecutionRead,
             status_code=202, tags=["sync"], responses=problem_responses(403, 404, 409))
async def retry_sync_execution(execution_id: uuid.UUID, request: Request, session: SessionDep,
                               who: Operator) -> ExecutionRead:
    """Run a failed sync again from its checkpoints: finished streams are not read again, the
    failed stream resumes from its last checkpoint. Only the instance's latest sync can be
    retried; an instance in error is activated again (the retry is a person's probe)."""
    execution = crud.get_or_404(session, SyncExecution, execution_id, "sync execution")
    if execution.status != SyncStatus.FAILED:
        raise Conflict(f"the sync is {execution.status.value}; only a failed sync can be "
                       "retried", errors=[("status", execution.status.value)])
    newer = session.scalar(select(SyncExecution.id).where(
        SyncExecution.instance_id == execution.instance_id,
        SyncExecution.start_time > execution.start_time).limit(1))
    active = session.scalar(select(SyncExecution.id).where(
        SyncExecution.instance_id == execution.instance_id,
        SyncExecution.status.in_(ACTIVE)).limit(1))
    if newer is not None or active is not None:
        raise Conflict("a newer sync of this instance exists; start a new sync instead",
                       errors=[("execution_id", str(active or newer))])
    instance = session.get(IntegrationInstance, execution.instance_id)
    assert instance is not None
    if instance.status not in (InstanceStatus.ACTIVE, InstanceStatus.ERROR):
        raise Conflict(f"instance {instance.name!r} is {instance.status.value}; activate it "
                       "first", errors=[("status", instance.status.value)])
    if instance.status == InstanceStatus.ERROR:
        recovery.close_breaker(session, instance, f"{who.name} retried sync {execution.id}")
    _drop_restarting_dead_letters(session, execution)
    previous = dict(execution.error_details or {})
    execution.status, execution.end_time = SyncStatus.PENDING, None
    execution.cancel_requested, execution.lease_expires_at = False, None
    execution.error_details = {"previous_failure": previous} if previous else None
    activity.record(session, "sync.retry_requested", "retry of the failed sync requested",
                    principal=who, instance_id=instance.id, sync_id=execution.id)
    session.commit()
    manager: SyncManager = request.app.state.sync_manager
    manager.launch(execution.id)
    return ExecutionRead.model_validate(execution)


def _drop_restarting_dead_letters(session: Session, execution: SyncExecution) -> None:
    """A stream the retry reads from its start writes its dead letters again: drop the first
    attempt's (streams resuming from a checkpoint of this sync keep theirs)."""
    per_stream = (execution.stats or {}).get("streams") or {}
    for name, stats in per_stream.items():
        if stats.get("done"):
            continue
        state = session.get(StreamState, (execution.instance_id, name))
        if state is None or state.sync_id != execution.id:
            session.execute(delete(DeadLetter).where(DeadLetter.sync_id == execution.id,
                                                     DeadLetter.stream == name))
