"""The console's exception tree, so every failure can be shown as a readable message.

ConsoleError
 +-- AgentUnreachableError   the agent did not answer (refused, timed out, connection dropped)
 +-- ProtocolError      the agent answered something that is not what the API promises
 +-- ApiError           the agent answered with an HTTP error (RFC 9457 problem+json)

Messages never contain the bearer token or raw response bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ConsoleError(Exception):
    """Base of every error the console shows to its user."""

    def user_message(self) -> str:
        """Text for the user: what went wrong and, where known, what to do."""
        return str(self)


class AgentUnreachableError(ConsoleError):
    """The agent could not be reached; the connection will retry by itself."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"Cannot reach the agent at {url}: {reason}")
        self.url = url
        self.reason = reason


class ProtocolError(ConsoleError):
    """The agent's answer does not follow the API contract (a bug on one side)."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field, as the agent reported it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ApiError(ConsoleError):
    """An HTTP error from the agent, parsed from its problem+json body."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        errors: tuple[FieldError, ...] = (),
        type_: str = "about:blank",
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.type = type_
        super().__init__(self.user_message())

    @property
    def is_auth_error(self) -> bool:
        """True when the token is missing, wrong or lacks the role (401/403)."""
        return self.status in (401, 403)

    def field_message(self, field: str) -> str | None:
        """The messages for one field (joined), or None when it has none."""
        found = [e.message for e in self.errors if e.field == field]
        return "; ".join(found) if found else None

    def user_message(self) -> str:
        head = self.title or f"HTTP {self.status}"
        if self.detail and self.detail != self.title:
            head = f"{head}: {self.detail}"
        if self.errors:
            head += "\n" + "\n".join(f"  - {e}" for e in self.errors)
        return head

    @classmethod
    def from_response(cls, status: int, reason: str, body: Any) -> ApiError:
        """Build from a decoded body; tolerant of bodies that are not problem+json."""
        if not isinstance(body, dict):
            return cls(status, reason or f"HTTP {status}")
        errors: list[FieldError] = []
        raw_errors = body.get("errors")
        if isinstance(raw_errors, list):
            for item in raw_errors:
                if isinstance(item, dict):
                    errors.append(
                        FieldError(str(item.get("field") or ""), str(item.get("message") or ""))
                    )
        title = body.get("title")
        detail = body.get("detail")
        return cls(
            status,
            str(title) if title else (reason or f"HTTP {status}"),
            str(detail) if isinstance(detail, str) else "",
            tuple(errors),
            str(body.get("type") or "about:blank"),
        )
