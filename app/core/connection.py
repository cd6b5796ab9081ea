"""The console's link to one agent: a state machine fed by `/health` polls.

States: CONNECTING -> CONNECTED; any transport failure -> DISCONNECTED, retried with
exponential backoff until the agent is back (the agent may restart at any time); a 401 on
`/me` or on any request -> UNAUTHORIZED, which waits for a new token (`set_token`) instead of
hammering the agent with a bad one.

Listeners get a `ConnectionStatus` on every change; they run on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from app.core.api import ApiClient
from app.core.errors import AgentUnreachableError, ApiError, ConsoleError

log = logging.getLogger(__name__)


class ConnectionState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True)
class ConnectionStatus:
    """A snapshot for the UI: the state and the words to show with it."""

    state: ConnectionState
    agent_url: str
    message: str = ""
    principal: dict[str, Any] | None = None
    health: dict[str, Any] = field(default_factory=dict)
    retry_at: float | None = None  # time.monotonic() of the next attempt when disconnected

    @property
    def role(self) -> str | None:
        return str(self.principal.get("role")) if self.principal else None


@dataclass
class Backoff:
    """Exponential backoff with a little jitter so many consoles do not retry in step."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 15.0
    jitter: float = 0.1
    _next: float = 0.0

    def __post_init__(self) -> None:
        self._next = self.initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * self.factor, self.maximum)
        spread = delay * self.jitter
        return max(0.0, delay + random.uniform(-spread, spread))  # noqa: S311 - not crypto

    def reset(self) -> None:
        self._next = self.initial


Listener = Callable[[ConnectionStatus], None]


class Connection:
    """Keeps `status` current for one `ApiClient`; start it on a running loop."""

    def __init__(
        self,
        client: ApiClient,
        *,
        poll_interval: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.poll_interval = poll_interval
        self.backoff = backoff or Backoff()
        self._status = ConnectionStatus(ConnectionState.CONNECTING, client.agent_url, "Connecting…")
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        client.on_unreachable(self._on_unreachable)
        client.on_unauthorized(self._on_unauthorized)

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    @property
    def state(self) -> ConnectionState:
        return self._status.state

    @property
    def is_connected(self) -> bool:
        return self._status.state is ConnectionState.CONNECTED

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def start(self) -> None:
        """Begin polling on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"connection {self.client.agent_url}"
            )

    async def stop(self) -> None:
        """Stop polling; the client stays open (its owner closes it)."""
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        """Stop polling and close the HTTP client."""
        await self.stop()
        await self.client.aclose()

    def check_now(self) -> None:
        """Retry or re-check immediately (the user pressed "Retry")."""
        self.backoff.reset()
        self._wake.set()

    def set_token(self, token: str | None) -> None:
        """Switch tokens and re-authenticate."""
        self.client.set_token(token)
        self._set(ConnectionState.CONNECTING, "Signing in…")
        self.check_now()

    async def wait_for(self, state: ConnectionState) -> ConnectionStatus:
        """The first status in ``state`` from now on; bound it with ``asyncio.timeout``."""
        if self.state is state:
            return self._status
        reached: asyncio.Future[ConnectionStatus] = asyncio.get_running_loop().create_future()

        def listener(status: ConnectionStatus) -> None:
            if status.state is state and not reached.done():
                reached.set_result(status)

        self.add_listener(listener)
        try:
            return await reached
        finally:
            self.remove_listener(listener)

    # -- internals -------------------------------------------------------------------------

    def _set(self, state: ConnectionState, message: str, **changes: Any) -> None:
        new = replace(self._status, state=state, message=message, **changes)
        if new == self._status:
            return
        self._status = new
        log.debug("connection %s: %s %s", new.agent_url, state.value, message)
        for listener in list(self._listeners):
            try:
                listener(new)
            except Exception:  # a broken listener must not stop the reconnect loop
                log.exception("connection listener failed")

    def _on_unreachable(self, error: AgentUnreachableError) -> None:
        if self.state is ConnectionState.CONNECTED:
            self._set(ConnectionState.DISCONNECTED, error.user_message(), retry_at=None)
            self._wake.set()

    def _on_unauthorized(self, error: ApiError) -> None:
        if self.state is not ConnectionState.UNAUTHORIZED:
            self._set(ConnectionState.UNAUTHORIZED, _auth_message(error), principal=None)

    async def _sleep(self, delay: float) -> None:
        """Sleep up to ``delay`` seconds; `check_now`, `set_token` or a failure cut it short."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives
        # just as the event is set, and stop() would then wait out a whole backoff delay.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()
        self._wake.clear()

    async def _run(self) -> None:
        while not self._stopping:
            if self.state is ConnectionState.UNAUTHORIZED:
                await self._sleep(3600.0)  # a bad token stays bad: wait for set_token()
                if self.state is ConnectionState.UNAUTHORIZED:
                    self._set(ConnectionState.CONNECTING, "Signing in…")
                continue
            try:
                health = await self.client.health()
                if self.state is ConnectionState.CONNECTED:
                    self._set(ConnectionState.CONNECTED, self._status.message, health=health)
                else:
                    me = await self.client.me()
                    self.backoff.reset()
                    who = me.get("name") or me.get("id") or "?"
                    self._set(
                        ConnectionState.CONNECTED,
                        f"Connected to {self.client.agent_url} as {who} ({me.get('role', '?')})",
                        principal=me,
                        health=health,
                        retry_at=None,
                    )
                await self._sleep(self.poll_interval)
            except ApiError as exc:
                if exc.is_auth_error:
                    self._set(ConnectionState.UNAUTHORIZED, _auth_message(exc), principal=None)
                    continue
                await self._retry_later(f"The agent reported a problem: {exc.user_message()}")
            except ConsoleError as exc:  # AgentUnreachableError, ProtocolError
                await self._retry_later(exc.user_message())
            except Exception as exc:
                # This loop is the console's lifeline: a bug in one poll must not end it.
                log.exception("connection check failed unexpectedly")
                await self._retry_later(f"Connection check failed ({type(exc).__name__})")

    async def _retry_later(self, reason: str) -> None:
        delay = self.backoff.next()
        self._set(
            ConnectionState.DISCONNECTED,
            f"{reason} — retrying in {delay:.0f} s" if delay >= 1 else f"{reason} — retrying",
            principal=self._status.principal,
            retry_at=time.monotonic() + delay,
        )
        await self._sleep(delay)
        if self.state is ConnectionState.DISCONNECTED:
            self._set(ConnectionState.CONNECTING, "Reconnecting…", retry_at=None)


def _auth_message(error: ApiError) -> str:
    if error.status == 403:
        return f"The token is not allowed to use this agent: {error.user_message()}"
    return "The agent refused the token (401). Enter a valid token to sign in again."
