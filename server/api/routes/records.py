"""The evidence store: canonical records, their version history, and dead letters."""

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
from server.api.schemas.records import DeadLetterRead, RecordRead, RecordVersionRead
from server.api.types import Limit, ShortText
from server.db.models import DeadLetter, EvidenceRecord, EvidenceRecordVersion

router = APIRouter(tags=["records"], responses=problem_responses(401, 404, 422))
SORTS = {"updated_at": EvidenceRecord.updated_at, "external_id": EvidenceRecord.external_id,
         "first_seen_at": EvidenceRecord.first_seen_at}
Cursor = Annotated[ShortText | None, Query()]


@router.get("/records", response_model=Page[RecordRead])
def list_records(
    session: SessionDep, _: Reader,
    entity_type: Annotated[ShortText | None, Query(description="e.g. identity")] = None,
    instance_id: uuid.UUID | None = None,
    deleted: Annotated[bool | None, Query(description="Only deleted (true) or live (false)")]
    = None,
    changed_since: Annotated[dt.datetime | None, Query(description="Changed at or after")]
    = None,
    external_id: Annotated[ShortText | None, Query()] = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None, limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[RecordRead]:
    stmt = select(EvidenceRecord)
    if entity_type:
        stmt = stmt.where(EvidenceRecord.entity_type == entity_type)
    if instance_id:
        stmt = stmt.where(EvidenceRecord.instance_id == instance_id)
    if deleted is not None:
        stmt = stmt.where(EvidenceRecord.is_deleted.is_(deleted))
    if changed_since:
        stmt = stmt.where(EvidenceRecord.updated_at >= crud.as_utc(changed_since))
    if external_id:
        stmt = stmt.where(EvidenceRecord.external_id == external_id)
    return paginate(session, stmt, parse_sort(sort, SORTS, EvidenceRecord.id, "-updated_at"),
                    limit, cursor, RecordRead.model_validate)


@router.get("/records/{record_id}", response_model=RecordRead)
def get_record(record_id: uuid.UUID, session: SessionDep, _: Reader) -> RecordRead:
    return RecordRead.model_validate(crud.get_or_404(session, EvidenceRecord, record_id,
                                                     "record"))


@router.get("/records/{record_id}/history", response_model=list[RecordVersionRead])
def get_record_history(
    record_id: uuid.UUID, session: SessionDep, _: Reader
) -> list[RecordVersionRead]:
    """Every version of the record, oldest first, the current one last: the evidence trail."""
    record = crud.get_or_404(session, EvidenceRecord, record_id, "record")
    rows = session.scalars(select(EvidenceRecordVersion)
                           .where(EvidenceRecordVersion.record_id == record_id)
                           .order_by(EvidenceRecordVersion.version))
    current = RecordVersionRead(
        version=record.version, change=record.last_change,
        changed_fields=record.changed_fields, data=record.data,
        content_hash=record.content_hash, sync_id=record.last_sync_id,
        recorded_at=record.updated_at, provenance=record.provenance)
    return [*(RecordVersionRead.model_validate(r) for r in rows), current]


@router.get("/dead-letters", response_model=Page[DeadLetterRead])
def list_dead_letters(
    session: SessionDep, _: Reader, instance_id: uuid.UUID | None = None,
    sync_id: uuid.UUID | None = None, limit: Limit = 50, cursor: Cursor = None,
) -> Page[DeadLetterRead]:
    """Records that failed mapping or validation, with the raw record and each field error."""
    stmt = select(DeadLetter)
    if instance_id:
        stmt = stmt.where(DeadLetter.instance_id == instance_id)
    if sync_id:
        stmt = stmt.where(DeadLetter.sync_id == sync_id)
    order = parse_sort(None, {"created_at": DeadLetter.created_at}, DeadLetter.id, "-created_at")
    return paginate(session, stmt, order, limit, cursor, DeadLetterRead.model_validate)
