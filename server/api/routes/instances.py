"""Integration instances: CRUD and lifecycle transitions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import func, select

from server.api import crud
from server.api.deps import Operator, Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort, sort_query
from server.api.problems import Conflict, problem_responses
from server.api.schemas.instances import (
    InstanceCreate,
    InstanceRead,
    InstanceStatusRead,
    InstanceUpdate,
    LastSync,
)
from server.api.types import Limit, ShortText
from server.db.models import (
    AuthenticationConfig,
    InstanceStatus,
    IntegrationConnector,
    IntegrationInstance,
    SyncExecution,
    SyncSchedule,
)
from server.services import activity, instance_config
from server.services.instances import activation_problems

router = APIRouter(prefix="/instances", tags=["instances"],
                   responses=problem_responses(401, 403, 404, 422))
SORTS = {"name": IntegrationInstance.name, "created_at": IntegrationInstance.created_at,
         "updated_at": IntegrationInstance.updated_at, "status": IntegrationInstance.status}


def _read(obj: IntegrationInstance) -> InstanceRead:
    return InstanceRead.model_validate(obj)


@router.get("", response_model=Page[InstanceRead])
def list_instances(
    session: SessionDep, _: Reader,
    status: InstanceStatus | None = None,
    connector_id: uuid.UUID | None = None,
    q: Annotated[ShortText | None, Query(description="Text in the name")] = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None,
    limit: Limit = 50, cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[InstanceRead]:
    stmt = select(IntegrationInstance)
    if status:
        stmt = stmt.where(IntegrationInstance.status == status)
    if connector_id:
        stmt = stmt.where(IntegrationInstance.connector_id == connector_id)
    if q:
        stmt = stmt.where(IntegrationInstance.name.icontains(q, autoescape=True))
    order = parse_sort(sort, SORTS, IntegrationInstance.id, "name")
    return paginate(session, stmt, order, limit, cursor, _read)


@router.get("/{instance_id}", response_model=InstanceRead)
def get_instance(instance_id: uuid.UUID, session: SessionDep, _: Reader) -> InstanceRead:
    return _read(crud.get_or_404(session, IntegrationInstance, instance_id, "instance"))


@router.post("", response_model=InstanceRead, status_code=201,
             responses=problem_responses(409))
def create_instance(
    body: InstanceCreate, request: Request, session: SessionDep, who: Operator
) -> InstanceRead:
    crud.require_ref(session, IntegrationConnector, body.connector_id, "connector_id", "connector")
    if body.auth_config_id:
        crud.require_ref(session, AuthenticationConfig, body.auth_config_id, "auth_config_id",
                         "credential")
    crud.ensure_unique(session, IntegrationInstance.name, body.name)
    connector = session.get(IntegrationConnector, body.connector_id)
    obj = IntegrationInstance(id=uuid.uuid4(), created_by=who.id,
                              **body.model_dump(exclude={"configuration"}))
    # The connector's secret fields (e.g. a HEC token) are sealed, never stored in clear.
    obj.configuration = instance_config.seal(
        request.app.state.vault, str(obj.id), connector.config_schema if connector else {},
        body.configuration)
    session.add(obj)
    session.flush()
    activity.record(session, "instance.create", f"instance {obj.name!r} created",
                    principal=who, instance_id=obj.id)
    session.commit()
    return _read(obj)


@router.put("/{instance_id}", response_model=InstanceRead, responses=problem_responses(409))
def update_instance(
    instance_id: uuid.UUID, body: InstanceUpdate, request: Request, session: SessionDep,
    who: Operator,
) -> InstanceRead:
    obj = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    if body.name is not None:
        crud.ensure_unique(session, IntegrationInstance.name, body.name, exclude_id=obj.id)
    if body.auth_config_id:
        crud.require_ref(session, AuthenticationConfig, body.auth_config_id, "auth_config_id",
                         "credential")
    incoming = body.configuration
    body.model_fields_set.discard("configuration")
    changed = crud.apply_changes(obj, body)
    if incoming is not None:
        sealed = instance_config.seal(request.app.state.vault, str(obj.id),
                                      obj.connector.config_schema or {}, incoming,
                                      stored=obj.configuration)
        if sealed != obj.configuration:
            obj.configuration = sealed
            changed["configuration"] = True
    if changed:
        activity.record(session, "instance.update", f"instance {obj.name!r} updated",
                        principal=who, instance_id=obj.id, details={"fields": sorted(changed)})
    session.commit()
    return _read(obj)


@router.delete("/{instance_id}", status_code=204, responses=problem_responses(409))
def delete_instance(instance_id: uuid.UUID, session: SessionDep, who: Operator) -> Response:
    obj = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    activity.record(session, "instance.delete", f"instance {obj.name!r} deleted",
                    principal=who, details={"instance_id": str(obj.id), "name": obj.name})
    session.delete(obj)
    session.commit()
    return Response(status_code=204)


@router.post("/{instance_id}/activate", response_model=InstanceRead,
             responses=problem_responses(409))
def activate_instance(instance_id: uuid.UUID, session: SessionDep, who: Operator) -> InstanceRead:
    """Start running the instance; refused (409, each gap named) while its configuration is
    incomplete."""
    obj = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    problems = activation_problems(session, obj)
    if problems:
        raise Conflict("the instance's configuration is incomplete", errors=problems,
                       title="Configuration incomplete")
    if obj.status != InstanceStatus.ACTIVE:
        previous = obj.status
        obj.status, obj.error_message = InstanceStatus.ACTIVE, None
        activity.record(session, "instance.activate", f"instance {obj.name!r} activated",
                        principal=who, instance_id=obj.id, details={"from": previous.value})
        session.commit()
    return _read(obj)


@router.post("/{instance_id}/deactivate", response_model=InstanceRead)
def deactivate_instance(
    instance_id: uuid.UUID, session: SessionDep, who: Operator
) -> InstanceRead:
    obj = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    if obj.status != InstanceStatus.INACTIVE:
        previous = obj.status
        obj.status = InstanceStatus.INACTIVE
        activity.record(session, "instance.deactivate", f"instance {obj.name!r} deactivated",
                        principal=who, instance_id=obj.id, details={"from": previous.value})
        session.commit()
    return _read(obj)


@router.get("/{instance_id}/status", response_model=InstanceStatusRead)
def get_instance_status(
    instance_id: uuid.UUID, session: SessionDep, _: Reader
) -> InstanceStatusRead:
    obj = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    last = session.scalar(
        select(SyncExecution).where(SyncExecution.instance_id == obj.id)
        .order_by(SyncExecution.start_time.desc(), SyncExecution.id.desc()).limit(1)
    )
    active = select(SyncSchedule).where(SyncSchedule.instance_id == obj.id,
                                        SyncSchedule.is_active.is_(True))
    next_sync = session.scalar(
        active.with_only_columns(func.min(SyncSchedule.next_execution))
    )
    count = session.scalar(active.with_only_columns(func.count())) or 0
    return InstanceStatusRead(
        id=obj.id, status=obj.status, error_message=obj.error_message,
        last_connected=obj.last_connected,
        last_sync=LastSync.model_validate(last) if last else None,
        next_sync=next_sync, active_schedules=count,
    )
