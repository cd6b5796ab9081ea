"""Manual syncs and cancelling them (schedules and events start syncs the same way)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from server.api import crud
from server.api.deps import Operator, SessionDep
from server.api.problems import Conflict, problem_responses
from server.api.schemas.monitoring import ExecutionRead
from server.api.schemas.records import SyncRequest
from server.db.models import InstanceStatus, IntegrationInstance, SyncExecution, TriggerType
from server.services import activity
from server.sync.manager import SyncAlreadyActive, SyncManager, create_execution

router = APIRouter(tags=["sync"], responses=problem_responses(401, 403, 404, 409, 422))


def _manager(request: Request) -> SyncManager:
    manager: SyncManager = request.app.state.sync_manager
    return manager


@router.post("/instances/{instance_id}/sync", response_model=ExecutionRead, status_code=202)
async def sync_instance(
    instance_id: uuid.UUID, request: Request, session: SessionDep, who: Operator,
    body: SyncRequest | None = None,
) -> ExecutionRead:
    """Start a sync now; returns the execution (poll `GET /sync-executions/{id}`)."""
    instance = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    if instance.status not in (InstanceStatus.ACTIVE, InstanceStatus.ERROR):
        raise Conflict(f"instance {instance.name!r} is {instance.status.value}; activate it "
                       "before syncing", errors=[("status", instance.status.value)])
    options = (body or SyncRequest()).model_dump()
    try:
        execution = create_execution(session, instance, TriggerType.MANUAL,
                                     initiated_by=who.id, options=options)
    except SyncAlreadyActive as exc:
        raise Conflict(f"a sync of {instance.name!r} is already pending or running "
                       f"(execution {exc.execution_id})",
                       errors=[("execution_id", str(exc.execution_id))]) from None
    activity.record(session, "sync.request", "manual sync requested", principal=who,
                    instance_id=instance.id, sync_id=execution.id)
    session.commit()
    _manager(request).launch(execution.id)
    return ExecutionRead.model_validate(execution)


@router.post("/sync-executions/{execution_id}/cancel", response_model=ExecutionRead,
             status_code=202)
def cancel_sync_execution(
    execution_id: uuid.UUID, request: Request, session: SessionDep, who: Operator
) -> ExecutionRead:
    """Ask a running sync to stop at its next batch (what it committed is kept)."""
    execution = crud.get_or_404(session, SyncExecution, execution_id, "sync execution")
    if not _manager(request).request_cancel(execution_id):
        raise Conflict(f"the sync is {execution.status.value}; only pending or running syncs "
                       "can be cancelled")
    activity.record(session, "sync.cancel", "cancellation requested", principal=who,
                    instance_id=execution.instance_id, sync_id=execution.id)
    session.commit()
    session.refresh(execution)
    return ExecutionRead.model_validate(execution)
