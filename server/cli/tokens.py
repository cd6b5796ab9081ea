"""``simpletrust token``: API tokens for people, scripts and pipelines."""

from __future__ import annotations

import datetime as dt

import typer
from sqlalchemy import select

from server.cli.common import fail, session_scope
from server.db.models import ApiToken, Principal, PrincipalKind, Role
from server.db.types import utcnow
from server.security.tokens import create_service_principal, issue_token

app = typer.Typer(help="API tokens.", no_args_is_help=True)


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="Principal name (created if new)"),
    role: Role = typer.Option(..., "--role", help="admin, operator or auditor"),
    expires_in_days: int | None = typer.Option(None, "--expires-in-days", min=1, max=3650),
) -> None:
    """Create a token and print it once (a new principal NAME gets ROLE)."""
    with session_scope() as session:
        principal = session.scalar(select(Principal).where(Principal.name == name))
        if principal is None:
            principal = create_service_principal(session, name, role, kind=PrincipalKind.SERVICE)
        elif principal.role != role:
            raise fail(f"principal {name!r} exists with role {principal.role.value}, "
                       f"not {role.value}; change roles through the API")
        expires = dt.timedelta(days=expires_in_days) if expires_in_days else None
        issued = issue_token(session, principal, f"cli token for {name}", expires_in=expires)
        session.commit()
    typer.echo(issued.token)
    typer.echo(f"(role {role.value}; shown once: store it now)", err=True)


@app.command("list")
def list_tokens() -> None:
    """List tokens (never the tokens themselves)."""
    with session_scope() as session:
        rows = session.execute(select(ApiToken, Principal).join(Principal)
                               .order_by(ApiToken.created_at))
        now = utcnow()
        for token, principal in rows:
            state = ("revoked" if token.revoked_at else
                     "expired" if token.expires_at and token.expires_at <= now else "active")
            typer.echo(f"{token.id}  {token.prefix}…  {principal.name:<20} "
                       f"{principal.role.value:<9} {state}")


@app.command()
def revoke(token_id: str) -> None:
    """Revoke a token by its id (from `token list`)."""
    import uuid  # noqa: PLC0415

    try:
        tid = uuid.UUID(token_id)
    except ValueError:
        raise fail(f"token id {token_id!r} is not a UUID (see `simpletrust token list`)") from None
    with session_scope() as session:
        token = session.get(ApiToken, tid)
        if token is None:
            raise fail(f"no token with id {token_id}")
        token.revoked_at = token.revoked_at or utcnow()
        session.commit()
    typer.echo("revoked")
