"""Start-up of the agent: database, migrations, the first admin, then the HTTP server."""

from __future__ import annotations

import logging
import signal
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import uvicorn
from sqlalchemy import Engine

from server.agents.lock import AgentLockError, DataDirLock, SingleAgentLock
from server.agents.runtime import AgentRuntime
from server.agents.workers import SyncWorkers
from server.api.app import API_PREFIX, create_app
from server.config import Settings
from server.db import migrate
from server.db.engine import make_engine, make_session_factory
from server.db.models import Principal, PrincipalKind, Role
from server.events.parser_process import ParserProcess
from server.security.local_token import store_local_token
from server.security.tokens import has_principals, issue_token
from server.webhooks.asgi import WebhookFastPath

log = logging.getLogger(__name__)
L = TypeVar("L", SingleAgentLock, DataDirLock)


@dataclass(frozen=True)
class FirstAdmin:
    token: str
    stored_in: str


def prepare_database(settings: Settings) -> Engine:
    """Connect and bring the schema to the newest revision."""
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    return engine


def bootstrap_admin(settings: Settings, engine: Engine) -> FirstAdmin | None:
    """On first start (no principals at all) create an admin and its token, once."""
    with make_session_factory(engine)() as session:
        if has_principals(session):
            return None
        admin = Principal(id=uuid.uuid4(), name="admin", role=Role.ADMIN,
                          kind=PrincipalKind.USER)
        session.add(admin)
        issued = issue_token(session, admin, "first admin token")
        session.commit()
    where = store_local_token(settings.api_base_url, issued.token, settings.data_dir)
    return FirstAdmin(issued.token, where)


def serve(settings: Settings) -> None:
    own_dir = _locked(DataDirLock(settings.data_dir))
    lock = _single_agent_lock(settings)
    engine = prepare_database(settings)
    first = bootstrap_admin(settings, engine)
    base = f"{settings.api_base_url}{API_PREFIX}"
    print(f"SimpleTrust Integrations agent: {base}  (API docs: {base}/docs)", flush=True)
    db = "SQLite " + settings.database_url.removeprefix("sqlite:///") if settings.is_sqlite \
        else "PostgreSQL"
    print(f"Database: {db}", flush=True)
    if first:
        print("First start: created the admin token below. It is shown only this once;\n"
              f"it is also stored in {first.stored_in} for the console on this machine.\n"
              f"  {first.token}", flush=True)
    else:
        print("Admin token: created on first start and kept for the local console "
              "(OS keyring or the admin-token file in the data directory);\n"
              "  more tokens: simpletrust token create --name NAME --role admin|operator|auditor",
              flush=True)
    app = create_app(settings, engine)
    # Webhook deliveries, the hottest path, go straight to the intake (see WebhookFastPath).
    served = WebhookFastPath(app, app.state.webhook_intake)
    config = uvicorn.Config(served, host=settings.host, port=settings.port, log_config=None,
                            timeout_graceful_shutdown=10)
    # PostgreSQL: deliveries are parsed and events dispatched by a child process, so this
    # one's interpreter serves requests (issue 6); it stops with the agent, after the server.
    parser = None if settings.is_sqlite else ParserProcess(settings, app.state.event_worker)
    if parser is not None:
        parser.start()
    # PostgreSQL, sync_workers > 1: scheduled syncs also run in sync_workers - 1 child
    # processes, since one interpreter is one core whatever the machine has (issue 6).
    workers = _sync_workers(settings, app.state.agent_runtime)
    # uvicorn.Server handles SIGINT/SIGTERM: it stops accepting, finishes requests and runs the
    # lifespan shutdown (which stops the scheduler). Then it re-raises the signal to the
    # handler that was there before; ours turn that into a clean exit (status 0, no traceback).
    signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass
    finally:
        if workers is not None:
            workers.stop()
        if parser is not None:
            parser.stop()
        engine.dispose()
        if lock is not None:
            lock.release()
        own_dir.release()
    print("Agent stopped.", flush=True)


def _sync_workers(settings: Settings, runtime: AgentRuntime) -> SyncWorkers | None:
    """Start the extra sync workers; this process is worker 0 and shares the schedules."""
    if settings.sync_workers <= 1 or settings.is_sqlite:
        return None
    workers = SyncWorkers(settings, settings.sync_workers, on_give_up=runtime.scheduler.adopt)
    runtime.scheduler.workers = settings.sync_workers
    workers.start()
    return workers


def _single_agent_lock(settings: Settings) -> SingleAgentLock | None:
    """SQLite: refuse to start beside another agent on the same file (issue 6)."""
    if not settings.is_sqlite:
        return None
    path = settings.database_url.split("///", 1)[-1]
    if not path or path == ":memory:":
        return None
    return _locked(SingleAgentLock(Path(path)))


def _locked(lock: L) -> L:
    """Take ``lock`` or stop with one line saying who holds it and what to do."""
    try:
        lock.acquire()
    except AgentLockError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return lock


def _stopped(signum: int, _frame: object) -> None:
    raise SystemExit(0)
