"""boto3 behind an async façade: sessions, role assumption, clients, calls and paginators.

boto3 is synchronous, so every API call (and every page of a paginator) runs in a worker
thread with ``asyncio.to_thread``; boto3 clients are thread-safe, sessions are not, so
sessions and clients are made under a lock and cached per (service, region). With a role to
assume, the base credentials only call ``sts:AssumeRole``; botocore refreshes the role's
temporary credentials before they expire.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpcore
from botocore import xform_name
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import ClientError
from botocore.session import get_session

from connectors.builtin.aws.config import AwsConfig
from connectors.builtin.aws.errors import aws_errors
from connectors.sdk.auth.credentials import AwsCredentials
from connectors.sdk.context import ConnectorContext
from connectors.sdk.errors import ConfigError, NetworkError
from connectors.sdk.http.guard import resolve_and_check
from connectors.sdk.redact import register_secret

__all__ = ["AwsSession", "CallerIdentity"]

class CallerIdentity(dict[str, str]):
    """``{"account": ..., "arn": ..., "user_id": ...}`` from ``sts:GetCallerIdentity``."""


class AwsSession:
    """One connector instance's way into AWS."""

    def __init__(
        self, config: AwsConfig, credentials: AwsCredentials | None, context: ConnectorContext
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.context = context
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._identity: CallerIdentity | None = None
        self._endpoint_checked = False

    # ---- sessions and clients -------------------------------------------------------------

    def _botocore_config(self, service: str) -> Config:
        timeout = self.context.http_timeout
        # botocore's standard mode retries throttling, 5xx and connection errors itself; the
        # instance's retry policy sets how many attempts (the first one included).
        attempts = self.context.retry.max_attempts if self.context.retry else 3
        options: dict[str, Any] = {
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "retries": {"mode": "standard", "max_attempts": attempts},
            "user_agent_extra": "simpletrust-integrations",
        }
        if self.config.endpoint_url and service == "s3":
            options["s3"] = {"addressing_style": "path"}
        return Config(**options)

    def _keys(self) -> AwsCredentials:
        if self.credentials is None:
            raise ConfigError(
                "The AWS connector needs AWS credentials.",
                hint="Attach an AWS access key credential (auth type 'aws') to the integration.",
            )
        return self.credentials

    def _base_session(self) -> boto3.session.Session:
        return boto3.session.Session(
            **{**self._keys().boto3_session_kwargs(), "region_name": self.config.home_region}
        )

    def _assumed_session(self) -> boto3.session.Session:
        role = self._keys().assume_role
        assert role is not None
        sts = self._base_session().client(
            "sts", endpoint_url=self.config.endpoint_url, config=self._botocore_config("sts")
        )

        def fetch() -> dict[str, Any]:
            with aws_errors("sts", "AssumeRole", self.config.home_region):
                answer = sts.assume_role(**role.sts_params())["Credentials"]
            # botocore logs STS answers at DEBUG: mask the temporary secrets wherever the
            # agent's redacting log filter is installed.
            register_secret(answer["SecretAccessKey"])
            register_secret(answer["SessionToken"])
            expiry = answer["Expiration"]
            if isinstance(expiry, dt.datetime):
                expiry = expiry.astimezone(dt.UTC).isoformat()
            return {
                "access_key": answer["AccessKeyId"],
                "secret_key": answer["SecretAccessKey"],
                "token": answer["SessionToken"],
                "expiry_time": expiry,
            }

        credentials = RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
        )
        core = get_session()
        core._credentials = credentials  # botocore's refresh hook
        core.set_config_variable("region", self.config.home_region)
        return boto3.session.Session(botocore_session=core)

    def client(self, service: str, region: str | None = None) -> Any:
        """A cached boto3 client (call from a worker thread: creation does file I/O)."""
        region = region or self.config.home_region
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if self._session is None:
                    self._session = (
                        self._assumed_session()
                        if self._keys().assume_role
                        else self._base_session()
                    )
                client = self._session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.config.endpoint_url,
                    config=self._botocore_config(service),
                )
                self._clients[key] = client
            return client

    async def check_endpoint(self) -> None:
        """A custom endpoint goes through the address guard (loopback only if allowed)."""
        self._keys()
        if self._endpoint_checked or not self.config.endpoint_url:
            return
        parts = urlsplit(self.config.endpoint_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            await resolve_and_check(parts.hostname or "", port, self.context.address_policy)
        except httpcore.ConnectError as exc:  # the guard's DNS failure
            raise NetworkError(f"The endpoint {parts.hostname} could not be resolved.") from exc
        self._endpoint_checked = True

    # ---- calls ------------------------------------------------------------------------------

    async def call(
        self,
        service: str,
        operation: str,
        region: str | None = None,
        *,
        absent: tuple[str, ...] = (),
        **params: Any,
    ) -> dict[str, Any] | None:
        """``client.<operation>(**params)`` in a worker thread, errors translated.

        Error codes in ``absent`` mean "there is no such configuration" and return None
        (``NoSuchEntity`` for a login profile, ``ServerSideEncryptionConfigurationNotFoundError``
        for an unencrypted bucket on moto and before 2023).
        """
        await self.check_endpoint()
        method = _snake(operation)

        def run() -> dict[str, Any] | None:
            with aws_errors(service, operation, region or self.config.home_region):
                try:
                    result: dict[str, Any] = getattr(self.client(service, region), method)(
                        **params
                    )
                except ClientError as exc:
                    if absent and exc.response.get("Error", {}).get("Code") in absent:
                        return None
                    raise
            result.pop("ResponseMetadata", None)
            return result

        return await asyncio.to_thread(run)

    async def require(
        self, service: str, operation: str, region: str | None = None, **params: Any
    ) -> dict[str, Any]:
        """:meth:`call` for operations that always answer."""
        return await self.call(service, operation, region, **params) or {}

    async def pages(
        self, service: str, operation: str, region: str | None = None, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a boto3 paginator, one worker-thread hop per page."""
        await self.check_endpoint()
        where = region or self.config.home_region

        def start() -> Any:
            with aws_errors(service, operation, where):
                paginator = self.client(service, region).get_paginator(_snake(operation))
                return iter(paginator.paginate(**params))

        pages = await asyncio.to_thread(start)
        while True:
            page = await asyncio.to_thread(_next_page, pages, service, operation, where)
            if page is None:
                return
            yield page

    async def paginate(
        self, service: str, operation: str, key: str, region: str | None = None, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """The items under ``key`` of every page."""
        async for page in self.pages(service, operation, region, **params):
            for item in page.get(key) or []:
                yield item

    async def collect(
        self, service: str, operation: str, key: str, region: str | None = None, **params: Any
    ) -> list[Any]:
        return [item async for item in self.paginate(service, operation, key, region, **params)]

    @property
    def cached_identity(self) -> CallerIdentity | None:
        return self._identity

    async def identity(self) -> CallerIdentity:
        """Who we are (``sts:GetCallerIdentity`` needs no permission); cached."""
        if self._identity is None:
            answer = await self.require("sts", "GetCallerIdentity")
            self._identity = CallerIdentity(
                account=str(answer.get("Account", "")),
                arn=str(answer.get("Arn", "")),
                user_id=str(answer.get("UserId", "")),
            )
        return self._identity


def _next_page(pages: Any, service: str, operation: str, region: str) -> dict[str, Any] | None:
    with aws_errors(service, operation, region):
        page: dict[str, Any] | None = next(pages, None)
        return page


def _snake(operation: str) -> str:
    """``ListMFADevices`` -> ``list_mfa_devices`` (botocore's own rule)."""
    name: str = xform_name(operation)
    return name
