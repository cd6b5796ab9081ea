"""``simpletrust``: run the agent or the console, and administer the agent's database."""

from __future__ import annotations

import sys
from typing import Any

import typer

from server.cli import audit as audit_cli
from server.cli import config as config_cli
from server.cli import connector, db, secrets, tokens
from server.cli.common import fail, settings
from server.cli.sync import sync
from server.config import SettingsError, get_settings, unknown_env_settings

app = typer.Typer(
    help="SimpleTrust Integrations: the sync agent, its console and administration.",
    no_args_is_help=True, pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(tokens.app, name="token")
app.add_typer(audit_cli.app, name="audit",
              help="The tamper-evident audit trail: verify, export, checkpoint.")
app.add_typer(config_cli.app, name="config", help="Configuration as code: export, import, diff.")
app.command(name="sync")(sync)
app.add_typer(connector.app, name="connector", help="Connectors: list, check, discover, read, new.")
app.add_typer(secrets.app, name="secrets", help="The credential master key.")


@app.command()
def agent(
    host: str | None = typer.Option(None, help="Address to listen on (default 127.0.0.1)"),
    port: int | None = typer.Option(None, min=1, max=65535, help="Port (default 8765)"),
) -> None:
    """Run the sync agent: REST API, scheduler and sync engine."""
    from server.logs import configure_logging  # noqa: PLC0415
    from server.runtime import serve  # noqa: PLC0415

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    base = settings()
    try:
        cfg = base.model_copy(update=overrides) if overrides else base
    except SettingsError as exc:
        raise fail(str(exc)) from None
    configure_logging(cfg.log_level, cfg.log_format)
    serve(cfg)


@app.command()
def run(
    port: int | None = typer.Option(None, min=1, max=65535, help="Port (default 8765)"),
    no_demo: bool = typer.Option(False, "--no-demo", help="Without the demo sandbox"),
) -> None:
    """The main job (`make run`): the agent with the demo sandbox, and the console where a
    display exists."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    from server.logs import configure_logging  # noqa: PLC0415
    from server.runtime import serve  # noqa: PLC0415

    cfg = settings().model_copy(update={"demo": not no_demo, **({"port": port} if port else {})})
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    import importlib.util  # noqa: PLC0415

    has_console = importlib.util.find_spec("PySide6") is not None  # probed, not imported
    if not (has_display and has_console):
        configure_logging(cfg.log_level, cfg.log_format)
        reason = "no display" if not has_display else "the console is not installed"
        print(f"Running the agent alone ({reason}). From a desktop, connect the console with:\n"
              f"  simpletrust console --agent-url {cfg.api_base_url}\n"
              "and the admin token printed below (first start) or from the admin-token file.",
              flush=True)
        serve(cfg)
        return
    env = {**os.environ, "SIMPLETRUST_DEMO": "true" if cfg.demo else "false",
           "SIMPLETRUST_PORT": str(cfg.port)}
    agent_proc = subprocess.Popen([sys.executable, "-m", "server.cli.main", "agent"], env=env)
    try:
        # The console connects with the admin token the agent creates on its first start:
        # open it once the agent answers, not before (it would ask the user for a token).
        if not _agent_ready(f"{cfg.api_base_url}/api/integration/health", agent_proc):
            code = agent_proc.poll()
            raise fail("the agent did not start (see its messages above)" if code is not None
                       else "the agent did not answer within 120 s")
        from app.main import run_console  # noqa: PLC0415

        code = run_console(None, agent_url=cfg.api_base_url)
    finally:
        agent_proc.terminate()
        agent_proc.wait(timeout=30)
    raise typer.Exit(code)


def _agent_ready(health_url: str, process: Any, timeout: float = 120.0) -> bool:
    """Poll the agent's health endpoint until it answers (False: it exited or timed out)."""
    import time  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(health_url, timeout=2)  # any answer: it serves (503 is "unhealthy")
            return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


@app.command()
def console(
    agent_url: str | None = typer.Option(None, help="Agent to connect to, e.g. "
                                         "http://127.0.0.1:8765"),
) -> None:
    """Open the desktop console."""
    try:
        from app.main import run_console  # noqa: PLC0415
    except ImportError as exc:
        raise fail(f"the console needs PySide6 and qasync ({exc.name} is missing): "
                   "pip install 'simpletrust-integrations[console]'") from None
    raise typer.Exit(run_console(None, agent_url=agent_url))


def main() -> None:
    try:
        get_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    for name in unknown_env_settings():
        print(f"warning: ignoring unknown setting {name} (a typo?)", file=sys.stderr)
    app()


if __name__ == "__main__":
    main()
