"""``simpletrust connector``: list, check, discover and read connectors; scaffold new ones.

For connector authors and operators. A connector runs here exactly as the agent runs it (the
same discovery, the same auth builders, the same SDK) but without a database: the config and
credentials come from files, records go to stdout as NDJSON, everything else to stderr.
See docs/sdk/cli.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.text import Text

from connectors.declarative import DeclarativeSpec, load_spec
from connectors.registry import ConnectorEntry, DiscoveryResult, discover_connectors
from connectors.sdk import (
    CheckResult,
    CheckStatus,
    ConfigError,
    Connector,
    ConnectorContext,
    ConnectorError,
    RecordMessage,
    SkippedRecordMessage,
    StateMessage,
)
from connectors.sdk.metadata import AuthMethod
from connectors.sdk.redact import install_redaction, redact, register_secret
from server.cli.common import err, settings
from server.cli.scaffold import ScaffoldError, scaffold

app = typer.Typer(
    help="Connectors: list them, check, discover and read one, scaffold a new one.",
    no_args_is_help=True,
)

USAGE = 2  # bad input: a file, a field, an unknown connector
FAILED = 1  # the connector ran and failed (check failed, read broke off)

ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

ConnectorArg = Annotated[str, typer.Argument(help="Connector key (see `connector list`).")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Connector config, a JSON or YAML file.", dir_okay=False),
]
CredentialsOpt = Annotated[
    Path | None,
    typer.Option("--credentials", help="Credential fields, a JSON or YAML file.", dir_okay=False),
]
AuthTypeOpt = Annotated[
    str | None,
    typer.Option("--auth-type", help="Auth method of --credentials, e.g. bearer, api_key."),
]
LoopbackOpt = Annotated[
    bool,
    typer.Option("--allow-loopback", help="Let the connector reach 127.0.0.1 / ::1."),
]
SpecOpt = Annotated[
    list[Path] | None,
    typer.Option("--spec", help="Declarative connector spec to add (repeatable).", dir_okay=False),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log the connector's INFO lines to stderr.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def fail(message: str, code: int = USAGE) -> typer.Exit:
    """One unwrapped line on stderr (no Rich markup: ``[0]`` or ``[REDACTED]`` stay as is)."""
    err.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True)
    return typer.Exit(code)


def note(message: str) -> None:
    """Progress and diagnostics: stderr, one line each, never markup."""
    err.print(Text(message), soft_wrap=True)


# ---- files ---------------------------------------------------------------------------------


def _read_document(path: Path, what: str) -> Any:
    """Parse a JSON or YAML file; every failure is one line naming the file and the spot."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise fail(f"{what} file {path}: no such file", USAGE) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{what} file {path}: cannot be read ({type(exc).__name__})", USAGE) from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise fail(
                f"{what} file {path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                f"{exc.msg})",
                USAGE,
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise fail(f"{what} file {path}: not valid YAML ({where}{problem})", USAGE) from None


def _expand_env(value: Any, location: str, what: str, path: Path) -> Any:
    """Replace ``${NAME}`` in string values with the environment variable (``$$`` is ``$``).

    So secrets can come from the environment (CI, a secret manager) instead of a file.
    """
    if isinstance(value, dict):
        return {
            k: _expand_env(v, f"{location}.{k}" if location else str(k), what, path)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_expand_env(v, f"{location}[{i}]", what, path) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        if name not in os.environ:
            raise fail(
                f"{what} file {path}: {location or '(root)'}: environment variable {name} "
                "is not set",
                USAGE,
            )
        return os.environ[name]

    return ENV_REFERENCE.sub(substitute, value)


def _read_mapping(path: Path, what: str) -> dict[str, Any]:
    data = _read_document(path, what)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise fail(
            f"{what} file {path}: must hold a mapping of field names to values, "
            f"not a {type(data).__name__}",
            USAGE,
        )
    expanded: dict[str, Any] = _expand_env(data, "", what, path)
    return expanded


def _read_state(path: Path) -> dict[str, Any]:
    """A state file: the bare state, a ``{"type": "state", ...}`` line, or a whole ``read``
    output (its last state line is used), so ``read ... > out.ndjson`` can be resumed."""
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except FileNotFoundError:
        raise fail(f"state file {path}: no such file", USAGE) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"state file {path}: cannot be read ({exc.__class__.__name__})", USAGE) from None
    for line in reversed(lines):
        with contextlib.suppress(json.JSONDecodeError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("type") == "state":
                state = message.get("state")
                if not isinstance(state, dict):
                    raise fail(f"state file {path}: 'state' must be an object", USAGE)
                return state
    data = _read_document(path, "state")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise fail(f"state file {path}: must hold a JSON object", USAGE)
    return data


# ---- discovery and building a connector ----------------------------------------------------


def _discover(specs: list[Path] | None) -> DiscoveryResult:
    loaded: list[DeclarativeSpec] = []
    for path in specs or []:
        data = _read_document(path, "spec")
        try:
            loaded.append(load_spec(data if data is not None else {}, DeclarativeSpec))
        except ConnectorError as exc:
            raise fail(f"spec file {path}: {exc.message}", USAGE) from None
    return discover_connectors(
        allow_third_party=settings().allow_third_party_plugins, declarative_specs=loaded
    )


def _entry(key: str, specs: list[Path] | None) -> ConnectorEntry:
    result = _discover(specs)
    entry = result.connectors.get(key)
    if entry is not None:
        return entry
    related = [p for p in result.problems if f"'{key}'" in p.origin or key in p.message]
    if related:
        raise fail(f"connector {key!r} could not be loaded: {related[0].origin} "
                   f"{related[0].message}", USAGE)
    known = ", ".join(sorted(result.connectors)) or "none"
    raise fail(f"unknown connector {key!r} (available: {known})", USAGE)


def _credentials(
    entry: ConnectorEntry, path: Path | None, auth_type: str | None
) -> Any:
    from connectors.sdk.auth import build_auth  # noqa: PLC0415 - authlib is slow to import

    accepted = [m.value for m in entry.metadata.auth_methods if m is not AuthMethod.NONE]
    if auth_type == AuthMethod.NONE.value:
        if path is not None:
            raise fail("--auth-type none takes no --credentials file", USAGE)
        return None
    if path is None:
        if auth_type is not None:
            raise fail(f"--auth-type {auth_type} needs a --credentials file", USAGE)
        return None
    if auth_type is None:
        if len(accepted) != 1:
            offered = ", ".join(accepted) or "none"
            raise fail(f"--credentials needs --auth-type (this connector accepts: {offered})",
                       USAGE)
        auth_type = accepted[0]
    fields = _read_mapping(path, "credentials")
    try:
        return build_auth(auth_type, fields)
    except ConnectorError as exc:
        raise fail(f"credentials file {path}: {exc.message}", USAGE) from None


def _build(
    entry: ConnectorEntry,
    config: Path | None,
    credentials: Path | None,
    auth_type: str | None,
    allow_loopback: bool,
) -> Connector[Any]:
    data = _read_mapping(config, "config") if config is not None else {}
    auth = _credentials(entry, credentials, auth_type)
    context = ConnectorContext(allow_loopback=allow_loopback)
    try:
        connector = entry.connector_class(data, credentials=auth, context=context)
    except ConnectorError as exc:
        source = f"config file {config}" if config is not None else "config (no --config given)"
        raise fail(f"{source}: {_describe(exc, hint=False)}", USAGE) from None
    for secret in getattr(connector, "_secrets", ()):  # config secrets: redacted everywhere
        register_secret(secret)
    return connector


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("connectors")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    install_redaction(logger)


def _describe(exc: ConnectorError, *, hint: bool = True) -> str:
    text = redact(exc.message)
    return f"{text} (hint: {redact(exc.hint)})" if hint and exc.hint else text


def _crash(exc: BaseException, verbose: bool) -> NoReturn:
    """Third-party connector code failed outside the SDK's error tree: one line, no secrets."""
    if verbose:
        import traceback  # noqa: PLC0415

        note(redact("".join(traceback.format_exception(exc))))
    raise fail(
        f"the connector failed unexpectedly: {type(exc).__name__}: {redact(str(exc))} "
        "(a bug in the connector; --verbose shows the traceback)",
        FAILED,
    )


@contextlib.contextmanager
def _guard(verbose: bool) -> Iterator[None]:
    try:
        yield
    except typer.Exit:
        raise
    except ConnectorError as exc:
        raise fail(_describe(exc), FAILED) from None
    except BrokenPipeError:  # `read ... | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except Exception as exc:  # noqa: BLE001 - plugin code can raise anything; never a traceback
        _crash(exc, verbose)


# ---- commands --------------------------------------------------------------------------------


@app.command("list")
def list_connectors(spec: SpecOpt = None, as_json: JsonOpt = False) -> None:
    """List every connector: built-in, installed plugins and declarative specs."""
    result = _discover(spec)
    entries = sorted(result.connectors.values(), key=lambda e: e.key)
    if as_json:
        typer.echo(json.dumps({
            "items": [_summary(e) for e in entries],
            "problems": [{"origin": p.origin, "message": p.message} for p in result.problems],
        }, indent=2))
        return
    rows = [("KEY", "NAME", "VERSION", "SYSTEM TYPE", "SOURCE")] + [
        (e.key, e.metadata.name, e.metadata.version, e.metadata.system_type.value,
         e.source.value) for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) +
                   f"  {row[4]}")
    for problem in result.problems:
        note(f"not loaded: {problem.origin}: {problem.message}")


def _summary(entry: ConnectorEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "name": entry.metadata.name,
        "version": entry.metadata.version,
        "system_type": entry.metadata.system_type.value,
        "source": entry.source.value,
        "origin": entry.origin,
        "distribution": entry.distribution,
    }


@app.command()
def check(
    connector: ConnectorArg,
    config: ConfigOpt = None,
    credentials: CredentialsOpt = None,
    auth_type: AuthTypeOpt = None,
    allow_loopback: LoopbackOpt = False,
    spec: SpecOpt = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Check the connection: reachable, authenticated, permissions, API version."""
    _setup_logging(verbose)
    entry = _entry(connector, spec)
    instance = _build(entry, config, credentials, auth_type, allow_loopback)

    async def run() -> CheckResult:
        async with instance:
            return await instance.check()

    with _guard(verbose):
        result = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _print_check(entry, result)
    if not result.ok:
        raise typer.Exit(FAILED)


_MARK = {CheckStatus.PASSED: "ok  ", CheckStatus.FAILED: "FAIL", CheckStatus.SKIPPED: "skip"}


def _print_check(entry: ConnectorEntry, result: CheckResult) -> None:
    verdict = "passed" if result.ok else "FAILED"
    version = f", server API {result.server_api_version}" if result.server_api_version else ""
    typer.echo(f"{entry.metadata.name} {entry.metadata.version}: check {verdict} "
               f"({result.latency_ms} ms{version})")
    for item in result.items:
        line = f"  {_MARK[item.status]} {item.name.value:<14}"
        if item.cause:
            line += f" {redact(item.cause)}"
        typer.echo(line.rstrip())
        if item.hint and item.status is CheckStatus.FAILED:
            typer.echo(f"       {'':<14} hint: {redact(item.hint)}")


@app.command()
def discover(
    connector: ConnectorArg,
    config: ConfigOpt = None,
    credentials: CredentialsOpt = None,
    auth_type: AuthTypeOpt = None,
    allow_loopback: LoopbackOpt = False,
    spec: SpecOpt = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Show the streams: primary key, cursor, sync modes and fields (--json: full schemas)."""
    _setup_logging(verbose)
    entry = _entry(connector, spec)
    instance = _build(entry, config, credentials, auth_type, allow_loopback)

    async def run() -> list[Any]:
        async with instance:
            return await instance.discover()

    with _guard(verbose):
        streams = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps([s.to_dict() for s in streams], indent=2, default=str))
        return
    for stream in streams:
        key = ", ".join(stream.primary_key) or "-"
        modes = ", ".join(m.value for m in stream.sync_modes)
        typer.echo(f"{stream.name}: primary key {key}; cursor {stream.cursor_field or '-'}; "
                   f"modes {modes}")
        properties = stream.json_schema.get("properties") or {}
        if properties:
            typer.echo(f"  fields: {', '.join(properties)}")


@app.command()
def read(
    connector: ConnectorArg,
    config: ConfigOpt = None,
    stream: Annotated[
        str | None, typer.Option("--stream", "-s", help="Stream to read (see `discover`).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Stop after N records.")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="Resume from this state (a state line or a read output).",
                     dir_okay=False),
    ] = None,
    credentials: CredentialsOpt = None,
    auth_type: AuthTypeOpt = None,
    allow_loopback: LoopbackOpt = False,
    spec: SpecOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Read a stream: records as NDJSON on stdout, then the final state as one JSON line."""
    _setup_logging(verbose)
    entry = _entry(connector, spec)
    start_state = _read_state(state) if state is not None else None
    instance = _build(entry, config, credentials, auth_type, allow_loopback)
    reader = _Reader(instance, start_state, limit)
    with _guard(verbose):
        asyncio.run(reader.run(stream))


class _Reader:
    """Drives one read; writes records, then the last checkpoint, even when the read fails."""

    def __init__(
        self, connector: Connector[Any], state: dict[str, Any] | None, limit: int | None
    ) -> None:
        self.connector = connector
        self.start_state = state
        self.limit = limit
        self.records = 0
        self.skipped = 0
        self.last_state: dict[str, Any] | None = None
        self.stream = ""

    async def run(self, stream: str | None) -> None:
        async with self.connector:
            self.stream = stream or await self._only_stream()
            started = time.monotonic()
            failure: ConnectorError | None = None
            stopped = False
            messages = self.connector.read(self.stream, self.start_state)
            try:
                stopped = await self._consume(messages)
            except ConnectorError as exc:
                failure = exc
            finally:
                close = getattr(messages, "aclose", None)  # an async generator: end it now
                if close is not None:
                    await close()
            self._finish(time.monotonic() - started, stopped, failure)

    async def _only_stream(self) -> str:
        names = [s.name for s in await self.connector.discover()]
        if len(names) == 1:
            return names[0]
        raise fail(f"this connector offers several streams ({', '.join(names)}); "
                   "choose one with --stream", USAGE)

    async def _consume(self, messages: Any) -> bool:
        out = sys.stdout
        async for message in messages:
            if isinstance(message, RecordMessage):
                if self.limit is not None and self.records >= self.limit:
                    return True
                out.write(json.dumps(message.to_dict(), default=str) + "\n")
                self.records += 1
                if self.records % 1000 == 0:
                    note(f"... {self.records} records")
            elif isinstance(message, StateMessage):
                self.last_state = message.state
            elif isinstance(message, SkippedRecordMessage):
                self.skipped += 1
                reason = redact(message.reason)
                where = message.location
                note(f"skipped: {reason}" if not where or where in reason
                     else f"skipped ({where}): {reason}")
        return False

    def _finish(self, seconds: float, stopped: bool, failure: ConnectorError | None) -> None:
        if isinstance(failure, ConfigError) and self.records == 0 and self.last_state is None:
            raise fail(_describe(failure), USAGE)  # e.g. an unknown stream: nothing was read
        final = self.last_state if self.last_state is not None else (self.start_state or {})
        line = {"type": "state", "stream": self.stream, "state": final}
        sys.stdout.write(json.dumps(line, default=str) + "\n")
        sys.stdout.flush()
        metrics = self.connector.context.metrics
        summary = (f"{self.records} records, {self.skipped} skipped from {self.stream!r} in "
                   f"{seconds:.2f} s; HTTP requests: {metrics.requests}, "
                   f"retries: {metrics.retries}, throttled: {metrics.throttled}")
        note(summary)
        if stopped or failure is not None:
            covered = ("the state covers the records up to the last checkpoint"
                       if self.last_state is not None else
                       "no checkpoint was reached, so the state is the one you started from")
            reason = "stopped at --limit" if failure is None else "the read failed"
            note(f"{reason}: {covered}")
        if failure is not None:
            raise fail(_describe(failure), FAILED)


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="Connector key, e.g. acme or acme-tickets.")],
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Folder to create (default: ./NAME-connector).",
                     file_okay=False),
    ] = None,
) -> None:
    """Scaffold a connector package: pyproject with the entry point, one stream, its tests."""
    target = directory or Path.cwd() / f"{name}-connector"
    try:
        created = scaffold(name, target)
    except ScaffoldError as exc:
        raise fail(str(exc), USAGE) from None
    typer.echo(f"Created {target} ({len(created)} files). Next:")
    typer.echo(f"  cd {target}")
    typer.echo("  pip install -e .            # registers the connector's entry point")
    typer.echo("  python -m pytest            # its tests pass as generated")
    typer.echo(f"  simpletrust connector list  # shows {name} (source: plugin)")


if __name__ == "__main__":
    app()
