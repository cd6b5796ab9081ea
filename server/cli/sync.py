"""``simpletrust sync INSTANCE``: run a sync now, here, with a live progress display."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from server.cli.common import fail, session_scope, settings
from server.db.models import IntegrationInstance, SyncExecution, TriggerType

out = Console(stderr=True)


def _find(session: Any, ref: str) -> IntegrationInstance:
    try:
        found = session.get(IntegrationInstance, uuid.UUID(ref))
    except ValueError:
        found = session.scalar(select(IntegrationInstance).where(IntegrationInstance.name == ref))
    if found is None:
        raise fail(f"no instance named or with id {ref!r} (see GET /api/integration/instances)")
    return found  # type: ignore[no-any-return]


def sync(
    instance: str = typer.Argument(..., help="Instance name or id"),
    stream: list[str] = typer.Option([], "--stream", "-s", help="Only these streams"),
    full_refresh: bool = typer.Option(False, "--full-refresh",
                                      help="Ignore saved cursors and detect deletions"),
) -> None:
    """Sync an instance now and show its progress (the agent need not run)."""
    # The engine, the connectors and the vault load only for this command.
    from server.db.engine import make_session_factory  # noqa: PLC0415
    from server.services.registry import Registry  # noqa: PLC0415
    from server.sync.manager import (  # noqa: PLC0415
        SyncAlreadyActive,
        SyncManager,
        create_execution,
    )
    from server.vault import Vault, VaultError  # noqa: PLC0415

    cfg = settings()
    try:
        vault = Vault.load(cfg.data_dir, create=False)
    except VaultError as exc:
        raise fail(str(exc)) from None
    with session_scope() as session:
        target = _find(session, instance)
        registry = Registry(cfg)
        registry.sync_rows(session)
        try:
            execution = create_execution(session, target, TriggerType.MANUAL, options={
                "streams": stream, "full_refresh": full_refresh})
        except SyncAlreadyActive as exc:
            raise fail(f"a sync of {target.name!r} is already pending or running "
                       f"(execution {exc.execution_id})") from None
        session.commit()
        factory = make_session_factory(session.get_bind())  # type: ignore[arg-type]
        manager = SyncManager(factory, registry, vault, agent_id="cli")
        name, execution_id = target.name, execution.id

        with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
                      console=out, transient=False) as progress:
            task = progress.add_task(f"{name}", total=None, counts="starting…")

            def show(update: dict[str, Any]) -> None:
                progress.update(task, description=f"{name} · {update['stream']}", counts=(
                    f"{update['created']} new · {update['updated']} changed · "
                    f"{update['unchanged']} same · {update['deleted']} deleted · "
                    f"{update['failed']} failed"))

            async def run() -> Any:
                return await manager.launch(execution_id, show)

            status = asyncio.run(run())
            progress.update(task, total=1, completed=1)
        done = session.get(SyncExecution, execution_id)
        assert done is not None
        session.refresh(done)
    details = done.error_details or {}
    if status.value != "completed":
        hint = f" — {details.get('hint')}" if details.get("hint") else ""
        raise fail(f"sync {status.value}: {details.get('message', 'see the logs')}{hint}", 1)
    typer.echo(f"sync {execution_id} completed: " + ", ".join(
        f"{(done.stats or {}).get(k, 0)} {k}" for k in
        ("created", "updated", "unchanged", "deleted", "failed")))
