"""The audit trail for auditors and administrators: entries, verification, export."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Annotated, Literal

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from server.api import crud
from server.api.deps import SessionDep, requires
from server.api.problems import Conflict, Unprocessable, problem_responses
from server.api.schemas.audit import (
    AuditEntryRead,
    AuditPage,
    CheckpointRead,
    ProblemRead,
    PublicKeyRead,
    VerifyRead,
)
from server.api.types import Limit, ShortText
from server.audit import SigningKey, exporting, verify_database
from server.audit.store import AuditIntegrityError, checkpoint_record, write_checkpoint
from server.db.models import AuditCheckpoint, AuditEntry, Principal, Role

router = APIRouter(prefix="/audit", tags=["audit"],
                   responses=problem_responses(401, 403, 422))

#: Auditors and administrators (operators change configuration; they do not audit it).
Auditor = Annotated[Principal, Depends(requires(Role.ADMIN, Role.AUDITOR))]
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]


def _signer(request: Request) -> SigningKey:
    key: SigningKey = request.app.state.audit_signer
    return key


def _read(row: AuditEntry) -> AuditEntryRead:
    return AuditEntryRead(
        seq=row.seq, recorded_at=row.recorded_at, actor=row.actor, action=row.action,
        object_type=row.object_type, object_id=row.object_id, before_hash=row.before_hash,
        after_hash=row.after_hash, details=json.loads(row.details or "{}"),
        prev_hash=row.prev_hash, entry_hash=row.entry_hash)


def _cursor(seq: int, descending: bool) -> str:
    raw = json.dumps({"seq": seq, "desc": descending}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str, descending: bool) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["desc"] != descending:
            raise ValueError
        return int(data["seq"])
    except (ValueError, KeyError, TypeError):
        raise Unprocessable(errors=[("cursor", "not a cursor from this list with this sort; "
                                     "start again without it")]) from None


@router.get("", response_model=AuditPage)
def list_audit_entries(
    session: SessionDep, _: Auditor,
    action: Annotated[ShortText | None, Query(
        description="Exact action, or a prefix ending in `.*` (e.g. `credential.*`)")] = None,
    actor: Annotated[ShortText | None, Query()] = None,
    object_type: Annotated[ShortText | None, Query()] = None,
    object_id: Annotated[ShortText | None, Query()] = None,
    since: Annotated[dt.datetime | None, Query(description="Recorded at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="Recorded at or before")] = None,
    sort: Annotated[Literal["seq", "-seq"], Query(description="Oldest (seq) or newest first")]
    = "-seq",
    limit: Limit = 50, cursor: Annotated[ShortText | None, Query()] = None,
) -> AuditPage:
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action[:-1], autoescape=True)
                          if action.endswith(".*") else AuditEntry.action == action)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if since:
        stmt = stmt.where(AuditEntry.recorded_at >= crud.as_utc(since))
    if until:
        stmt = stmt.where(AuditEntry.recorded_at <= crud.as_utc(until))
    descending = sort == "-seq"
    if cursor:
        last = _after(cursor, descending)
        stmt = stmt.where(AuditEntry.seq < last if descending else AuditEntry.seq > last)
    stmt = stmt.order_by(AuditEntry.seq.desc() if descending else AuditEntry.seq.asc())
    rows = list(session.scalars(stmt.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(items=[_read(r) for r in rows],
                     next_cursor=_cursor(rows[-1].seq, descending) if more and rows else None)


@router.get("/verify", response_model=VerifyRead)
def verify_audit_chain(
    request: Request, session: SessionDep, _: Auditor,
    since: Annotated[dt.datetime | None, Query(
        description="Verify only entries recorded since then (and their link to the one "
                    "before)")] = None,
) -> VerifyRead:
    """Recompute the chain, check the head and every checkpoint this agent's key signed."""
    result = verify_database(session, [_signer(request).public], crud.as_utc(since))
    problem = result.problem
    return VerifyRead(
        ok=result.ok, summary=result.summary(), entries_checked=result.entries_checked,
        first_seq=result.first_seq, last_seq=result.last_seq,
        checkpoints_verified=result.checkpoints_verified,
        problem=ProblemRead(seq=problem.seq, kind=problem.kind, message=problem.message)
        if problem else None, warnings=result.warnings)


@router.get("/public-key", response_model=PublicKeyRead)
def get_audit_public_key(request: Request, _: Auditor) -> PublicKeyRead:
    public = _signer(request).public
    pem = public.key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return PublicKeyRead(key_id=public.key_id, public_key=public.to_text(), public_key_pem=pem)


@router.get("/checkpoints", response_model=list[CheckpointRead])
def list_audit_checkpoints(
    session: SessionDep, _: Auditor, limit: Limit = 50,
) -> list[CheckpointRead]:
    """The newest checkpoints first."""
    rows = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc())
                           .limit(limit))
    return [CheckpointRead(**checkpoint_record(r).as_dict()) for r in rows]


@router.post("/checkpoints", response_model=CheckpointRead | None,
             responses=problem_responses(409))
def create_audit_checkpoint(
    request: Request, session: SessionDep, _: Admin
) -> CheckpointRead | None:
    """Sign the chain's head now (null when nothing was appended since the last one).

    Refused (409) when the chain does not verify: a checkpoint never vouches for tampering.
    """
    try:
        record = write_checkpoint(session, _signer(request))
    except AuditIntegrityError as exc:
        raise Conflict(str(exc), title="Audit chain does not verify") from None
    return CheckpointRead(**record.as_dict()) if record else None


@router.get("/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}},
                             "description": "Entries, checkpoints and public keys"}})
def export_audit_trail(
    request: Request, session: SessionDep, _: Auditor,
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
    since: Annotated[dt.datetime | None, Query()] = None,
    until: Annotated[dt.datetime | None, Query()] = None,
) -> StreamingResponse:
    """What an auditor verifies offline (`simpletrust audit verify --file … --public-key …`)."""
    data = exporting.collect(session, since=crud.as_utc(since), until=crud.as_utc(until),
                             public_keys=[_signer(request).public])
    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    return StreamingResponse(exporting.render(data, format), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="audit-export.{format}"'})
