"""What an administrator does with one instance besides configuring it: test the connection,
preview data, explore its streams, and run write actions (bi-directional connectors)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.sdk import ConnectorError, RecordMessage
from connectors.sdk.connector import Connector
from server.api import crud
from server.api.deps import Operator, Reader, SessionDep
from server.api.problems import Conflict, Unprocessable, problem_responses
from server.api.schemas.operations import (
    ActionRead,
    ActionRequest,
    CheckItemRead,
    ConnectionTestRead,
    PreviewRead,
    PreviewRequest,
    StreamRead,
)
from server.db.models import ActionInvocation, IntegrationInstance, LogType
from server.db.types import utcnow
from server.monitoring import samples
from server.services import activity
from server.services.registry import Registry
from server.sync.mappings import resolve
from server.sync.runtime import build_connector
from server.vault import Vault

router = APIRouter(prefix="/instances", tags=["instances"],
                   responses=problem_responses(401, 403, 404, 409, 422))


def _connector(request: Request, session: Session, instance: IntegrationInstance
               ) -> Connector[Any]:
    registry: Registry = request.app.state.registry
    vault: Vault = request.app.state.vault
    try:
        return build_connector(session, registry, vault, instance)
    except ConnectorError as exc:
        raise Unprocessable(exc.message, errors=[
            (f"configuration.{i['field']}", i["message"])
            for i in getattr(exc, "issues", [])] or [("configuration", exc.message)]) from None


@asynccontextmanager
async def _opened(request: Request, session: Session, instance: IntegrationInstance
                  ) -> AsyncIterator[Connector[Any]]:
    """The instance's connector for one operation, closed afterwards; its HTTP attempts go
    into the instance's metrics like a sync's (a failing connection test is evidence too)."""
    connector = _connector(request, session, instance)
    recorder = samples.SampleRecorder(instance.id, None)
    recorder.attach(connector.context.metrics)
    try:
        yield connector
    finally:
        await connector.aclose()
        rows = recorder.take()
        if rows:
            with request.app.state.session_factory() as own:
                samples.write(own, rows)
                own.commit()


@router.post("/{instance_id}/test", response_model=ConnectionTestRead, name="test_instance")
async def check_instance_connection(
    instance_id: uuid.UUID, request: Request, session: SessionDep, who: Operator
) -> ConnectionTestRead:
    """Check the connection: reachable, authenticated, permissions, API version, latency —
    each failed check with its cause and a hint."""
    instance = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    async with _opened(request, session, instance) as connector:
        result = await connector.check()
    body = ConnectionTestRead(
        ok=result.ok, server_api_version=result.server_api_version,
        latency_ms=result.latency_ms,
        items=[CheckItemRead(name=str(i.name), status=str(i.status), cause=i.cause,
                             hint=i.hint) for i in result.items])
    if result.ok:
        instance.last_connected = utcnow()
    failed = [i for i in body.items if i.status == "failed"]
    activity.record(
        session, "instance.test",
        "connection test passed" if result.ok else
        f"connection test failed: {failed[0].name}: {failed[0].cause}" if failed else
        "connection test failed", principal=who, instance_id=instance.id,
        log_type=LogType.SUCCESS if result.ok else LogType.WARNING,
        details={"items": [i.model_dump() for i in body.items]})
    session.commit()
    return body


@router.get("/{instance_id}/streams", response_model=list[StreamRead])
async def list_instance_streams(
    instance_id: uuid.UUID, request: Request, session: SessionDep, _: Reader
) -> list[StreamRead]:
    """The streams this instance offers, with their record schemas (the schema explorer)."""
    instance = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    async with _opened(request, session, instance) as connector:
        try:
            streams = await connector.discover()
        except ConnectorError as exc:
            raise Conflict(exc.message,
                           title="The connector could not list its streams") from None
    return [StreamRead(name=s.name, json_schema=s.json_schema, primary_key=list(s.primary_key),
                       cursor_field=s.cursor_field, sync_modes=[m.value for m in s.sync_modes])
            for s in streams]


@router.post("/{instance_id}/preview", response_model=PreviewRead)
async def preview_instance(
    instance_id: uuid.UUID, request: Request, session: SessionDep, _: Operator,
    body: PreviewRequest | None = None,
) -> PreviewRead:
    """Read a few records (nothing is stored) and show them through the stream's mapping."""
    body = body or PreviewRequest()
    instance = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    records: list[dict[str, Any]] = []
    async with _opened(request, session, instance) as connector:
        try:
            streams = [s.name for s in await connector.discover()]
            stream = body.stream or (streams[0] if streams else "")
            if stream not in streams:
                raise Unprocessable(errors=[("stream", f"unknown stream; one of: "
                                             f"{', '.join(streams)}")])
            async for message in connector.read(stream, None):
                if isinstance(message, RecordMessage):
                    records.append(message.data)
                    if len(records) >= body.limit:
                        break
        except ConnectorError as exc:
            raise Conflict(exc.message, title="The connector could not read",
                           errors=[("stream", exc.hint or exc.message)]) from None
    mapping = resolve(session, instance.id, stream, type(connector))
    mapped: list[dict[str, Any] | None] = []
    errors: list[list[dict[str, Any]]] = []
    for record in records:
        result = mapping.compiled.apply(record) if mapping else None
        mapped.append(result.output if result else None)
        errors.append([e.model_dump() for e in result.errors] if result else [])
    return PreviewRead(stream=stream, records=records, mapped=mapped, mapping_errors=errors,
                       entity_type=mapping.entity_type if mapping else None)


def _request_hash(action: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps([action, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@router.post("/{instance_id}/actions/{action}", response_model=ActionRead)
async def run_instance_action(
    instance_id: uuid.UUID, action: str, body: ActionRequest, request: Request,
    session: SessionDep, who: Operator,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> ActionRead:
    """Run a connector write action. With `Idempotency-Key`, repeating the same request
    returns the first result instead of acting twice; the same key with another input is 422."""
    instance = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    digest = _request_hash(action, body.input)
    if idempotency_key:
        earlier = session.scalar(select(ActionInvocation).where(
            ActionInvocation.instance_id == instance.id,
            ActionInvocation.idempotency_key == idempotency_key))
        if earlier is not None:
            if earlier.request_hash != digest:
                raise Unprocessable("this Idempotency-Key was used with another request",
                                    errors=[("Idempotency-Key", "reused with other input")])
            if earlier.status == "running":
                raise Conflict("the first request with this Idempotency-Key is still running")
            if earlier.status == "succeeded":
                return ActionRead(action=action, status=earlier.status, result=earlier.result,
                                  replayed=True)
            session.delete(earlier)  # a failed attempt may be retried with the same key
            session.flush()
    invocation = ActionInvocation(id=uuid.uuid4(), instance_id=instance.id, action=action,
                                  idempotency_key=idempotency_key, request_hash=digest,
                                  status="running", principal_id=who.id)
    session.add(invocation)
    try:
        session.commit()  # claims the key before acting
    except IntegrityError:
        session.rollback()
        raise Conflict("another request with this Idempotency-Key is running") from None
    async with _opened(request, session, instance) as connector:
        try:
            result = await connector.write(action, body.input)
        except ConnectorError as exc:
            invocation.status, invocation.error = "failed", exc.to_dict()
            invocation.finished_at = utcnow()
            activity.record(session, "action.failed",
                            f"action {action!r} failed: {exc.message}", principal=who,
                            instance_id=instance.id, log_type=LogType.ERROR,
                            details={"action": action, "error": exc.to_dict()})
            session.commit()
            issues = getattr(exc, "errors", None) or []
            if issues:
                raise Unprocessable(exc.message, errors=[
                    (f"input.{i.get('field', '')}".rstrip("."), i.get("message", "invalid"))
                    for i in issues]) from None
            raise Conflict(exc.message, title=f"The action {action!r} failed",
                           errors=[("action", exc.hint or exc.message)]) from None
    invocation.status, invocation.result = "succeeded", result.output
    invocation.finished_at = utcnow()
    activity.record(session, "action.run", f"action {action!r} succeeded", principal=who,
                    instance_id=instance.id, log_type=LogType.SUCCESS,
                    details={"action": action, "idempotency_key": idempotency_key})
    session.commit()
    return ActionRead(action=action, status="succeeded", result=result.output, replayed=False)
