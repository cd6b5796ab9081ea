"""Alembic environment, portable across SQLite and PostgreSQL.

- ``render_as_batch``: SQLite cannot ALTER most things, batch mode recreates the table.
- ``compare_type``: the no-drift test must see a changed column type.
- Foreign keys are switched off on SQLite while migrating: batch mode drops and recreates
  tables, which would otherwise trip the constraints of rows that reference them.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from server.config import get_settings
from server.db.engine import make_engine
from server.db.models import Base

config = context.config
target_metadata = Base.metadata


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if isinstance(engine, Engine):
        return engine
    return make_engine(get_settings().database_url)


def run_migrations_offline() -> None:
    context.configure(
        url=get_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        is_sqlite = connection.dialect.name == "sqlite"
        if is_sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if is_sqlite:
            connection.execute(text("PRAGMA foreign_keys=ON"))
            connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
