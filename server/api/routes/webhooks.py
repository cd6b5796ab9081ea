"""Inbound webhooks: the public delivery URL and each instance's webhook settings."""

from __future__ import annotations

import secrets as _secrets
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from server.api import crud
from server.api.deps import CurrentPrincipal, Operator, SessionDep
from server.api.pagination import Page, paginate, parse_sort
from server.api.problems import Unprocessable, problem_responses
from server.api.schemas.webhooks import DeliveryRead, WebhookConfigure, WebhookRead
from server.api.types import Limit, ShortText
from server.db.models import (
    IntegrationInstance,
    Principal,
    Role,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookScheme,
)
from server.services import activity
from server.vault import Vault
from server.webhooks import standard
from server.webhooks.endpoints import (
    SHARED_SECRET_HEADER,
    new_key,
    open_secrets,
    seal_secrets,
)
from server.webhooks.intake import WebhookIntake

router = APIRouter(tags=["webhooks"])
_PUBLIC = {
    202: {"description": "Stored; processed asynchronously"},
    401: {"description": "Unknown key or failed verification (the same answer for both)"},
    409: {"description": "This delivery id was already received (replay)"},
    413: {"description": "Body over the size limit"},
    415: {"description": "Not JSON"},
}


class _Deliver:
    """The delivery URL as a bare ASGI app: the agent's hottest path skips FastAPI's request
    handling (dependency solving, parameter validation, response wrapping). A class, so that
    Starlette's ``Route`` calls it as ASGI instead of wrapping it as ``func(request)``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        intake: WebhookIntake = scope["app"].state.webhook_intake
        await intake.asgi(scope, receive, send)


# Registered before the documented operation below, so it is the one that serves POSTs.
router.routes.append(Route("/webhook/{key}", _Deliver(), methods=["POST"],
                           include_in_schema=False, name="deliver_webhook"))


@router.post("/webhook/{key}", status_code=202, responses=_PUBLIC,  # type: ignore[arg-type]
             openapi_extra={"security": []})
async def receive_webhook(key: str, request: Request) -> JSONResponse:
    """Inbound delivery (no bearer token: the key and the signature authenticate it).

    Documents the operation; the bare route above answers it with the same intake.
    """
    intake: WebhookIntake = request.app.state.webhook_intake
    return await intake.receive(key, request)


def _vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


def _read(request: Request, instance: IntegrationInstance, endpoint: WebhookEndpoint | None,
          who: Principal, new_secret: str | None = None) -> WebhookRead:
    settings = request.app.state.settings
    url = None
    if instance.webhook_key and who.role in (Role.ADMIN, Role.OPERATOR):
        url = f"{settings.api_base_url}/api/integration/webhook/{instance.webhook_key}"
    stored = open_secrets(_vault(request), endpoint) if endpoint else []
    return WebhookRead(
        instance_id=instance.id,
        scheme=endpoint.scheme if endpoint else WebhookScheme.CONNECTOR,
        url=url,
        header_name=(endpoint.header_name or SHARED_SECRET_HEADER)
        if endpoint and endpoint.scheme == WebhookScheme.SHARED_SECRET else None,
        tolerance_seconds=endpoint.tolerance_seconds if endpoint
        else settings.webhook_tolerance_seconds,
        secret_count=len(stored), secret_hints=[s[-4:] for s in stored],
        new_secret=new_secret)


@router.get("/instances/{instance_id}/webhook", response_model=WebhookRead,
            responses=problem_responses(401, 403, 404))
def get_instance_webhook(instance_id: uuid.UUID, request: Request, session: SessionDep,
                         who: CurrentPrincipal) -> WebhookRead:
    instance = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    return _read(request, instance, session.get(WebhookEndpoint, instance_id), who)


def _check_secrets(scheme: WebhookScheme, values: list[str]) -> list[tuple[str, str]]:
    problems = []
    for i, value in enumerate(values):
        if scheme == WebhookScheme.STANDARD:
            if not value.startswith(standard.PREFIX):
                problems.append((f"secrets.{i}", "must start with whsec_"))
                continue
            try:
                standard.secret_key(value)
            except ValueError as exc:
                problems.append((f"secrets.{i}", str(exc)))
        elif len(value) < 16:
            problems.append((f"secrets.{i}", "must be at least 16 characters"))
    return problems


@router.put("/instances/{instance_id}/webhook", response_model=WebhookRead,
            responses=problem_responses(401, 403, 404, 422))
def configure_instance_webhook(instance_id: uuid.UUID, body: WebhookConfigure,
                               request: Request, session: SessionDep, who: Operator
                               ) -> WebhookRead:
    """Choose the verification scheme and secrets; gives the instance a key if it has none."""
    instance = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    endpoint = session.get(WebhookEndpoint, instance_id)
    vault = _vault(request)
    values = [s.get_secret_value() for s in body.secrets or []]
    generated = None
    if body.generate_secret:
        if body.scheme == WebhookScheme.CONNECTOR:
            raise Unprocessable(errors=[("generate_secret", "the connector scheme keeps its "
                                         "secret in the instance configuration")])
        generated = (standard.new_secret() if body.scheme == WebhookScheme.STANDARD
                     else _secrets.token_urlsafe(32))
        values = [generated, *values]
    problems = _check_secrets(body.scheme, values)
    if body.scheme == WebhookScheme.CONNECTOR and values:
        problems.append(("secrets", "the connector scheme keeps its secret in the instance "
                                    "configuration"))
    keep = (not values and endpoint is not None and endpoint.scheme == body.scheme)
    if body.scheme != WebhookScheme.CONNECTOR and not values and not keep:
        problems.append(("secrets", f"required for {body.scheme.value} (or generate_secret)"))
    if problems:
        raise Unprocessable("the webhook settings are incomplete", errors=problems)
    if endpoint is None:
        endpoint = WebhookEndpoint(instance_id=instance.id, scheme=body.scheme)
        session.add(endpoint)
    endpoint.scheme = body.scheme
    if not keep:
        endpoint.secrets = seal_secrets(vault, instance.id, values) if values else None
    endpoint.header_name = body.header_name if body.scheme == WebhookScheme.SHARED_SECRET \
        else None
    endpoint.tolerance_seconds = (body.tolerance_seconds
                                  or request.app.state.settings.webhook_tolerance_seconds)
    if not instance.webhook_key:
        instance.webhook_key = new_key()
    activity.record(session, "webhook.configure",
                    f"webhook of {instance.name!r} set to {body.scheme.value}", principal=who,
                    instance_id=instance.id,
                    details={"scheme": body.scheme.value, "secrets": len(values) if values
                             else "kept" if keep else 0})
    session.commit()
    request.app.state.webhook_intake.cache.clear()
    return _read(request, instance, endpoint, who, generated)


@router.post("/instances/{instance_id}/webhook-key", response_model=WebhookRead,
             responses=problem_responses(401, 403, 404))
def rotate_instance_webhook_key(instance_id: uuid.UUID, request: Request,
                                session: SessionDep, who: Operator) -> WebhookRead:
    """A new unguessable URL key; the old URL stops working at once (on other agents within
    a few seconds)."""
    instance = crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    had = instance.webhook_key is not None
    instance.webhook_key = new_key()
    activity.record(session, "webhook.key",
                    f"webhook key of {instance.name!r} {'rotated' if had else 'created'}",
                    principal=who, instance_id=instance.id)
    session.commit()
    request.app.state.webhook_intake.cache.clear()
    return _read(request, instance, session.get(WebhookEndpoint, instance_id), who)


DELIVERY_SORTS = {"received_at": WebhookDelivery.received_at}


@router.get("/instances/{instance_id}/webhook/deliveries", response_model=Page[DeliveryRead],
            responses=problem_responses(401, 403, 404, 422))
def list_webhook_deliveries(
    instance_id: uuid.UUID, session: SessionDep, _: CurrentPrincipal, limit: Limit = 50,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[DeliveryRead]:
    """Deliveries the instance accepted, newest first (bodies are not listed)."""
    crud.get_or_404(session, IntegrationInstance, instance_id, "instance")
    stmt = select(WebhookDelivery).where(WebhookDelivery.instance_id == instance_id)
    return paginate(session, stmt, parse_sort(None, DELIVERY_SORTS, WebhookDelivery.id,
                                              "-received_at"),
                    limit, cursor, DeliveryRead.model_validate)
