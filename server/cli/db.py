"""``simpletrust db``: schema migrations."""

from __future__ import annotations

import typer

from server.cli.common import engine
from server.db import migrate

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head")) -> None:
    """Upgrade the schema (the agent also does this on start)."""
    eng = engine()
    migrate.upgrade(eng, revision)
    typer.echo(f"database at revision {migrate.current_revision(eng)}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, or base")) -> None:
    """Downgrade the schema to a revision."""
    eng = engine()
    migrate.downgrade(eng, revision)
    typer.echo(f"database at revision {migrate.current_revision(eng) or 'base'}")


@app.command()
def current() -> None:
    """Show the schema revision of the database and the newest one available."""
    eng = engine()
    cur, head = migrate.current_revision(eng), migrate.head_revision(eng)
    state = "up to date" if cur == head else f"newest is {head}"
    typer.echo(f"{cur or 'base (empty)'} ({state})")
