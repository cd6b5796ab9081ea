"""The agent's periodic checkpoint signer (run by the API's lifespan).

Every ``interval`` seconds, and once when the agent stops, the head of the chain is signed if
it moved. Each agent signs with its key; several agents signing the same head is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from server.audit.signing import SigningKey
from server.audit.store import AuditIntegrityError, write_checkpoint
from server.audit.verify import CheckpointRecord

log = logging.getLogger("simpletrust.audit")

DEFAULT_INTERVAL = 300.0


class CheckpointService:
    def __init__(self, session_factory: sessionmaker[Session], key: SigningKey, *,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.session_factory = session_factory
        self.key = key
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def checkpoint(self) -> CheckpointRecord | None:
        """Sign the head now (None: nothing new, or the chain failed verification)."""
        try:
            with self.session_factory() as session:
                return write_checkpoint(session, self.key)
        except AuditIntegrityError as exc:
            log.error("audit chain does not verify; no checkpoint signed: %s", exc)
        except SQLAlchemyError as exc:
            log.warning("could not write an audit checkpoint: %s", type(exc).__name__)
        return None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await asyncio.to_thread(self.checkpoint)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                                name="audit-checkpoints")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self.checkpoint)
