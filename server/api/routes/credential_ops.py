"""Proving and refreshing a stored credential."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from connectors.sdk.auth import check_credential
from connectors.sdk.auth.errors import CredentialError
from connectors.sdk.auth.models import plain_values
from connectors.sdk.auth.oauth import OAuth2Auth
from server.api import crud
from server.api.deps import Operator, SessionDep
from server.api.problems import Conflict, problem_responses
from server.api.schemas.operations import (
    CredentialRefreshRead,
    CredentialTestRead,
    CredentialTestRequest,
)
from server.db.models import AuthenticationConfig, LogType
from server.db.types import utcnow
from server.services import activity, credentials
from server.sync.runtime import credential_for
from server.vault import Vault

router = APIRouter(prefix="/auth-configs", tags=["credentials"],
                   responses=problem_responses(401, 403, 404, 409, 422))


@router.post("/{auth_config_id}/test", response_model=CredentialTestRead,
             name="test_auth_config")
async def prove_auth_config(
    auth_config_id: uuid.UUID, request: Request, session: SessionDep, who: Operator,
    body: CredentialTestRequest | None = None,
) -> CredentialTestRead:
    """Prove the credential against its target; a failure says why (bad secret, unreachable,
    missing scope…) with a hint."""
    obj = crud.get_or_404(session, AuthenticationConfig, auth_config_id, "credential")
    vault: Vault = request.app.state.vault
    fields = plain_values(credentials.load(vault, obj))
    store = credentials.DbTokenStore(request.app.state.session_factory, vault, obj.id)
    result = await check_credential(obj.auth_type.value, fields, token_store=store,
                                    probe_url=(body.probe_url if body else None))
    data = result.to_dict()
    ok = bool(data.get("ok"))
    if ok:
        obj.last_used = utcnow()
    activity.record(session, "credential.test",
                    f"credential {obj.name!r} test {'passed' if ok else 'failed'}",
                    principal=who, log_type=LogType.SUCCESS if ok else LogType.WARNING,
                    details={"auth_config_id": str(obj.id), "failure": data.get("failure")})
    session.commit()
    return CredentialTestRead(ok=ok, result=data)


@router.post("/{auth_config_id}/refresh", response_model=CredentialRefreshRead)
async def refresh_auth_config(
    auth_config_id: uuid.UUID, request: Request, session: SessionDep, who: Operator
) -> CredentialRefreshRead:
    """Get a new OAuth access token now (a rotated refresh token is stored atomically)."""
    obj = crud.get_or_404(session, AuthenticationConfig, auth_config_id, "credential")
    credential = credential_for(session, request.app.state.vault, obj)
    if not isinstance(credential, OAuth2Auth):
        raise Conflict(f"a {obj.auth_type.value} credential has no tokens to refresh")
    try:
        token = await credential.aget_token(force=True)
    except CredentialError as exc:
        activity.record(session, "credential.refresh", f"refresh of {obj.name!r} failed: "
                        f"{exc.message}", principal=who, log_type=LogType.ERROR,
                        details={"auth_config_id": str(obj.id)})
        session.commit()
        raise Conflict(exc.message, title="The refresh failed",
                       errors=[("credentials", exc.hint or exc.message)]) from None
    activity.record(session, "credential.refresh", f"credential {obj.name!r} refreshed",
                    principal=who, details={"auth_config_id": str(obj.id)})
    session.commit()
    return CredentialRefreshRead(refreshed=True, expires_at=token.expires_at)
