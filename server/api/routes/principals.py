"""Principals and their API tokens (admin only), and ``/me`` for every caller."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from server.api import crud
from server.api.deps import Admin, CurrentPrincipal, SessionDep
from server.api.pagination import Page, paginate, parse_sort, sort_query
from server.api.problems import Conflict, problem_responses
from server.api.schemas.principals import (
    PrincipalCreate,
    PrincipalRead,
    PrincipalUpdate,
    TokenCreate,
    TokenIssued,
    TokenRead,
)
from server.api.types import Limit, ShortText
from server.db.models import ApiToken, Principal, Role
from server.db.types import utcnow
from server.security.tokens import issue_token
from server.services import activity

router = APIRouter(tags=["principals"], responses=problem_responses(401, 403, 404, 422))
SORTS = {"name": Principal.name, "created_at": Principal.created_at}
TOKEN_SORTS = {"created_at": ApiToken.created_at, "name": ApiToken.name}


@router.get("/me", response_model=PrincipalRead)
def get_me(who: CurrentPrincipal) -> PrincipalRead:
    """The principal the token belongs to (what the console shows as "signed in as")."""
    return PrincipalRead.model_validate(who)


@router.get("/principals", response_model=Page[PrincipalRead])
def list_principals(
    session: SessionDep, _: Admin, role: Role | None = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None, limit: Limit = 50,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[PrincipalRead]:
    stmt = select(Principal)
    if role:
        stmt = stmt.where(Principal.role == role)
    return paginate(session, stmt, parse_sort(sort, SORTS, Principal.id, "name"), limit, cursor,
                    PrincipalRead.model_validate)


@router.get("/principals/{principal_id}", response_model=PrincipalRead)
def get_principal(principal_id: uuid.UUID, session: SessionDep, _: Admin) -> PrincipalRead:
    return PrincipalRead.model_validate(
        crud.get_or_404(session, Principal, principal_id, "principal"))


@router.post("/principals", response_model=PrincipalRead, status_code=201,
             responses=problem_responses(409))
def create_principal(body: PrincipalCreate, session: SessionDep, who: Admin) -> PrincipalRead:
    crud.ensure_unique(session, Principal.name, body.name)
    obj = Principal(id=uuid.uuid4(), **body.model_dump())
    session.add(obj)
    activity.record(session, "principal.create",
                    f"principal {obj.name!r} created with role {obj.role.value}", principal=who)
    session.commit()
    return PrincipalRead.model_validate(obj)


def _last_admin_guard(session: SessionDep, obj: Principal) -> None:
    others = session.scalar(select(Principal.id).where(
        Principal.role == Role.ADMIN, Principal.is_active.is_(True), Principal.id != obj.id,
    ).limit(1))
    if obj.role == Role.ADMIN and others is None:
        raise Conflict("this is the last active admin; create another admin first")


@router.put("/principals/{principal_id}", response_model=PrincipalRead,
            responses=problem_responses(409))
def update_principal(
    principal_id: uuid.UUID, body: PrincipalUpdate, session: SessionDep, who: Admin
) -> PrincipalRead:
    obj = crud.get_or_404(session, Principal, principal_id, "principal")
    if body.name is not None:
        crud.ensure_unique(session, Principal.name, body.name, exclude_id=obj.id)
    demoted = (body.role not in (None, Role.ADMIN)) or body.is_active is False
    if demoted:
        _last_admin_guard(session, obj)
    changed = crud.apply_changes(obj, body)
    if changed:
        activity.record(session, "principal.update", f"principal {obj.name!r} updated",
                        principal=who, details={"fields": sorted(changed)})
    session.commit()
    return PrincipalRead.model_validate(obj)


@router.delete("/principals/{principal_id}", status_code=204, responses=problem_responses(409))
def delete_principal(principal_id: uuid.UUID, session: SessionDep, who: Admin) -> Response:
    obj = crud.get_or_404(session, Principal, principal_id, "principal")
    if obj.id == who.id:
        raise Conflict("a principal cannot delete itself")
    _last_admin_guard(session, obj)
    activity.record(session, "principal.delete", f"principal {obj.name!r} deleted",
                    principal=who)
    session.delete(obj)
    session.commit()
    return Response(status_code=204)


@router.post("/principals/{principal_id}/tokens", response_model=TokenIssued, status_code=201)
def create_token(
    principal_id: uuid.UUID, body: TokenCreate, session: SessionDep, who: Admin
) -> TokenIssued:
    """Issue a token for the principal. The response is the only time the token is shown."""
    obj = crud.get_or_404(session, Principal, principal_id, "principal")
    expires = dt.timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = issue_token(session, obj, body.name, expires_in=expires)
    activity.record(session, "token.create", f"token {body.name!r} issued for {obj.name!r}",
                    principal=who, details={"token_id": str(issued.record.id)})
    session.commit()
    return TokenIssued(**TokenRead.model_validate(issued.record).model_dump(),
                       token=issued.token)


@router.get("/tokens", response_model=Page[TokenRead])
def list_tokens(
    session: SessionDep, _: Admin, principal_id: uuid.UUID | None = None,
    sort: Annotated[str | None, sort_query(TOKEN_SORTS)] = None, limit: Limit = 50,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[TokenRead]:
    stmt = select(ApiToken)
    if principal_id:
        stmt = stmt.where(ApiToken.principal_id == principal_id)
    return paginate(session, stmt, parse_sort(sort, TOKEN_SORTS, ApiToken.id, "created_at"),
                    limit, cursor, TokenRead.model_validate)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: uuid.UUID, session: SessionDep, who: Admin) -> Response:
    """Revoke a token (kept for the record, never accepted again)."""
    obj = crud.get_or_404(session, ApiToken, token_id, "token")
    if obj.revoked_at is None:
        obj.revoked_at = utcnow()
        activity.record(session, "token.revoke", f"token {obj.name!r} revoked", principal=who,
                        details={"token_id": str(obj.id)})
        session.commit()
    return Response(status_code=204)
