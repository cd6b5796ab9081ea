"""``simpletrust config``: configuration as code (export, import, diff).

Mounted by the main CLI: ``app.add_typer(config.app, name="config")``. ``import`` and
``diff`` exit 1 when the file is invalid (each problem named as ``object: field: message``);
``diff`` also exits 1 when the file differs from the live state, like ``diff``.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from server.audit import set_actor
from server.cli.common import fail, session_scope, settings
from server.config_code import (
    ConfigInvalid,
    Plan,
    export_yaml,
    import_config,
    parse_secrets,
)
from server.services.registry import Registry
from server.vault import Vault, VaultError

app = typer.Typer(help="Configuration as code: export, import and diff YAML files.",
                  no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="A YAML file from `simpletrust config export`",
                                         exists=True, dir_okay=False, readable=True)]


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None


def _invalid(exc: ConfigInvalid) -> typer.Exit:
    typer.echo(f"the configuration is invalid ({len(exc.errors)} problem(s)); nothing was "
               "changed:", err=True)
    for error in exc.errors:
        typer.echo(f"  {error}", err=True)
    return typer.Exit(1)


def _show(plan: Plan) -> None:
    if not plan.changes:
        typer.echo("no changes: the live configuration matches the file")
    else:
        sys.stdout.write(plan.diff)
        typer.echo(f"{len(plan.changes)} change(s): " + ", ".join(
            f"{c.action} {c.object}" for c in plan.changes))
    for name, fields in sorted(plan.missing_secrets.items()):
        what = name if ".subscriptions[" in name else f"credential {name!r}"
        typer.echo(f"missing secrets for {what}: {', '.join(fields)} "
                   "(bind with --secrets FILE or POST /api/integration/config/secrets)")


@app.command("export")
def export_command(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: standard output)")] = None,
) -> None:
    """Write the configuration as deterministic YAML (no secret values, ever)."""
    with session_scope() as session:
        text = export_yaml(session)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, "utf-8")
        typer.echo(f"wrote {output}", err=True)


@app.command("import")
def import_command(
    file: FileArg,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show the plan "
                                          "only")] = False,
    secrets: Annotated[Path | None, typer.Option(
        "--secrets", help="YAML/JSON {credential name: {field: value}}", exists=True,
        dir_okay=False, readable=True)] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Also delete instances, credentials "
                                        "and custom connectors the file does not list")]
    = False,
) -> None:
    """Validate the whole file, show the plan as a diff, apply it in one transaction."""
    text = _read(file)
    try:
        given = parse_secrets(_read(secrets)) if secrets is not None else {}
    except ConfigInvalid as exc:
        raise _invalid(exc) from None
    cfg = settings()
    try:
        vault = Vault.load(cfg.data_dir, create=True)
    except VaultError as exc:
        raise fail(str(exc)) from None
    with session_scope() as session:
        set_actor(session, name=f"cli:{getpass.getuser()}")
        registry = Registry(cfg)
        registry.sync_rows(session)
        try:
            plan = import_config(session, text, registry=registry, vault=vault,
                                 secrets=given, prune=prune, dry_run=dry_run)
        except ConfigInvalid as exc:
            raise _invalid(exc) from None
    _show(plan)
    if plan.applied:
        typer.echo("applied")
    elif dry_run and plan.changes:
        typer.echo("dry run: nothing was changed")


@app.command("diff")
def diff_command(file: FileArg) -> None:
    """Compare a file with the live configuration (exit 1 when they differ)."""
    text = _read(file)
    with session_scope() as session:
        registry = Registry(settings())
        try:
            plan = import_config(session, text, registry=registry, vault=None, dry_run=True)
        except ConfigInvalid as exc:
            raise _invalid(exc) from None
    _show(plan)
    if plan.changes:
        raise typer.Exit(1)


if __name__ == "__main__":  # ``python -m server.cli.config`` until the main CLI mounts it
    app()
