"""The structured answer of ``Connector.check``: what works, what not, why, and what to do."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from connectors.sdk.errors import ErrorAction

__all__ = ["CheckItem", "CheckName", "CheckResult", "CheckStatus"]


class CheckName(enum.StrEnum):
    REACHABLE = "reachable"
    AUTHENTICATED = "authenticated"
    PERMISSIONS = "permissions"
    API_VERSION = "api_version"


class CheckStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not tried, because an earlier step failed or it does not apply


@dataclass(frozen=True)
class CheckItem:
    """One step. A failed step always has a ``cause``, and a ``hint`` when we know one."""

    name: CheckName
    status: CheckStatus
    cause: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name.value,
            "status": self.status.value,
            "cause": self.cause,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class CheckResult:
    """The result of a connection check, step by step.

    ``ok`` is true when no step failed. ``error_action`` tells the engine what the failure
    means (retry later, fix credentials …) and is None when ``ok``.
    """

    items: tuple[CheckItem, ...]
    server_api_version: str | None = None
    latency_ms: float | None = None
    error_action: ErrorAction | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(item.status is not CheckStatus.FAILED for item in self.items)

    def item(self, name: CheckName) -> CheckItem | None:
        return next((i for i in self.items if i.name is name), None)

    def _passed(self, name: CheckName) -> bool | None:
        item = self.item(name)
        if item is None or item.status is CheckStatus.SKIPPED:
            return None
        return item.status is CheckStatus.PASSED

    @property
    def reachable(self) -> bool | None:
        return self._passed(CheckName.REACHABLE)

    @property
    def authenticated(self) -> bool | None:
        return self._passed(CheckName.AUTHENTICATED)

    @property
    def permissions(self) -> bool | None:
        return self._passed(CheckName.PERMISSIONS)

    @property
    def failures(self) -> list[CheckItem]:
        return [i for i in self.items if i.status is CheckStatus.FAILED]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "items": [i.to_dict() for i in self.items],
            "server_api_version": self.server_api_version,
            "latency_ms": self.latency_ms,
            "error_action": self.error_action.value if self.error_action else None,
            "details": self.details,
        }
