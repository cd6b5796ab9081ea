"""Credentials (authentication configurations): write-only secrets, shared by instances."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from connectors.sdk.auth.models import AuthFields
from server.api import crud
from server.api.deps import Operator, Reader, SessionDep, SettingsDep
from server.api.pagination import Page, paginate, parse_sort, sort_query
from server.api.problems import Conflict, Unprocessable, problem_responses
from server.api.schemas.auth_configs import (
    AuthConfigCreate,
    AuthConfigRead,
    AuthConfigUpdate,
    InstanceRef,
)
from server.api.types import Limit, ShortText
from server.db.models import AuthenticationConfig, AuthType, IntegrationInstance
from server.db.types import utcnow
from server.services import activity, credentials
from server.vault import Vault

router = APIRouter(prefix="/auth-configs", tags=["credentials"],
                   responses=problem_responses(401, 403, 404, 422))
SORTS = {"name": AuthenticationConfig.name, "created_at": AuthenticationConfig.created_at,
         "expiration": AuthenticationConfig.expiration}


def _vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


def _users(session: SessionDep, obj: AuthenticationConfig) -> list[InstanceRef]:
    rows = session.execute(select(IntegrationInstance.id, IntegrationInstance.name)
                           .where(IntegrationInstance.auth_config_id == obj.id)
                           .order_by(IntegrationInstance.name))
    return [InstanceRef(id=i, name=n) for i, n in rows]


def _reader(
    session: SessionDep, vault: Vault, window_days: int
) -> Callable[[AuthenticationConfig], AuthConfigRead]:
    now = utcnow()

    def read(obj: AuthenticationConfig) -> AuthConfigRead:
        return AuthConfigRead(
            id=obj.id, name=obj.name, auth_type=obj.auth_type,
            credentials=obj.oauth_config or {}, secret_hints=credentials.hints(vault, obj),
            expiration=obj.expiration,
            expires_soon=credentials.expires_soon(obj, now, window_days),
            last_used=obj.last_used, is_system_account=obj.is_system_account,
            created_by=obj.created_by, created_at=obj.created_at, updated_at=obj.updated_at,
            used_by=_users(session, obj),
        )

    return read


def _fields(auth_type: AuthType, values: dict[str, Any]) -> AuthFields:
    try:
        return credentials.validate_fields(auth_type, values)
    except credentials.CredentialFieldsError as exc:
        raise Unprocessable("the credential's fields do not fit its type",
                            errors=exc.errors) from None


@router.get("", response_model=Page[AuthConfigRead])
def list_auth_configs(
    request: Request, session: SessionDep, settings: SettingsDep, _: Reader,
    auth_type: AuthType | None = None,
    q: Annotated[ShortText | None, Query(description="Text in the name")] = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None, limit: Limit = 50,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[AuthConfigRead]:
    stmt = select(AuthenticationConfig)
    if auth_type:
        stmt = stmt.where(AuthenticationConfig.auth_type == auth_type)
    if q:
        stmt = stmt.where(AuthenticationConfig.name.icontains(q, autoescape=True))
    if sort and sort.removeprefix("-") == "expiration":
        stmt = stmt.where(AuthenticationConfig.expiration.is_not(None))
    order = parse_sort(sort, SORTS, AuthenticationConfig.id, "name")
    read = _reader(session, _vault(request), settings.credential_expiry_warning_days)
    return paginate(session, stmt, order, limit, cursor, read)


@router.get("/{auth_config_id}", response_model=AuthConfigRead)
def get_auth_config(
    auth_config_id: uuid.UUID, request: Request, session: SessionDep, settings: SettingsDep,
    _: Reader,
) -> AuthConfigRead:
    obj = crud.get_or_404(session, AuthenticationConfig, auth_config_id, "credential")
    return _reader(session, _vault(request), settings.credential_expiry_warning_days)(obj)


@router.post("", response_model=AuthConfigRead, status_code=201,
             responses=problem_responses(409))
def create_auth_config(
    body: AuthConfigCreate, request: Request, session: SessionDep, settings: SettingsDep,
    who: Operator,
) -> AuthConfigRead:
    fields = _fields(body.auth_type, body.credentials)
    crud.ensure_unique(session, AuthenticationConfig.name, body.name)
    vault = _vault(request)
    obj = AuthenticationConfig(
        id=uuid.uuid4(), name=body.name, auth_type=body.auth_type, created_by=who.id,
        expiration=crud.as_utc(body.expiration), is_system_account=body.is_system_account,
    )
    credentials.store(vault, obj, fields)
    session.add(obj)
    session.flush()
    activity.record(session, "credential.create",
                    f"credential {obj.name!r} ({obj.auth_type.value}) created", principal=who,
                    details={"auth_config_id": str(obj.id)})
    session.commit()
    return _reader(session, vault, settings.credential_expiry_warning_days)(obj)


@router.put("/{auth_config_id}", response_model=AuthConfigRead, responses=problem_responses(409))
def update_auth_config(
    auth_config_id: uuid.UUID, body: AuthConfigUpdate, request: Request, session: SessionDep,
    settings: SettingsDep, who: Operator,
) -> AuthConfigRead:
    obj = crud.get_or_404(session, AuthenticationConfig, auth_config_id, "credential")
    vault = _vault(request)
    sent = body.model_fields_set
    if body.name is not None:
        crud.ensure_unique(session, AuthenticationConfig.name, body.name, exclude_id=obj.id)
    new_type = body.auth_type or obj.auth_type
    changed: list[str] = []
    if "credentials" in sent or new_type != obj.auth_type:
        try:
            fields = credentials.merged(vault, obj, new_type, body.credentials)
        except credentials.CredentialFieldsError as exc:
            raise Unprocessable("the credential's fields do not fit its type",
                                errors=exc.errors) from None
        obj.auth_type = new_type
        credentials.store(vault, obj, fields)
        changed.append("credentials")
    for key in ("name", "is_system_account"):
        value = getattr(body, key)
        if key in sent and value is not None and getattr(obj, key) != value:
            setattr(obj, key, value)
            changed.append(key)
    if "expiration" in sent:
        obj.expiration = crud.as_utc(body.expiration)
        changed.append("expiration")
    if changed:
        activity.record(session, "credential.update", f"credential {obj.name!r} updated",
                        principal=who, details={"auth_config_id": str(obj.id),
                                                "fields": sorted(changed)})
    session.commit()
    return _reader(session, vault, settings.credential_expiry_warning_days)(obj)


@router.delete("/{auth_config_id}", status_code=204, responses=problem_responses(409))
def delete_auth_config(auth_config_id: uuid.UUID, session: SessionDep, who: Operator) -> Response:
    obj = crud.get_or_404(session, AuthenticationConfig, auth_config_id, "credential")
    users = _users(session, obj)
    if users:
        raise Conflict(f"credential {obj.name!r} is used by {len(users)} instance(s); "
                       "give them another credential first",
                       errors=[("used_by", u.name) for u in users])
    activity.record(session, "credential.delete", f"credential {obj.name!r} deleted",
                    principal=who, details={"auth_config_id": str(obj.id)})
    session.delete(obj)
    session.commit()
    return Response(status_code=204)
