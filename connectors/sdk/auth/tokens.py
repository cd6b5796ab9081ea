"""OAuth tokens and where they are kept between runs.

A :class:`TokenStore` persists the whole :class:`TokenSet` in one call, so a rotated refresh
token and its access token are saved together or not at all. The agent's store re-seals the
credential's vault envelope in one transaction; :class:`MemoryTokenStore` is for tests and
one-off scripts. ``save`` is called before a new token is used: if it fails, the token is not
used and a :class:`~connectors.sdk.auth.errors.CredentialError` (``storage``) is raised, since
with rotation the previous refresh token is already dead.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, repr=False)
class TokenSet:
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - a token type name, not a secret
    #: Unix time the access token expires (from ``expires_in``), or None if not said.
    expires_at: float | None = None
    refresh_token: str | None = None
    scope: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_response(
        cls, payload: dict[str, Any], *, now: float, previous_refresh: str | None = None
    ) -> TokenSet:
        """Build from a token endpoint answer; keeps the old refresh token if none is sent."""
        expires_in = payload.get("expires_in")
        try:
            expires_at = now + float(expires_in) if expires_in is not None else None
        except (TypeError, ValueError):
            expires_at = None
        scope = payload.get("scope")
        return cls(
            access_token=str(payload["access_token"]),
            token_type=str(payload.get("token_type") or "Bearer"),
            expires_at=expires_at,
            refresh_token=payload.get("refresh_token") or previous_refresh,
            scope=tuple(scope.split()) if isinstance(scope, str) else (),
        )

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        """Whether the access token is expired, or will be within ``seconds``."""
        if self.expires_at is None:
            return False
        return (time.time() if now is None else now) + seconds >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for a store (it holds secrets: seal it, never log it)."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "scope": list(self.scope),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenSet:
        return cls(
            access_token=data["access_token"],
            token_type=data.get("token_type") or "Bearer",
            expires_at=data.get("expires_at"),
            refresh_token=data.get("refresh_token"),
            scope=tuple(data.get("scope") or ()),
        )

    def __repr__(self) -> str:
        return (
            f"TokenSet(token_type={self.token_type!r}, expires_at={self.expires_at!r}, "
            f"refresh_token={'set' if self.refresh_token else None}, scope={self.scope!r})"
        )


@runtime_checkable
class TokenStore(Protocol):
    """Persists tokens for one credential. ``save`` must be atomic (all fields or nothing)."""

    def load(self) -> TokenSet | None: ...

    def save(self, token: TokenSet) -> None: ...


class MemoryTokenStore:
    """A process-local store (tests, scripts). Counts saves so tests can see rotations."""

    def __init__(self, token: TokenSet | None = None) -> None:
        self._token = token
        self._lock = threading.Lock()
        self.saves = 0

    def load(self) -> TokenSet | None:
        with self._lock:
            return self._token

    def save(self, token: TokenSet) -> None:
        with self._lock:
            self._token = token
            self.saves += 1
