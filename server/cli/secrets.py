"""``simpletrust secrets``: master key status, rotation and key generation.

Mounted by the main CLI as a sub-app (``app.add_typer(secrets.app, name="secrets")``). The
database URL and data directory come from the agent's settings unless given as options.
"""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from server.db.engine import make_engine, make_session_factory
from server.db.models import AuthenticationConfig
from server.vault import (
    MasterKey,
    RotationReport,
    Vault,
    VaultError,
    is_envelope,
    rotate_master_key,
)

app = typer.Typer(help="Manage the master key that encrypts stored credentials.")

DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Agent data directory (default: settings).")
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="Database URL (default: settings).")
]


def _resolve(data_dir: Path | None, database_url: str | None) -> tuple[Path, str]:
    if data_dir is not None and database_url is not None:
        return data_dir, database_url
    # Imported when needed: settings validation must not run for `--help`.
    settings: Any = importlib.import_module("server.config").get_settings()
    return data_dir or Path(settings.data_dir), database_url or str(settings.database_url)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


@app.command()
def status(data_dir: DataDirOption = None, database_url: DatabaseOption = None) -> None:
    """Show where the master key comes from and which key each credential uses."""
    data_dir, database_url = _resolve(data_dir, database_url)
    try:
        vault = Vault.load(data_dir, create=False)
    except VaultError as exc:
        raise _fail(str(exc)) from None
    info = vault.status()
    typer.echo(f"master key source: {info.source}")
    typer.echo(f"master key id:     {info.kid}")
    if info.pending_kid:
        typer.echo(
            f"rotation in progress to key {info.pending_kid}: "
            "re-run `simpletrust secrets rotate-master-key` to finish it"
        )
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            values = session.scalars(select(AuthenticationConfig.credentials)).all()
    except SQLAlchemyError as exc:
        raise _fail(f"cannot read the credentials table ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    counts: Counter[str] = Counter()
    for value in values:
        if not value:
            counts["no secret"] += 1
        elif not is_envelope(value):
            counts["NOT ENCRYPTED"] += 1
        elif value["kid"] in vault.keys:
            counts[f"key {value['kid']}"] += 1
        else:
            counts[f"UNKNOWN key {value['kid']}"] += 1
    typer.echo(f"credentials:       {len(values)}")
    for label, count in sorted(counts.items()):
        typer.echo(f"  {label}: {count}")
    if any(label.startswith(("NOT", "UNKNOWN")) for label in counts):
        raise typer.Exit(code=2)


@app.command("rotate-master-key")
def rotate_master_key_command(
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 100,
) -> None:
    """Re-wrap every credential under a new master key. Safe to interrupt and re-run.

    Stop the agent first. With SIMPLETRUST_MASTER_KEY, put the new key in
    SIMPLETRUST_NEW_MASTER_KEY before running this.
    """
    data_dir, database_url = _resolve(data_dir, database_url)
    engine = make_engine(database_url)
    try:
        vault = Vault.load(data_dir, create=False)
        # A staged key means an interrupted rotation (or SIMPLETRUST_NEW_MASTER_KEY): finish it.
        new_key = vault.pending_key or MasterKey.generate()
        if vault.pending_key is not None:
            typer.echo(f"resuming the rotation to master key {new_key.kid}")
        report = rotate_master_key(
            make_session_factory(engine), vault, new_key, batch_size=batch_size
        )
    except VaultError as exc:
        raise _fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise _fail(f"cannot read or write the credentials table ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    _print_report(report)


def _print_report(report: RotationReport) -> None:
    typer.echo(
        f"master key rotated {report.old_kid} -> {report.new_kid}: "
        f"{report.rewrapped} re-wrapped, {report.already_current} already on the new key, "
        f"{report.empty} without secrets ({report.total} credentials, {report.batches} batches)"
    )
    if report.snapshots or report.stale_snapshots:
        typer.echo(f"configuration revisions: {report.snapshots} re-wrapped"
                   + (f", {report.stale_snapshots} sealed by a retired key (cannot be rolled "
                      "back to)" if report.stale_snapshots else ""))
    if report.operator_action:
        typer.secho(f"to finish: {report.operator_action}", fg=typer.colors.YELLOW)


@app.command("generate-key")
def generate_key() -> None:
    """Print a new random master key (for SIMPLETRUST_MASTER_KEY or a secret manager)."""
    typer.echo(MasterKey.generate().to_text())
