"""A logger adapter that takes secret values out of every line before it is emitted."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from connectors.sdk.errors import redact

__all__ = ["RedactingLogger"]


class RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """Formats the message itself, then replaces every known secret with ``***``.

    Arguments are merged into the message first, so a secret passed as ``%s`` argument is
    caught too. ``extra`` gets the connector key and instance id.
    """

    def __init__(
        self, logger: logging.Logger, secrets: Iterable[str], extra: Mapping[str, Any]
    ) -> None:
        super().__init__(logger, dict(extra))
        self.secrets = tuple(s for s in secrets if s)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        super().log(level, redact(text, self.secrets), **kwargs)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs
