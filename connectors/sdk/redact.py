"""Mask known secret values in log output and error text.

Secrets are registered by value at runtime (when a credential is loaded, when a token is
issued), so a secret is masked wherever it appears: in a message, its ``%`` arguments, an
exception's text or a stack, whatever the field or variable it travelled in. Field names
alone cannot catch a token echoed inside a URL or an error string.

Example::

    register_secret("s3cr3t-token-value")
    redact("GET /items?key=s3cr3t-token-value")  # -> "GET /items?key=[REDACTED]"

    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())

Attach the filter to *handlers* (a logger's filters do not see records propagated from its
children); :func:`install_redaction` does that for the root logger's handlers.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import traceback
from urllib.parse import quote, quote_plus

from pydantic import SecretBytes, SecretStr

MASK = "[REDACTED]"
#: Shorter values are not registered: masking every "abc" would garble logs and prove nothing.
MIN_LENGTH = 6


class SecretRegistry:
    """A set of secret values and one compiled pattern matching any of them."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, value: str | SecretStr | SecretBytes | bytes | None) -> None:
        """Remember a secret value (and its URL- and base64-encoded forms)."""
        text = _reveal(value)
        if text is None or len(text) < MIN_LENGTH:
            return
        forms = {text, quote(text, safe=""), quote_plus(text)}
        if text.isascii():
            forms.add(base64.b64encode(text.encode()).decode())
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            self._pattern = None

    def register_basic(self, username: str, password: str | SecretStr) -> None:
        """An HTTP Basic credential: its password and its ``user:password`` header value."""
        secret = _reveal(password) or ""
        self.register(secret)
        self.register(base64.b64encode(f"{username}:{secret}".encode()).decode())

    def unregister(self, value: str | SecretStr) -> None:
        text = _reveal(value)
        if text is None:
            return
        forms = {text, quote(text, safe=""), quote_plus(text)}
        if text.isascii():
            forms.add(base64.b64encode(text.encode()).decode())
        with self._lock:
            self._values -= forms
            self._pattern = None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def __len__(self) -> int:
        return len(self._values)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``[REDACTED]``."""
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        # Repeat: a secret may re-form across the mask and what follows it ("…ED]x").
        for _ in range(4):
            text, count = pattern.subn(MASK, text)
            if not count or not pattern.search(text):
                return text
        return MASK  # pathological overlap: give nothing away

    def _compiled(self) -> re.Pattern[str] | None:
        pattern = self._pattern
        if pattern is None and self._values:
            with self._lock:
                # Longest first, so a secret containing another is masked whole.
                ordered = sorted(self._values, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(map(re.escape, ordered)))
        return pattern


def _reveal(value: str | SecretStr | SecretBytes | bytes | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, SecretBytes):
        value = value.get_secret_value()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


#: The process-wide registry used by the SDK and the agent.
registry = SecretRegistry()


def register_secret(value: str | SecretStr | SecretBytes | bytes | None) -> None:
    registry.register(value)


def redact(text: str) -> str:
    return registry.redact(text)


class RedactingFilter(logging.Filter):
    """Rewrites each record so no registered secret reaches a handler.

    The message is rendered with its arguments, then masked (``record.args`` is cleared so no
    formatter re-renders the raw values); exception and stack text are rendered and masked
    too, and ``exc_info`` is dropped so no formatter formats the raw exception again.
    """

    def __init__(self, secrets: SecretRegistry | None = None, name: str = "") -> None:
        super().__init__(name)
        self._secrets = secrets or registry

    def filter(self, record: logging.LogRecord) -> bool:
        if not len(self._secrets):
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: keep what we can
            message = f"{record.msg} {record.args}"
        record.msg = self._secrets.redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = self._secrets.redact(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self._secrets.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._secrets.redact(record.stack_info)
        return True


def install_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one :class:`RedactingFilter` to every handler of ``logger`` (default: root)."""
    target = logger or logging.getLogger()
    redacting = RedactingFilter()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redacting)
    return redacting
