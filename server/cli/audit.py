"""``simpletrust audit``: verify, export and sign the tamper-evident audit trail.

Mounted by the main CLI: ``app.add_typer(audit.app, name="audit")``. Exit status of
``verify``: 0 verified, 1 the chain is broken (the first affected entry is named), 2 usage.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from dateutil import parser as dateparser
from sqlalchemy.exc import SQLAlchemyError

from server.audit import (
    AuditIntegrityError,
    PublicKey,
    SigningKeyError,
    VerifyResult,
    exporting,
    load_signing_key,
    verify_database,
    write_checkpoint,
)
from server.cli.common import fail, session_scope, settings

app = typer.Typer(help="The tamper-evident audit trail: verify, export, checkpoint.",
                  no_args_is_help=True)

FromOption = Annotated[str | None, typer.Option(
    "--from", help="Start at this date or time (ISO 8601; UTC unless a zone is given)")]
ToOption = Annotated[str | None, typer.Option(
    "--to", help="End at this date or time (a bare date means the end of that day)")]
KeyOption = Annotated[list[str] | None, typer.Option(
    "--public-key", help="An auditor's public key (ed25519:… text, PEM, or a file holding "
    "one); repeat for several")]


def parse_when(value: str | None, option: str, *, end_of_day: bool = False
               ) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dateparser.isoparse(value)
    except (ValueError, OverflowError):
        raise fail(f"{option}: {value!r} is not an ISO 8601 date or time "
                   "(e.g. 2026-03-01 or 2026-03-01T12:00:00Z)") from None
    if end_of_day and len(value.strip()) == 10:
        parsed += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _keys(values: list[str] | None) -> list[PublicKey]:
    try:
        return exporting.read_public_keys(values or [])
    except SigningKeyError as exc:
        raise fail(f"--public-key: {exc}") from None


def _local_public_key() -> list[PublicKey]:
    try:
        return [load_signing_key(settings().data_dir, create=False).public]
    except SigningKeyError:
        return []


def _report(result: VerifyResult) -> None:
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(result.summary())
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def verify(
    since: FromOption = None,
    file: Annotated[Path | None, typer.Option(
        "--file", help="Verify an export offline instead of the database", exists=True,
        dir_okay=False, readable=True)] = None,
    public_key: KeyOption = None,
) -> None:
    """Prove the trail is intact, or name the first entry modified, deleted, reordered or
    inserted (and a truncated tail)."""
    keys = _keys(public_key)
    if file is not None:
        if since is not None:
            raise fail("--from applies to the database; export the range you want instead")
        try:
            data = exporting.parse(file.read_text("utf-8"))
        except (exporting.ExportFormatError, UnicodeDecodeError) as exc:
            raise fail(f"{file}: {exc}") from None
        if not keys:
            typer.echo("warning: no --public-key given: the keys inside the file are not "
                       "trusted, so signatures are not checked", err=True)
        _report(exporting.verify_export(data, keys))
        return
    start = parse_when(since, "--from")
    try:
        with session_scope() as session:
            result = verify_database(session, keys + _local_public_key(), start)
    except SQLAlchemyError as exc:
        raise fail(f"cannot read the audit tables ({type(exc).__name__})") from None
    _report(result)


@app.command("export")
def export_command(
    since: FromOption = None, until: ToOption = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: standard output)")] = None,
) -> None:
    """Write entries, checkpoints, the chain head and the public key(s) for an auditor."""
    if fmt not in ("jsonl", "csv"):
        raise fail(f"--format: {fmt!r} is not one of jsonl, csv")
    start = parse_when(since, "--from")
    end = parse_when(until, "--to", end_of_day=True)
    with session_scope() as session:
        data = exporting.collect(session, since=start, until=end,
                                 public_keys=_local_public_key())
    chunks = exporting.render(data, fmt)
    if output is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        for chunk in chunks:
            handle.write(chunk)
    typer.echo(f"wrote {len(data.entries)} entries and {len(data.checkpoints)} checkpoints "
               f"to {output}", err=True)


@app.command()
def checkpoint() -> None:
    """Sign the chain's head now (the agent also does this every few minutes)."""
    try:
        key = load_signing_key(settings().data_dir, create=True)
    except SigningKeyError as exc:
        raise fail(str(exc)) from None
    try:
        with session_scope() as session:
            record = write_checkpoint(session, key)
    except AuditIntegrityError as exc:
        raise fail(f"the chain does not verify, nothing signed: {exc}", code=1) from None
    if record is None:
        typer.echo("nothing new to sign")
    else:
        typer.echo(f"signed entry #{record.seq} with key {record.key_id}")


@app.command("public-key")
def public_key_command() -> None:
    """Print the public key auditors verify checkpoints with."""
    try:
        key = load_signing_key(settings().data_dir, create=True)
    except SigningKeyError as exc:
        raise fail(str(exc)) from None
    typer.echo(key.public.to_text())


if __name__ == "__main__":  # ``python -m server.cli.audit`` until the main CLI mounts it
    app()
