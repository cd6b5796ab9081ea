"""Streaming search results from Splunk's ``/services/search/jobs/export``.

The export endpoint runs a search and streams results while it runs (``output_mode=json``:
one JSON object per line), so a large result set is never held in memory and no search job
has to be polled. The SDK's ``HttpClient`` reads whole bodies, so this module streams with
its own ``httpx.AsyncClient`` built on the same guarded transport, and applies the same rules
before the first byte: throttling (429, or 503 with ``Retry-After``) waited out and counted,
5xx and network errors retried with backoff (an export is a read), every failure an SDK
error. Errors Splunk reports inside the stream (``messages`` of type FATAL/ERROR) end the
read with a :class:`RemoteError` quoting Splunk's message (it describes the SPL, not data).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from connectors.sdk.context import ConnectorContext
from connectors.sdk.errors import (
    DataError,
    RateLimitError,
    RemoteError,
    TransientError,
    describe_request,
    error_for_response,
    map_exceptions,
)
from connectors.sdk.http import RequestMetric, RetryPolicy
from connectors.sdk.http.guard import guarded_transport
from connectors.sdk.http.ratelimit import parse_retry_after

__all__ = ["SplunkExporter"]

EXPORT_PATH = "/services/search/jobs/export"


class SplunkExporter:
    """Streams export results for one connector instance; close it with :meth:`aclose`."""

    def __init__(self, base_url: str, auth: httpx.Auth | None, context: ConnectorContext) -> None:
        self.context = context
        self.retry = context.retry or RetryPolicy()
        self._client = httpx.AsyncClient(
            base_url=base_url,
            auth=auth,
            timeout=httpx.Timeout(context.http_timeout),
            transport=guarded_transport(
                context.address_policy, inner=context.transport, verify=context.verify_tls
            ),
            headers={"Accept": "application/json"},
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def results(
        self,
        spl: str,
        *,
        earliest_time: str | None = None,
        latest_time: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Each result of ``spl`` as Splunk streams it (field values are strings)."""
        form = {"search": spl, "output_mode": "json"}
        if earliest_time is not None:
            form["earliest_time"] = earliest_time
        if latest_time is not None:
            form["latest_time"] = latest_time
        attempt = throttles = yielded = 0
        while True:
            attempt += 1
            if self.context.rate_limiter is not None:
                await self.context.rate_limiter.acquire()
            started = time.monotonic()
            try:
                with map_exceptions():
                    async with self._client.stream("POST", EXPORT_PATH, data=form) as response:
                        status = response.status_code
                        retry_after = parse_retry_after(response.headers)
                        throttled = status == 429 or (status == 503 and retry_after is not None)
                        if status >= 400:
                            await response.aread()
                            self._record(response, started, attempt, throttled)
                            wait = self._handle_failure(response, throttled, retry_after,
                                                        attempt, throttles)
                            if throttled:
                                throttles += 1
                                attempt -= 1
                            await asyncio.sleep(wait)
                            continue
                        received = 0
                        async for line in response.aiter_lines():
                            received += len(line) + 1
                            result = _parse_line(line, response)
                            if result is not None:
                                yielded += 1
                                yield result
                        self._record(response, started, attempt, False, received)
                        return
            except TransientError:
                self._record(None, started, attempt, False, error="TransientError")
                if yielded or attempt >= self.retry.max_attempts:
                    raise  # mid-stream: a retry would repeat the results already handed out
                self.context.metrics.retries += 1
                await asyncio.sleep(self.retry.backoff(attempt))

    def _handle_failure(
        self, response: httpx.Response, throttled: bool, retry_after: float | None,
        attempt: int, throttles: int,
    ) -> float:
        """Seconds to wait before retrying, or raise the SDK error for ``response``."""
        where = describe_request(response.request)
        if throttled:
            wait = retry_after if retry_after is not None else self.retry.backoff(throttles + 1)
            if wait > self.retry.max_retry_after or throttles >= self.retry.max_throttle_retries:
                raise RateLimitError(
                    f"{where} is rate limited (waited out {throttles} times; Splunk asks to "
                    f"wait {wait:g} s).",
                    retry_after=wait,
                )
            self.context.metrics.throttle_wait_s += wait
            return wait
        if response.status_code in self.retry.retry_statuses and \
                attempt < self.retry.max_attempts:
            self.context.metrics.retries += 1
            return self.retry.backoff(attempt)
        if response.status_code == 400:
            raise RemoteError(
                f"Splunk refused the search (400): {_splunk_message(response)}",
                status_code=400,
                hint="Check the SPL of this stream in the integration's configuration.",
            )
        raise error_for_response(response)

    def _record(
        self,
        response: httpx.Response | None,
        started: float,
        attempt: int,
        throttled: bool,
        received: int = 0,
        error: str | None = None,
    ) -> None:
        url = response.request.url if response is not None else self._client.base_url
        self.context.metrics.record(
            RequestMetric(
                method="POST",
                host=url.host,
                path=EXPORT_PATH,
                status=response.status_code if response is not None else None,
                latency_s=time.monotonic() - started,
                bytes_sent=0,
                bytes_received=received or (len(response.content) if response is not None
                                            and response.is_stream_consumed else 0),
                attempt=attempt,
                throttled=throttled,
                error=error,
            )
        )


def _splunk_message(response: httpx.Response) -> str:
    """Splunk's own explanation (``messages[0].text``), cut short; never the request."""
    try:
        body = response.json()
        text = str(body["messages"][0]["text"])
    except (ValueError, KeyError, IndexError, TypeError):
        return "no message"
    return text[:200]


def _parse_line(line: str, response: httpx.Response) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        item = json.loads(line)
    except ValueError:
        raise DataError(
            f"{describe_request(response.request)} streamed a line that is not JSON."
        ) from None
    if not isinstance(item, Mapping):
        return None
    for message in item.get("messages") or []:
        if isinstance(message, Mapping) and message.get("type") in ("FATAL", "ERROR"):
            raise RemoteError(
                f"Splunk reported an error in the search: {str(message.get('text'))[:200]}",
                hint="Check the SPL of this stream in the integration's configuration.",
            )
    result = item.get("result")
    return dict(result) if isinstance(result, Mapping) else None
