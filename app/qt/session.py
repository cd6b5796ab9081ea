"""The console's current agent: its client, its connection state, what its API offers.

Pages hold an `AgentSession` and listen to `sig_status_changed`; when the user connects to
another agent, `sig_agent_changed` tells them to drop what they show and reload.
"""

from __future__ import annotations

import dataclasses
import logging
import re

from PySide6.QtCore import QObject, Signal

from app.core.api import ApiClient
from app.core.connection import Backoff, Connection, ConnectionState, ConnectionStatus
from app.core.errors import ConsoleError

log = logging.getLogger(__name__)


class AgentSession(QObject):
    sig_status_changed = Signal(object)  # ConnectionStatus
    sig_agent_changed = Signal()

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        poll_interval: float = 5.0,
        backoff: Backoff | None = None,
        timeout: float = 15.0,
    ) -> None:
        super().__init__(parent)
        self._poll_interval = poll_interval
        self._backoff = backoff
        self._timeout = timeout
        self.client: ApiClient | None = None
        self.connection: Connection | None = None
        self._operations: set[tuple[str, str]] = set()
        self._operations_loaded = False

    @property
    def status(self) -> ConnectionStatus | None:
        return self.connection.status if self.connection else None

    @property
    def is_connected(self) -> bool:
        return self.connection is not None and self.connection.is_connected

    @property
    def role(self) -> str | None:
        status = self.status
        return status.role if status else None

    def api(self) -> ApiClient:
        """The client, or a readable error when no agent is chosen yet."""
        if self.client is None:
            raise ConsoleError("Not connected to an agent. Use File → Connect (Ctrl+O).")
        return self.client

    async def open(self, agent_url: str, token: str | None) -> None:
        """Switch to an agent; the connection then keeps itself alive."""
        await self.close()
        self.client = ApiClient(agent_url, token, timeout=self._timeout)
        self.connection = Connection(
            self.client,
            poll_interval=self._poll_interval,
            backoff=dataclasses.replace(self._backoff) if self._backoff else None,
        )
        self.connection.add_listener(self._relay)
        self._operations, self._operations_loaded = set(), False
        self.connection.start()
        self.sig_agent_changed.emit()
        self.sig_status_changed.emit(self.connection.status)

    async def close(self) -> None:
        connection, self.connection, self.client = self.connection, None, None
        if connection is not None:
            connection.remove_listener(self._relay)
            await connection.close()

    def set_token(self, token: str) -> None:
        if self.connection is not None:
            self.connection.set_token(token)

    def retry_now(self) -> None:
        if self.connection is not None:
            self.connection.check_now()

    def supports(self, method: str, path: str) -> bool:
        """Whether this agent's OpenAPI document lists an operation (e.g. instance sync)."""
        return (method.upper(), path) in self._operations

    def _relay(self, status: ConnectionStatus) -> None:
        self.sig_status_changed.emit(status)
        if status.state is ConnectionState.CONNECTED and not self._operations_loaded:
            self._operations_loaded = True
            from app.qt.aio import BackgroundOp  # noqa: PLC0415 - avoid a cycle at import

            BackgroundOp(self, self._load_operations, self._set_operations).failure(
                lambda e: log.info("OpenAPI document unavailable: %s", e)
            ).run()

    async def _load_operations(self) -> set[tuple[str, str]]:
        doc = await self.api().get("/openapi.json", auth=False)
        found: set[tuple[str, str]] = set()
        paths = doc.get("paths", {}) if isinstance(doc, dict) else {}
        for path, operations in paths.items():
            short = re.sub(r"^.*?/api/integration", "", str(path))
            if isinstance(operations, dict):
                found.update((m.upper(), short) for m in operations)
        return found

    def _set_operations(self, operations: set[tuple[str, str]]) -> None:
        self._operations = operations
        self.sig_status_changed.emit(self.status)  # pages re-check what they can offer
