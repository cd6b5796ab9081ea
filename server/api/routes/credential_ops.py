"""Proving and refreshing a stored credential."""

from __future__ import annotations

import html
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from connectors.sdk.auth import check_credential
from connectors.sdk.auth.errors import CredentialError
from connectors.sdk.auth.models import plain_values
from connectors.sdk.auth.oauth import (
    OAuth2Auth,
    acomplete_authorization,
    start_authorization,
)
from server.api import crud
from server.api.deps import Operator, SessionDep
from server.api.problems import Conflict, problem_responses
from server.api.schemas.operations import (
    CredentialRefreshRead,
    CredentialTestRead,
    CredentialTestRequest,
    SignInStartRead,
)
from server.db.models import AuthenticationConfig, AuthType, LogType
from server.db.types import utcnow
from server.services import activity, credentials, sign_ins
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


# ---- sign-in from a browser (OAuth 2.0 authorization code + PKCE) ----------------------

callback_router = APIRouter(tags=["credentials"])


@router.post("/{auth_config_id}/oauth/start", response_model=SignInStartRead)
def start_oauth_sign_in(
    auth_config_id: uuid.UUID, request: Request, session: SessionDep, who: Operator
) -> SignInStartRead:
    """Begin a browser sign-in: open `authorization_url`; the provider redirects back to the
    agent's `/oauth/callback`, which stores the tokens sealed with this credential."""
    obj = crud.get_or_404(session, AuthenticationConfig, auth_config_id, "credential")
    if obj.auth_type != AuthType.OAUTH2_AUTHORIZATION_CODE:
        raise Conflict(f"a {obj.auth_type.value} credential has no browser sign-in")
    fields = credentials.load(request.app.state.vault, obj)
    redirect = str(request.url_for("complete_oauth_sign_in"))
    pending = start_authorization(fields, redirect)  # type: ignore[arg-type]
    sign_ins.begin(session, request.app.state.vault, obj.id, pending, who.id)
    activity.record(session, "credential.sign_in", f"browser sign-in started for {obj.name!r}",
                    principal=who, details={"auth_config_id": str(obj.id)})
    session.commit()
    return SignInStartRead(authorization_url=pending.url, redirect_uri=redirect,
                           expires_in=sign_ins.SIGN_IN_TTL)


def _page(title: str, text: str, status: int) -> HTMLResponse:
    body = (f"<!doctype html><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>")
    return HTMLResponse(body, status_code=status)


@callback_router.get("/oauth/callback", response_class=HTMLResponse, include_in_schema=False,
                     name="complete_oauth_sign_in")
async def complete_oauth_sign_in(request: Request, session: SessionDep) -> HTMLResponse:
    """Where the provider sends the browser back (no token: the one-time `state` is the proof).
    """
    params = dict(request.query_params)
    vault: Vault = request.app.state.vault
    started = sign_ins.take(session, vault, params.get("state", ""))
    session.commit()  # used up, whatever happens next
    if started is None:
        return _page("Sign-in not recognised", "This sign-in is unknown or expired. Start it "
                     "again from the console or the API.", 400)
    obj = session.get(AuthenticationConfig, started.auth_config_id)
    if obj is None:
        return _page("Credential gone", "The credential was deleted during the sign-in.", 404)
    fields = credentials.load(vault, obj)
    store = credentials.DbTokenStore(request.app.state.session_factory, vault, obj.id)
    try:
        await acomplete_authorization(fields, started.pending, params,  # type: ignore[arg-type]
                                      token_store=store)
    except CredentialError as exc:
        activity.record(session, "credential.sign_in", f"browser sign-in for {obj.name!r} "
                        f"failed: {exc.message}", log_type=LogType.ERROR,
                        details={"auth_config_id": str(obj.id)})
        session.commit()
        return _page("Sign-in failed", f"{exc.message}. {exc.hint or ''}".strip(), 400)
    activity.record(session, "credential.sign_in", f"browser sign-in for {obj.name!r} done",
                    log_type=LogType.SUCCESS, details={"auth_config_id": str(obj.id),
                                                       "principal_id": str(started.principal_id)})
    session.commit()
    return _page("Signed in", f"The credential {obj.name!r} is ready. You can close this "
                 "window.", 200)
