"""The public door: ``POST /api/integration/webhook/{key}``, checked in a fixed order.

1. ``Content-Length`` over the limit -> 413 before a byte of the body is read;
2. a content type other than JSON (or form-encoded, which GitHub can send) -> 415;
3. the body is read counting bytes: past the limit -> 413 (chunked senders lie no better);
4. key lookup and verification by the endpoint's scheme. An unknown key and a failed
   verification (signature, secret, stale or future timestamp) give the same 401 with the
   same body, after the same HMAC work, so the answer does not tell which it was;
5. the delivery id (``webhook-id``, ``X-GitHub-Delivery``…) is stored under a unique key per
   instance: a replay -> 409, nothing processed;
6. the delivery is committed, then 202; the agent's event worker parses it afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from connectors.sdk import ConnectorError
from connectors.sdk.webhooks import WebhookRequest
from server.api.problems import PROBLEM_JSON
from server.db.models import (
    DeliveryStatus,
    IntegrationInstance,
    WebhookDelivery,
    WebhookScheme,
)
from server.db.types import utcnow
from server.services.registry import Registry
from server.sync.runtime import build_connector
from server.vault import Vault
from server.webhooks import standard
from server.webhooks.bulk import insert_or_skip_many, pg_statement
from server.webhooks.endpoints import EndpointCache, Resolved

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json",)
FORM = "application/x-www-form-urlencoded"
#: Headers never stored with a delivery (they authenticate it; keeping them helps no one).
SECRET_HEADERS = {"authorization", "cookie", "x-hub-signature", "x-hub-signature-256",
                  "webhook-signature", "x-webhook-secret", "x-gitlab-token"}
ID_HEADERS = ("webhook-id", "x-github-delivery", "x-delivery-id", "idempotency-key",
              "x-request-id")
_DUMMY_KEY = b"\0" * 32
#: How the intake's own PostgreSQL connections show in ``pg_stat_activity``.
APPLICATION = "simpletrust-webhook-intake"


class Rejected(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail

    def answer(self) -> Answer:
        return Answer(self.status, {"type": "about:blank", "title": self.title,
                                    "status": self.status, "detail": self.detail,
                                    "errors": []}, PROBLEM_JSON)

    def response(self) -> JSONResponse:
        return self.answer().response()


#: Unknown key and failed verification: one answer for both.
UNVERIFIED = Rejected(401, "Unauthorized", "the webhook delivery could not be verified")


@dataclass(frozen=True)
class Answer:
    """What the door answers, independent of the web framework that carries it."""

    status: int
    content: dict[str, Any]
    media_type: str = "application/json"

    def body(self) -> bytes:
        # The same bytes as Starlette's JSONResponse renders.
        return json.dumps(self.content, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode()

    def response(self) -> JSONResponse:
        return JSONResponse(self.content, status_code=self.status, media_type=self.media_type)


@dataclass(frozen=True)
class Accepted:
    id: uuid.UUID
    delivery_id: str


def content_type_of(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def _is_json(content_type: str) -> bool:
    return content_type in JSON_TYPES or (content_type.startswith("application/")
                                          and content_type.endswith("+json"))


class WebhookIntake:
    """Checks, verifies and stores one delivery; :meth:`handle` is framework-free.

    Two adapters carry it: :meth:`receive` (a Starlette ``Request``) and :meth:`asgi`, the
    lean ASGI app the public route is served by (no request object, no dependency solving:
    the door is the agent's hottest path, issue 6).
    """

    def __init__(self, session_factory: sessionmaker[Session], registry: Registry, vault: Vault,
                 *, max_body: int, tolerance: int, on_stored: Callable[[], None]) -> None:
        self.session_factory = session_factory
        self.registry = registry
        self.vault = vault
        self.max_body = max_body
        self.cache = EndpointCache(vault, tolerance)
        self.on_stored = on_stored
        self.writer = DeliveryWriter(session_factory, on_stored)

    async def receive(self, key: str, request: Request) -> JSONResponse:
        """The delivery carried by a Starlette request."""
        answer = await self.handle(key, dict(request.headers), dict(request.query_params),
                                   request.stream())
        return answer.response()

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The delivery as a bare ASGI request (``path_params["key"]`` set by the route)."""
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                               keep_blank_values=True))
        key = str(scope.get("path_params", {}).get("key", ""))
        try:
            answer = await self.handle(key, headers, query, _body_chunks(receive))
        except ClientDisconnect:
            return
        body = answer.body()
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [(b"content-type", answer.media_type.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def handle(self, key: str, headers: dict[str, str], query: dict[str, str],
                     body: AsyncIterator[bytes]) -> Answer:
        """Check, verify and store a delivery; ``headers`` have lower-case names."""
        try:
            accepted = await self._receive(key, headers, query, body)
        except Rejected as exc:
            return exc.answer()
        return Answer(202, {"id": str(accepted.id), "delivery_id": accepted.delivery_id,
                            "status": "received"})

    async def _receive(self, key: str, headers: dict[str, str], query: dict[str, str],
                       chunks: AsyncIterator[bytes]) -> Accepted:
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            raise Rejected(413, "Payload too large",
                           f"the body exceeds the limit of {self.max_body} bytes")
        content_type = content_type_of(headers)
        if not (_is_json(content_type) or content_type == FORM):
            raise Rejected(415, "Unsupported media type",
                           "send the delivery as application/json")
        body = await self._read(chunks)
        if len(key) > 100:
            key = ""
        resolved = await self._resolve_key(key)
        if resolved is None:
            hmac.digest(_DUMMY_KEY, body, "sha256")  # the same work as a real check
            log.info("webhook delivery to an unknown key refused")
            raise UNVERIFIED
        if resolved.scheme == WebhookScheme.CONNECTOR:
            await self._verify_by_connector(resolved, body, headers, query)
            delivery_id = _delivery_id(headers, body)
        else:
            if content_type == FORM:
                raise Rejected(415, "Unsupported media type",
                               "send the delivery as application/json")
            delivery_id = self._verify(resolved, headers, body)
        hidden = resolved.header_name.lower()
        kept = {k: v for k, v in headers.items() if k not in SECRET_HEADERS and k != hidden}
        row: dict[str, Any] = {"id": uuid.uuid4(), "instance_id": resolved.instance_id,
               "delivery_id": delivery_id[:200], "scheme": resolved.scheme.value,
               "content_type": content_type[:200], "headers": kept, "body": body,
               "status": DeliveryStatus.RECEIVED.value, "events": 0, "attempts": 0,
               "received_at": utcnow()}
        if not await self.writer.store(row):
            raise Rejected(409, "Conflict", "this delivery id was already received (replay)")
        return Accepted(row["id"], row["delivery_id"])

    async def _read(self, chunks: AsyncIterator[bytes]) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > self.max_body:
                raise Rejected(413, "Payload too large",
                               f"the body exceeds the limit of {self.max_body} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def _resolve_key(self, key: str) -> Resolved | None:
        if not key:
            return None
        hit = self.cache.cached(key)
        if hit is not None:
            return hit[0]
        return await asyncio.to_thread(self._resolve, key)

    def _resolve(self, key: str) -> Resolved | None:
        with self.session_factory() as session:
            return self.cache.resolve(session, key)

    def _verify(self, resolved: Resolved, headers: dict[str, str], body: bytes) -> str:
        if resolved.scheme == WebhookScheme.STANDARD:
            try:
                return standard.verify(resolved.secrets, headers, body, now=time.time(),
                                       tolerance=resolved.tolerance)
            except (standard.SignatureError, ValueError) as exc:
                log.info("webhook delivery for %r refused: %s", resolved.instance_name, exc)
                raise UNVERIFIED from None
        sent = headers.get(resolved.header_name.lower(), "").encode()
        matched = False
        for secret in resolved.secrets:
            matched |= hmac.compare_digest(secret.encode(), sent)
        if not matched:
            log.info("webhook delivery for %r refused: wrong or missing %s",
                     resolved.instance_name, resolved.header_name)
            raise UNVERIFIED
        return _delivery_id(headers, body)

    async def _verify_by_connector(self, resolved: Resolved, body: bytes,
                                   headers: dict[str, str], query: dict[str, str]) -> None:
        connector = await asyncio.to_thread(self._connector, resolved.instance_id)
        if connector is None:
            raise UNVERIFIED
        try:
            await connector.verify_webhook(WebhookRequest(body=body, headers=headers,
                                                          query=query))
        except ConnectorError as exc:  # WebhookVerificationError, NotSupportedError…
            log.info("webhook delivery for %r refused by its connector: %s",
                     resolved.instance_name, type(exc).__name__)
            raise UNVERIFIED from None
        finally:
            await connector.aclose()

    def _connector(self, instance_id: uuid.UUID) -> Any:
        with self.session_factory() as session:
            instance = session.get(IntegrationInstance, instance_id)
            if instance is None:
                return None
            try:
                return build_connector(session, self.registry, self.vault, instance)
            except ConnectorError:
                return None


class DeliveryWriter:
    """Group commit: deliveries arriving together are inserted in one transaction.

    Each request still waits for *its* row to be committed before it answers 202; batching
    only shares the commit (the fsync) between concurrent requests: while one batch is being
    written, the next one gathers. On PostgreSQL up to ``WRITERS`` batches are in flight at
    once (the database's commits overlap; a delivery id sent twice at once is still stored
    once: the second insert waits for the first and skips); SQLite has one writer anyway.
    ``ON CONFLICT DO NOTHING … RETURNING id`` tells which rows were new: the others are
    replays. ``on_stored`` is called once per committed batch.

    On PostgreSQL the batches go through the writer's own asyncio psycopg connections (at
    most ``WRITERS``), on the event loop: a batch through a worker thread and an ORM session
    cost about 0.4 ms of CPU however small it was, most of the intake's time at low rates and
    a fifth of it at 2,000/s (issue 6). SQLite keeps the session in a thread.
    """

    MAX_BATCH = 500
    WRITERS = 4
    #: A connection idle for longer is checked before it is used (the server may have gone).
    IDLE_PING_SECONDS = 5.0

    def __init__(self, session_factory: sessionmaker[Session],
                 on_stored: Callable[[], None] = lambda: None) -> None:
        self.session_factory = session_factory
        self.on_stored = on_stored
        self._pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._ready: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        bind = session_factory.kw.get("bind")
        self._conninfo = (bind.url.set(drivername="postgresql").render_as_string(
            hide_password=False) if bind is not None and bind.dialect.name == "postgresql"
            else None)
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []

    async def store(self, row: dict[str, Any]) -> bool:
        """True once ``row`` is committed; False when its delivery id was already stored."""
        loop = asyncio.get_running_loop()
        if self._ready is None or self._task is None or self._task.done():
            self._ready = asyncio.Event()
            self._task = loop.create_task(self._run(self._ready), name="webhook-writer")
        done: asyncio.Future[bool] = loop.create_future()
        self._pending.append((row, done))
        self._ready.set()
        return await done

    async def _run(self, ready: asyncio.Event) -> None:
        bind = self.session_factory.kw.get("bind")
        slots = asyncio.Semaphore(1 if bind is None or bind.dialect.name == "sqlite"
                                  else self.WRITERS)
        writing: set[asyncio.Task[None]] = set()

        def written(task: asyncio.Task[None]) -> None:
            writing.discard(task)
            slots.release()

        try:
            while True:
                await ready.wait()
                ready.clear()
                while self._pending:
                    await slots.acquire()  # meanwhile more deliveries join the next batch
                    batch = self._pending[:self.MAX_BATCH]
                    del self._pending[:self.MAX_BATCH]
                    task = asyncio.get_running_loop().create_task(self._write(batch))
                    writing.add(task)
                    task.add_done_callback(written)
        finally:
            for task in writing:
                task.cancel()
            while self._idle:  # the loop is going away: so are its connections
                _discard(self._idle.pop()[0])

    async def _write(self, batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        rows = [row for row, _ in batch]
        try:
            inserted = (await asyncio.to_thread(self._insert, rows) if self._conninfo is None
                        else await self._insert_async(self._conninfo, rows))
        except Exception as exc:  # noqa: BLE001 - handed on: each waiting request fails
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for row, done in batch:
            if not done.done():
                done.set_result(row["id"] in inserted)
        if inserted:
            self.on_stored()

    async def _insert_async(self, conninfo: str, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        sql, params = pg_statement(WebhookDelivery.__table__,  # type: ignore[arg-type]
                                   rows, ["instance_id", "delivery_id"], "id")
        conn = await self._checkout(conninfo)
        try:
            async with conn.cursor(binary=True) as cursor:
                await cursor.execute(sql, params)  # autocommit: durable when it returns
                inserted = {row[0] for row in await cursor.fetchall()}
        except BaseException:
            _discard(conn)  # in an unknown state: never reused
            raise
        self._idle.append((conn, time.monotonic()))
        return inserted

    async def _checkout(self, conninfo: str) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            conn, since = self._idle.pop()
            if conn.closed:
                continue
            if time.monotonic() - since < self.IDLE_PING_SECONDS:
                return conn
            try:
                await conn.execute("SELECT 1")
            except psycopg.Error:
                _discard(conn)
                continue
            return conn
        # Autocommit: the one INSERT is its own transaction, committed (synchronous_commit)
        # before the server answers it: one round trip per batch instead of two.
        return await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     application_name=APPLICATION)

    def _insert(self, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        with self.session_factory() as session:
            inserted = set(insert_or_skip_many(
                session.connection(), WebhookDelivery.__table__,  # type: ignore[arg-type]
                rows, ["instance_id", "delivery_id"], returning="id"))
            session.commit()
            return inserted


def _discard(conn: psycopg.AsyncConnection[Any]) -> None:
    """Close without awaiting (also from a task being cancelled)."""
    conn.pgconn.finish()


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives; a client that went away ends the request."""
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect  # nobody is left to answer
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


def _delivery_id(headers: dict[str, str], body: bytes) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ID_HEADERS:
        value = lowered.get(name)
        if value:
            return value.strip()[:200]
    return "sha256:" + hashlib.sha256(body).hexdigest()
