"""FastAPI dependencies: the database session, the calling principal and role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from server.api.problems import Forbidden, Unauthorized
from server.config import Settings
from server.db.models import Principal, Role
from server.security.tokens import authenticate

_bearer = HTTPBearer(auto_error=False, description="An API token (`simpletrust token create`)")


def get_session(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def current_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise Unauthorized("send an API token: Authorization: Bearer <token>", headers=challenge)
    principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("the token is unknown, revoked or expired", headers=challenge)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def requires(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only the given roles through (403 otherwise)."""
    allowed = ", ".join(r.value for r in roles)

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"this needs the role {allowed}; the token's role is "
                            f"{principal.role.value}")
        return principal

    return check


#: Anyone with a valid token may read.
Reader = CurrentPrincipal
#: Configure and run integrations.
Operator = Annotated[Principal, Depends(requires(Role.ADMIN, Role.OPERATOR))]
#: Principals and tokens.
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]
