"""Data mappings: CRUD, validation and test runs. Each accepted change makes a new version."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from server.api import crud
from server.api.deps import Operator, Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort, sort_query
from server.api.problems import Unprocessable, problem_responses
from server.api.schemas.mappings import (
    FieldErrorRead,
    MappingCreate,
    MappingProblemRead,
    MappingRead,
    MappingTestRecord,
    MappingTestResult,
    MappingUpdate,
    MappingValidation,
)
from server.api.schemas.records import MappingTestRequest
from server.api.types import Limit, ShortText
from server.db.models import DataMapping, IntegrationInstance
from server.mapping import MappingSpec, required_targets, test_mapping, validate_mapping
from server.services import activity
from server.services.mappings import MappingShapeError, checked_spec, record_version

router = APIRouter(prefix="/mappings", tags=["mappings"],
                   responses=problem_responses(401, 403, 404, 422))
SORTS = {"name": DataMapping.name, "created_at": DataMapping.created_at,
         "updated_at": DataMapping.updated_at}


def _read(obj: DataMapping) -> MappingRead:
    return MappingRead.model_validate(obj)


def _spec(obj: DataMapping) -> MappingSpec:
    try:
        return checked_spec(obj)
    except MappingShapeError as exc:
        raise Unprocessable("the mapping is malformed", errors=exc.errors) from None


@router.get("", response_model=Page[MappingRead])
def list_mappings(
    session: SessionDep, _: Reader, instance_id: uuid.UUID | None = None,
    q: Annotated[ShortText | None, Query(description="Text in the name")] = None,
    source: Annotated[ShortText | None, Query(description="Stream")] = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None, limit: Limit = 50,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[MappingRead]:
    stmt = select(DataMapping)
    if instance_id:
        stmt = stmt.where(DataMapping.instance_id == instance_id)
    if source:
        stmt = stmt.where(DataMapping.source == source)
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
    spec = _spec(obj)
    session.add(obj)
    session.flush()
    record_version(session, obj, spec, who.id)
    activity.record(session, "mapping.create", f"mapping {obj.name!r} created (version 1)",
                    principal=who, instance_id=obj.instance_id,
                    details={"mapping_id": str(obj.id), "fingerprint": spec.fingerprint()})
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
        obj.version = str(int(obj.version) + 1 if obj.version.isdigit() else 1)
        spec = _spec(obj)
        record_version(session, obj, spec, who.id)
        activity.record(session, "mapping.update",
                        f"mapping {obj.name!r} updated (version {obj.version})",
                        principal=who, instance_id=obj.instance_id,
                        details={"mapping_id": str(obj.id), "fields": sorted(changed),
                                 "fingerprint": spec.fingerprint()})
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


@router.post("/{mapping_id}/validate", response_model=MappingValidation,
             name="validate_mapping")
def run_mapping_validation(
    mapping_id: uuid.UUID, session: SessionDep, _: Reader
) -> MappingValidation:
    """Every problem, each with its field: required targets unmapped, incompatible types,
    unknown functions, bad parameters, expressions that do not parse."""
    obj = crud.get_or_404(session, DataMapping, mapping_id, "mapping")
    spec = _spec(obj)
    problems = validate_mapping(spec)
    return MappingValidation(
        valid=not any(p.severity == "error" for p in problems), version=obj.version,
        required_targets=required_targets(spec),
        problems=[MappingProblemRead(**p.model_dump()) for p in problems])


@router.post("/{mapping_id}/test", response_model=MappingTestResult, name="test_mapping")
def run_mapping_test(
    mapping_id: uuid.UUID, body: MappingTestRequest, session: SessionDep, _: Reader
) -> MappingTestResult:
    """Apply the mapping to sample records: the output of each, or its errors per field."""
    obj = crud.get_or_404(session, DataMapping, mapping_id, "mapping")
    results = test_mapping(_spec(obj), body.records)
    return MappingTestResult(version=obj.version, results=[
        MappingTestRecord(index=r.index, output=r.output,
                          errors=[FieldErrorRead(**e.model_dump()) for e in r.errors])
        for r in results])
