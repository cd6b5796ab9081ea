"""The one exception tree of the connector SDK.

Every failure a connector can meet is raised as one of these classes, so the sync engine can
decide what to do from the class alone (``error.action``) and show the admin a message and a
hint without parsing text. Messages are written for people, and never contain secrets,
credentials, query strings or response bodies: only a method, a host and path, a status code.

Hierarchy (default ``action`` / ``category``)::

    ConnectorError
    ├── ConfigError                      FAIL      config        bad or missing configuration
    │   ├── UnsupportedApiVersionError   FAIL      config        remote API version unsupported
    │   ├── BlockedAddressError          FAIL      config        address guard refused target
    │   └── NotSupportedError            FAIL      config        operation not offered
    ├── AuthError                        REFRESH   auth          credentials refused
    │   ├── AuthenticationError          REFRESH   auth          401: refresh once, then fail
    │   ├── PermissionDeniedError        FAIL      auth          403: known, but not allowed
    │   └── WebhookVerificationError     FAIL      auth          inbound delivery not authentic
    ├── TransientError                   RETRY     transient     network trouble, try again
    │   ├── NetworkError                 RETRY     transient     DNS, refused, TLS, reset
    │   └── RequestTimeoutError          RETRY     transient     connect/read/write/pool timeout
    ├── RateLimitError                   WAIT      rate_limited  429 or quota; ``retry_after`` s
    ├── RemoteError                      FAIL      remote        the remote side refused (4xx)
    │   └── RemoteServerError            RETRY     remote        the remote side failed (5xx)
    └── DataError                        SKIP      data          a record is invalid: skip it
        ├── InvalidInputError            FAIL      data          action/webhook input invalid
        └── PaginationLoopError          FAIL      data          a page token repeated

Translate lower-level exceptions at the edge with :func:`map_exceptions`::

    async with map_exceptions():
        response = await client.get(url)

and classify an HTTP answer with :func:`error_for_response`.
"""

from __future__ import annotations

import contextlib
import enum
from types import TracebackType
from typing import Any, ClassVar

import httpx

__all__ = [
    "AuthError",
    "AuthenticationError",
    "BlockedAddressError",
    "ConfigError",
    "ConnectorError",
    "DataError",
    "ErrorAction",
    "ErrorCategory",
    "InvalidInputError",
    "NetworkError",
    "NotSupportedError",
    "PaginationLoopError",
    "PermissionDeniedError",
    "RateLimitError",
    "RemoteError",
    "RemoteServerError",
    "RequestTimeoutError",
    "TransientError",
    "UnsupportedApiVersionError",
    "WebhookVerificationError",
    "describe_request",
    "error_for_response",
    "map_exceptions",
    "redact",
]


class ErrorAction(enum.StrEnum):
    """What the engine does with a failure (Airbyte's ``ResponseAction``)."""

    RETRY = "retry"  # try again soon, with backoff
    WAIT = "wait"  # try again after ``retry_after`` seconds
    REFRESH = "refresh"  # refresh credentials once, then retry; fail if it happens again
    FAIL = "fail"  # stop; an admin must act (the hint says how)
    SKIP = "skip"  # drop this record, report it, carry on


class ErrorCategory(enum.StrEnum):
    """Whose problem a failure is, for dashboards and alerts."""

    CONFIG = "config"
    AUTH = "auth"
    TRANSIENT = "transient"
    RATE_LIMITED = "rate_limited"
    REMOTE = "remote"
    DATA = "data"


class ConnectorError(Exception):
    """Base of every SDK failure.

    Args:
        message: what went wrong, for the admin; no secrets, no response bodies.
        hint: what the admin should do about it, if we know.
        action: override the class's default action (e.g. a 4xx ``RemoteError`` that may be
            retried).
    """

    default_action: ClassVar[ErrorAction] = ErrorAction.FAIL
    category: ClassVar[ErrorCategory] = ErrorCategory.REMOTE
    default_hint: ClassVar[str | None] = None

    def __init__(
        self, message: str, *, hint: str | None = None, action: ErrorAction | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.action = action if action is not None else self.default_action

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary for logs, check results and the API."""
        return {
            "type": type(self).__name__,
            "category": self.category.value,
            "action": self.action.value,
            "message": self.message,
            "hint": self.hint,
        }


class ConfigError(ConnectorError):
    """The configuration is wrong or incomplete; retrying will not help.

    ``issues`` lists ``{"field": "streams[1].path", "message": ...}`` for form validation.
    """

    category = ErrorCategory.CONFIG
    default_action = ErrorAction.FAIL
    default_hint = "Check the integration's configuration."

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        issues: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.issues = issues or []

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.issues:
            data["issues"] = self.issues
        return data


class UnsupportedApiVersionError(ConfigError):
    """The remote system speaks an API version this connector has no adapter for."""

    def __init__(
        self,
        detected: str,
        supported: tuple[str, ...] | list[str],
        *,
        connector: str = "this connector",
        hint: str | None = None,
    ) -> None:
        self.detected = detected
        self.supported = tuple(supported)
        listed = ", ".join(self.supported) or "none"
        super().__init__(
            f"The remote API version {detected!r} is not supported by {connector} "
            f"(supported: {listed}).",
            hint=hint
            or "Upgrade the connector to a version that supports this API, or point the "
            "integration at a server with a supported API version.",
        )


class BlockedAddressError(ConfigError):
    """The outbound address guard refused a destination (metadata, link-local, loopback)."""

    default_hint = (
        "Point the integration at the system's real address. Link-local and cloud metadata "
        "addresses are never allowed; loopback only when the instance allows it."
    )


class NotSupportedError(ConfigError):
    """The connector does not offer this operation (e.g. webhooks, an unknown action)."""


class AuthError(ConnectorError):
    """The remote system refused our credentials."""

    category = ErrorCategory.AUTH
    default_action = ErrorAction.REFRESH
    default_hint = "Check the credentials of this integration."


class AuthenticationError(AuthError):
    """401: credentials missing, wrong, or expired. Refresh once, then fail."""

    default_hint = (
        "The credentials were rejected. Re-enter them, or renew the token if it expired."
    )


class PermissionDeniedError(AuthError):
    """403: we are who we say, but may not do this."""

    default_action = ErrorAction.FAIL
    default_hint = "Grant the integration's account the permissions the connector documents."


class WebhookVerificationError(AuthError):
    """An inbound webhook delivery's signature or token did not verify."""

    default_action = ErrorAction.FAIL
    default_hint = "Check that the webhook secret configured on both sides is the same."


class TransientError(ConnectorError):
    """Network trouble that usually goes away; retry with backoff."""

    category = ErrorCategory.TRANSIENT
    default_action = ErrorAction.RETRY
    default_hint = "The system could not be reached. Check the URL, DNS, firewall and proxy."


class NetworkError(TransientError):
    """DNS failure, connection refused or reset, TLS handshake failure."""


class RequestTimeoutError(TransientError):
    """The remote system did not answer in time."""

    default_hint = "The system answered too slowly. Retry later or raise the timeout."


class RateLimitError(ConnectorError):
    """The remote system throttled us; wait ``retry_after`` seconds (if known) before retrying."""

    category = ErrorCategory.RATE_LIMITED
    default_action = ErrorAction.WAIT
    default_hint = "The remote API rate limit was reached; the sync resumes after the wait."

    def __init__(
        self, message: str, *, retry_after: float | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["retry_after"] = self.retry_after
        return data


class RemoteError(ConnectorError):
    """The remote system answered with an error that retrying will not fix (most 4xx)."""

    category = ErrorCategory.REMOTE
    default_action = ErrorAction.FAIL
    default_hint = "The remote system rejected the request; see its documentation."

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        hint: str | None = None,
        action: ErrorAction | None = None,
    ) -> None:
        super().__init__(message, hint=hint, action=action)
        self.status_code = status_code

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["status_code"] = self.status_code
        return data


class RemoteServerError(RemoteError):
    """5xx: the remote system failed; retry with backoff."""

    default_action = ErrorAction.RETRY
    default_hint = "The remote system had an internal error; it is retried automatically."


class DataError(ConnectorError):
    """A record or payload does not have the expected shape; skip it and report it."""

    category = ErrorCategory.DATA
    default_action = ErrorAction.SKIP
    default_hint = "The remote data did not match what the connector expects."


class InvalidInputError(DataError):
    """Input to an action or a webhook payload failed validation (``errors`` names fields)."""

    default_action = ErrorAction.FAIL

    def __init__(
        self, message: str, *, errors: list[dict[str, str]] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.errors = errors or []


class PaginationLoopError(DataError):
    """A paginator saw the same page token twice; stop instead of looping forever."""

    default_action = ErrorAction.FAIL
    default_hint = "The remote API returned the same page twice; report it to the vendor."


def redact(text: str, secrets: tuple[str, ...] | list[str] | set[str]) -> str:
    """Replace every secret value (at least 4 characters long) in ``text`` by ``***``."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def describe_request(request: httpx.Request | None) -> str:
    """``GET https://host/path`` without userinfo, query string or fragment (they may hold keys)."""
    if request is None:
        return "request"
    url = request.url
    port = f":{url.port}" if url.port else ""
    return f"{request.method} {url.scheme}://{url.host}{port}{url.path}"


def error_for_response(response: httpx.Response) -> ConnectorError:
    """Classify an unsuccessful HTTP response; the body is never copied into the message."""
    status = response.status_code
    try:
        where = describe_request(response.request)
    except RuntimeError:  # a response built without a request
        where = "request"
    if status == 401:
        return AuthenticationError(f"{where} was refused: 401 Unauthorized.")
    if status == 403:
        return PermissionDeniedError(f"{where} was refused: 403 Forbidden.")
    if status == 429:
        from connectors.sdk.http.ratelimit import parse_retry_after  # noqa: PLC0415 - cycle

        retry_after = parse_retry_after(response.headers)
        wait = f" (retry after {retry_after:g} s)" if retry_after is not None else ""
        return RateLimitError(f"{where} was rate limited: 429{wait}.", retry_after=retry_after)
    if status >= 500:
        return RemoteServerError(
            f"{where} failed on the remote side: {status} {response.reason_phrase}.",
            status_code=status,
        )
    hints = {
        400: "The remote API rejected the request's parameters; check the configuration.",
        404: "The resource was not found; check the base URL, path and identifiers.",
        408: "The remote system timed out the request; it is retried automatically.",
    }
    action = ErrorAction.RETRY if status == 408 else None
    return RemoteError(
        f"{where} failed: {status} {response.reason_phrase}.",
        status_code=status,
        hint=hints.get(status),
        action=action,
    )


class _MapExceptions(contextlib.ContextDecorator, contextlib.AbstractContextManager[None],
                     contextlib.AbstractAsyncContextManager[None]):
    """:func:`map_exceptions`'s context manager: a class, not ``@contextmanager``, since it
    wraps every HTTP request (a generator and several calls per use), and usable with
    ``async with`` too, as the module's example writes it. It holds no state: one instance
    serves every use."""

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc is None or isinstance(exc, ConnectorError):
            return  # SDK errors pass through untouched
        translated = _translated(exc)
        if translated is not None:
            raise translated from exc

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self.__exit__(kind, exc, traceback)


_MAP_EXCEPTIONS = _MapExceptions()


def map_exceptions() -> _MapExceptions:
    """Translate httpx (and socket) exceptions raised inside the block into SDK errors.

    SDK errors pass through untouched; so do exceptions the SDK does not know (bugs stay bugs).
    The original exception stays reachable as ``__cause__`` for debugging logs.
    """
    return _MAP_EXCEPTIONS


def _translated(exc: BaseException) -> ConnectorError | None:
    """The SDK error for an httpx exception (None: not one the SDK knows)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return error_for_response(exc.response)
    if isinstance(exc, httpx.TimeoutException):
        where = describe_request(_request_of(exc))
        return RequestTimeoutError(f"{where} timed out ({type(exc).__name__}).")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ConfigError(
            f"Invalid URL for {describe_request(_request_of(exc))}: only http and https "
            "URLs with a host are supported.",
            hint="Check the base URL in the configuration.",
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return RemoteError(
            f"{describe_request(_request_of(exc))} redirected too many times.",
            hint="Check the base URL; the server may be redirecting in a loop.",
        )
    if isinstance(exc, (httpx.NetworkError, httpx.ProtocolError, httpx.ProxyError)):
        return NetworkError(
            f"{describe_request(_request_of(exc))} failed: could not connect or the "
            f"connection broke ({type(exc).__name__})."
        )
    if isinstance(exc, httpx.DecodingError):
        return DataError(
            f"{describe_request(_request_of(exc))}: the response could not be decoded."
        )
    return None


def _request_of(exc: httpx.HTTPError | httpx.InvalidURL) -> httpx.Request | None:
    try:
        return exc.request if isinstance(exc, httpx.HTTPError) else None
    except RuntimeError:  # raised before a request existed
        return None
