"""Data mappings: CRUD. Each accepted change of a mapping makes a new version."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from server.api import crud
from server.api.deps import Operator, Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort, sort_query
from server.api.problems import problem_responses
from server.api.schemas.mappings import MappingCreate, MappingRead, MappingUpdate
from server.api.types import Limit, ShortText
from server.db.models import DataMapping, IntegrationInstance
from server.services import activity

router = APIRouter(prefix="/mappings", tags=["mappings"],
                   responses=problem_responses(401, 403, 404, 422))
SORTS = {"name": DataMapping.name, "created_at": DataMapping.created_at,
         "updated_at": DataMapping.updated_at}


def _read(obj: DataMapping) -> MappingRead:
    return MappingRead.model_validate(obj)


@router.get("", response_model=Page[MappingRead])
def list_mappings(
    session: SessionDep, _: Reader, instance_id: uuid.UUID | None = None,
    q: Annotated[ShortText | None, Query(description="Text in the name")] = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None, limit: Limit = 50,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[MappingRead]:
    stmt = select(DataMapping)
    if instance_id:
        stmt = stmt.where(DataMapping.instance_id == instance_id)
    if q:
        stmt = stmt.where(DataMapping.name.icontains(q, autoescape=True))
    return paginate(session, stmt, parse_sort(sort, SORTS, DataMapping.id, "name"), limit,
                    cursor, _read)


@router.get("/{mapping_id}", response_model=MappingRead)
def get_mapping(mapping_id: uuid.UUID, session: SessionDep, _: Reader) -> MappingRead:
    return _read(crud.get_or_404(session, DataMapping, mapping_id, "mapping"))


@router.post("", response_model=MappingRead, status_code=201, responses=problem_responses(409))
def create_mapping(body: MappingCreate, session: SessionDep, who: Operator) -> MappingRead:
    crud.require_ref(session, IntegrationInstance, body.instance_id, "instance_id", "instance")
    crud.ensure_unique(session, DataMapping.name, body.name,
                       scope={"instance_id": body.instance_id})
    obj = DataMapping(id=uuid.uuid4(), created_by=who.id, version="1", **body.model_dump())
    session.add(obj)
    session.flush()
    activity.record(session, "mapping.create", f"mapping {obj.name!r} created (version 1)",
                    principal=who, instance_id=obj.instance_id,
                    details={"mapping_id": str(obj.id)})
    session.commit()
    return _read(obj)


@router.put("/{mapping_id}", response_model=MappingRead, responses=problem_responses(409))
def update_mapping(
    mapping_id: uuid.UUID, body: MappingUpdate, session: SessionDep, who: Operator
) -> MappingRead:
    obj = crud.get_or_404(session, DataMapping, mapping_id, "mapping")
    if body.name is not None:
        crud.ensure_unique(session, DataMapping.name, body.name, exclude_id=obj.id,
                           scope={"instance_id": obj.instance_id})
    changed = crud.apply_changes(obj, body)
    if changed:
        obj.version = str(int(obj.version) + 1) if obj.version.isdigit() else obj.version + ".1"
        activity.record(session, "mapping.update",
                        f"mapping {obj.name!r} updated (version {obj.version})",
                        principal=who, instance_id=obj.instance_id,
                        details={"mapping_id": str(obj.id), "fields": sorted(changed)})
    session.commit()
    return _read(obj)


@router.delete("/{mapping_id}", status_code=204)
def delete_mapping(mapping_id: uuid.UUID, session: SessionDep, who: Operator) -> Response:
    obj = crud.get_or_404(session, DataMapping, mapping_id, "mapping")
    activity.record(session, "mapping.delete", f"mapping {obj.name!r} deleted", principal=who,
                    instance_id=obj.instance_id, details={"mapping_id": str(obj.id)})
    session.delete(obj)
    session.commit()
    return Response(status_code=204)
