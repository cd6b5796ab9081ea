"""What every CLI command needs: settings, a database session, readable failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from server.config import Settings, SettingsError, get_settings
from server.db.engine import make_engine, make_session_factory

err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from None


def engine() -> Engine:
    return make_engine(settings().database_url)


@contextmanager
def session_scope(upgrade: bool = True) -> Iterator[Session]:
    eng = engine()
    if upgrade:
        from server.db import migrate  # noqa: PLC0415 - alembic is slow to import

        migrate.upgrade(eng)
    try:
        with make_session_factory(eng)() as session:
            yield session
    finally:
        eng.dispose()
