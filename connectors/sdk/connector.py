"""The ``Connector`` base class: an author writes two methods, the SDK derives the rest.

Minimal connector::

    class AcmeConfig(BaseModel):
        base_url: str
        api_token: SecretStr = secret_field(description="Acme API token")

    class Acme(Connector[AcmeConfig]):
        metadata = ConnectorMetadata(key="acme", name="Acme", version="1.0.0",
                                     system_type=SystemType.ITSM, auth_methods=(AuthMethod.BEARER,))
        config_model = AcmeConfig

        async def check_connection(self) -> None:
            await self.http.get("/me")           # raises an SDK error if anything is wrong

        async def streams(self) -> list[Stream]:
            return [Users(self.http)]

From these the SDK derives :meth:`Connector.check` (a structured :class:`CheckResult`),
:meth:`Connector.discover`, :meth:`Connector.read` (records and checkpointable state),
:meth:`Connector.write` (declared :func:`~connectors.sdk.actions.action` methods), webhook
handling and API version negotiation (:attr:`Connector.api_adapters`).

An instance is built from a config (model or mapping), the credentials the auth layer made
(an ``httpx.Auth`` for HTTP connectors, anything else for LDAP, AWS, …), and the instance's
:class:`ConnectorContext`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from connectors.sdk.actions import ActionResult, ActionSpec, collect_actions
from connectors.sdk.check import CheckItem, CheckName, CheckResult, CheckStatus
from connectors.sdk.config import config_schema, issues_of, parse_config, secret_values
from connectors.sdk.context import ConnectorContext
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    DataError,
    InvalidInputError,
    NotSupportedError,
    PermissionDeniedError,
    RateLimitError,
    UnsupportedApiVersionError,
    map_exceptions,
    redact,
)
from connectors.sdk.http.client import HttpClient, RetryPolicy
from connectors.sdk.logs import RedactingLogger
from connectors.sdk.messages import ReadMessage
from connectors.sdk.metadata import ConnectorMetadata
from connectors.sdk.streams import Stream, StreamDescriptor, SyncMode
from connectors.sdk.versioning import negotiate_version
from connectors.sdk.webhooks import WebhookEvent, WebhookRequest

__all__ = ["Connector"]

ConfigT = TypeVar("ConfigT", bound=BaseModel)

_PASSED = CheckStatus.PASSED
_FAILED = CheckStatus.FAILED
_SKIPPED = CheckStatus.SKIPPED


class Connector(ABC, Generic[ConfigT]):
    """Base class of every connector. Implement :meth:`check_connection` and :meth:`streams`.

    Class attributes:
        metadata: the connector's :class:`ConnectorMetadata`.
        config_model: the pydantic model of its configuration.
        api_adapters: remote API version -> factory called with the connector, for
            connectors that speak several API versions (see :meth:`negotiate_api_version`).
    """

    metadata: ClassVar[ConnectorMetadata]
    config_model: ClassVar[type[BaseModel]]
    api_adapters: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}

    def __init__(
        self,
        config: ConfigT | Mapping[str, Any],
        *,
        credentials: Any = None,
        context: ConnectorContext | None = None,
    ) -> None:
        self.config: ConfigT = self.validate_config(config)  # type: ignore[assignment]
        self.credentials = credentials
        self.context = context or ConnectorContext()
        self._secrets = tuple(secret_values(self.config))
        self.logger = RedactingLogger(
            self.context.logger.getChild(self.metadata.key),
            self._secrets,
            {"connector": self.metadata.key, "instance_id": self.context.instance_id},
        )
        self.api_version: str | None = None
        self.api_adapter: Any = None
        self._clients: list[HttpClient] = []
        self._streams: dict[str, Stream] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.metadata.key} {self.metadata.version}>"

    # ---- what the author implements -------------------------------------------------------

    @abstractmethod
    async def check_connection(self) -> None:
        """Reach the system and authenticate (ideally read one item). Raise an SDK error if
        anything is wrong; return normally if the connector can work."""

    @abstractmethod
    async def streams(self) -> Sequence[Stream]:
        """The streams this instance offers (may ask the remote system: dynamic discovery)."""

    async def check_permissions(self) -> None:
        """Optional: verify the permissions every stream needs; raise
        :class:`PermissionDeniedError` naming what is missing."""

    async def detect_api_version(self) -> str | None:
        """Optional: ask the remote system for its API version (``None`` if unknown)."""
        return None

    # ---- class-level description ----------------------------------------------------------

    @classmethod
    def validate_config(cls, data: BaseModel | Mapping[str, Any]) -> BaseModel:
        """Validate a config; raise :class:`ConfigError` naming every bad field."""
        return parse_config(cls.config_model, data)

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        """JSON Schema of the config (served by the API, rendered as a form)."""
        return config_schema(cls.config_model)

    @classmethod
    def actions(cls) -> dict[str, ActionSpec]:
        return collect_actions(cls)

    @classmethod
    def supports_webhooks(cls) -> bool:
        return cls.parse_webhook is not Connector.parse_webhook

    @classmethod
    def supported_api_versions(cls) -> tuple[str, ...]:
        return tuple(cls.metadata.api_versions) or tuple(cls.api_adapters)

    @classmethod
    def capabilities(cls) -> dict[str, Any]:
        """What the connector can do (``GET /connectors/{id}/capabilities``)."""
        return {
            "check": True,
            "discover": True,
            "read": True,
            "write": bool(cls.actions()),
            "actions": [spec.to_dict() for spec in cls.actions().values()],
            "webhooks": cls.supports_webhooks(),
            "api_versions": list(cls.supported_api_versions()),
            "auth_methods": [m.value for m in cls.metadata.auth_methods],
        }

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Metadata, config schema and capabilities in one JSON-able dict (for the registry)."""
        return {
            **cls.metadata.to_dict(),
            "config_schema": cls.config_schema(),
            "capabilities": cls.capabilities(),
        }

    # ---- helpers for authors --------------------------------------------------------------

    @property
    def auth(self) -> httpx.Auth | None:
        """The credentials as an ``httpx.Auth``, if that is what the auth layer supplied."""
        return self.credentials if isinstance(self.credentials, httpx.Auth) else None

    def http_client(
        self, base_url: str, *, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> HttpClient:
        """A guarded, rate-limited client for this instance; closed by :meth:`aclose`."""
        client = HttpClient(
            base_url,
            auth=kwargs.pop("auth", self.auth),
            policy=self.context.address_policy,
            timeout=self.context.http_timeout,
            retry=retry or self.context.retry,
            rate_limiter=self.context.rate_limiter,
            metrics=self.context.metrics,
            transport=self.context.transport,
            verify=self.context.verify_tls,
            **kwargs,
        )
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> Connector[ConfigT]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- derived operations ---------------------------------------------------------------

    async def negotiate_api_version(self) -> str | None:
        """Detect the remote version, pick its adapter (``self.api_adapter``), or refuse.

        Returns the detected version (None if the connector cannot detect one).
        """
        detected = await self.detect_api_version()
        self.api_version = detected
        supported = self.supported_api_versions()
        if detected is None or not supported:
            if self.api_adapters and detected is None:
                # Cannot tell: use the newest adapter (the last declared).
                self.api_adapter = list(self.api_adapters.values())[-1](self)
            return detected
        label = f"{self.metadata.name} {self.metadata.version}"
        key = negotiate_version(detected, supported, connector=label)
        factory = self.api_adapters.get(key)
        if factory is not None:
            self.api_adapter = factory(self)
        return detected

    async def check(self) -> CheckResult:
        """Check reachability, authentication, permissions and API version, step by step."""
        started = time.monotonic()
        steps: dict[CheckName, CheckItem] = {}
        failure: ConnectorError | None = None
        try:
            with map_exceptions():  # raw httpx errors from author code get classified too
                await self.check_connection()
                await self.check_permissions()
        except ConnectorError as exc:
            failure = exc
            steps = _failed_steps(exc, self._secrets)
        latency = round((time.monotonic() - started) * 1000, 2)
        version: str | None = None
        if failure is None:
            steps = {name: CheckItem(name, _PASSED) for name in _ORDER[:3]}
            try:
                version = await self.negotiate_api_version()
            except ConnectorError as exc:
                failure = exc
                version = exc.detected if isinstance(exc, UnsupportedApiVersionError) else None
                steps[CheckName.API_VERSION] = CheckItem(
                    CheckName.API_VERSION, _FAILED, redact(exc.message, self._secrets), exc.hint
                )
            else:
                steps[CheckName.API_VERSION] = CheckItem(
                    CheckName.API_VERSION,
                    _PASSED if version else _SKIPPED,
                    None if version else "The connector does not detect the API version.",
                )
        items = tuple(steps.get(name) or CheckItem(name, _SKIPPED) for name in _ORDER)
        result = CheckResult(
            items=items,
            server_api_version=version,
            latency_ms=latency,
            error_action=failure.action if failure else None,
            details={"error": _redacted(failure.to_dict(), self._secrets)} if failure else {},
        )
        self.logger.info("check finished: ok=%s latency_ms=%s", result.ok, latency)
        return result

    async def _stream_map(self) -> dict[str, Stream]:
        if self._streams is None:
            streams = list(await self.streams())
            names = [s.name for s in streams]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ConfigError(f"Duplicate stream names: {', '.join(duplicates)}.")
            self._streams = {s.name: s for s in streams}
        return self._streams

    async def discover(self) -> list[StreamDescriptor]:
        """The streams and their schemas."""
        return [s.descriptor() for s in (await self._stream_map()).values()]

    async def sync_streams(self) -> list[StreamDescriptor]:
        """The streams as a sync needs them: names, primary keys, cursors, sync modes.

        The sync engine asks this, not :meth:`discover`, at every sync. A connector whose
        discovery does costly work the engine does not use (a declarative stream without a
        declared schema infers one from a first-page request) overrides it to skip that work;
        by default it is :meth:`discover`."""
        return await self.discover()

    async def read(
        self,
        stream: str,
        state: Mapping[str, Any] | None = None,
        *,
        sync_mode: SyncMode | None = None,
    ) -> AsyncIterator[ReadMessage]:
        """Read ``stream`` from ``state`` (that stream's last :class:`StateMessage` state).

        Yields :class:`RecordMessage`, :class:`SkippedRecordMessage` and checkpoint
        :class:`StateMessage` objects; the last message is always a state.
        """
        selected = await self._reading(stream, state)
        with map_exceptions():
            async for message in selected.read(state, sync_mode):
                yield message

    async def read_paged(
        self,
        stream: str,
        state: Mapping[str, Any] | None = None,
        *,
        sync_mode: SyncMode | None = None,
    ) -> AsyncIterator[list[dict[str, Any]] | ReadMessage]:
        """:meth:`read`, with runs of records as lists (:meth:`Stream.read_paged`): what the
        sync engine reads. A connector that overrides :meth:`read` is read through it."""
        if type(self).read is not Connector.read:
            async for message in self.read(stream, state, sync_mode=sync_mode):
                yield message
            return
        selected = await self._reading(stream, state)
        with map_exceptions():
            async for item in selected.read_paged(state, sync_mode):
                yield item

    async def _reading(self, stream: str, state: Mapping[str, Any] | None) -> Stream:
        streams = await self._stream_map()
        selected = streams.get(stream)
        if selected is None:
            raise ConfigError(
                f"Unknown stream {stream!r}; this connector offers: {', '.join(streams)}."
            )
        if self.api_adapters and self.api_adapter is None:
            await self.negotiate_api_version()
        self.logger.info("read %s started (state: %s)", stream, "yes" if state else "none")
        return selected

    async def write(self, action: str, payload: Mapping[str, Any] | BaseModel) -> ActionResult:
        """Run the declared action ``action`` with ``payload`` validated by its input model."""
        spec = self.actions().get(action)
        if spec is None:
            offered = ", ".join(self.actions()) or "none"
            raise NotSupportedError(f"Unknown action {action!r}; actions offered: {offered}.")
        try:
            data = payload.model_dump() if isinstance(payload, BaseModel) else dict(payload)
            model = spec.input_model.model_validate(data)
        except ValidationError as exc:
            issues = issues_of(exc)
            listed = "; ".join(f"{i['field']}: {i['message']}" for i in issues)
            raise InvalidInputError(
                f"Invalid input for action {action!r}: {listed}.", errors=issues
            ) from None
        output = await getattr(self, spec.method_name)(model)
        if isinstance(output, BaseModel):
            output = output.model_dump(mode="json")
        self.logger.info("action %s done", action)
        return ActionResult(action=action, output=dict(output or {}))

    async def verify_webhook(self, request: WebhookRequest) -> None:
        """Check a delivery is authentic; raise :class:`WebhookVerificationError` if not.

        Connectors that parse webhooks must override this (the default refuses everything).
        """
        raise NotSupportedError(f"{self.metadata.name} does not accept webhooks.")

    async def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        """Turn a verified delivery into events."""
        raise NotSupportedError(f"{self.metadata.name} does not accept webhooks.")

    async def handle_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        """Verify, then parse. Never parses an unverified delivery."""
        await self.verify_webhook(request)
        return await self.parse_webhook(request)


_ORDER = (
    CheckName.REACHABLE,
    CheckName.AUTHENTICATED,
    CheckName.PERMISSIONS,
    CheckName.API_VERSION,
)


def _redacted(data: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    return {k: redact(v, secrets) if isinstance(v, str) else v for k, v in data.items()}


def _failed_steps(exc: ConnectorError, secrets: tuple[str, ...]) -> dict[CheckName, CheckItem]:
    """Which step a failure belongs to; the steps before it passed, the ones after are skipped."""
    if isinstance(exc, PermissionDeniedError):
        failed_at = CheckName.PERMISSIONS
    elif isinstance(exc, (AuthenticationError, RateLimitError)):
        failed_at = CheckName.AUTHENTICATED
    elif isinstance(exc, DataError):
        failed_at = CheckName.API_VERSION  # it answered, but not in a shape we understand
    else:  # config, transient, remote errors: we could not use the system at all
        failed_at = CheckName.REACHABLE
    steps: dict[CheckName, CheckItem] = {}
    for name in _ORDER:
        if name is failed_at:
            steps[name] = CheckItem(name, _FAILED, redact(exc.message, secrets), exc.hint)
            break
        steps[name] = CheckItem(name, _PASSED)
    return steps

