"""Event types, recent events, and what subscriptions did with them (the delivery log)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api import crud
from server.api.deps import Operator, Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort
from server.api.problems import Unprocessable, problem_responses
from server.api.schemas.events import (
    ActionRead,
    AttemptRead,
    EventRead,
    EventTypeRead,
    SigningSecretRead,
)
from server.api.types import Limit, ShortText
from server.db.models import (
    ActionType,
    EventAction,
    EventActionAttempt,
    EventSubscription,
    OutboxEvent,
    SubscriptionSecret,
)
from server.events import signing
from server.events.types import catalogue
from server.services import activity
from server.services.registry import Registry
from server.vault import Vault

router = APIRouter(tags=["events"], responses=problem_responses(401, 403, 404, 422))


@router.get("/events/types", response_model=list[EventTypeRead])
def list_event_types(request: Request, session: SessionDep, _: Reader) -> list[EventTypeRead]:
    """Every event type a subscription or event-based schedule can name, with the JSON Schema
    of its ``data``. Patterns like ``sync.*`` match several."""
    registry: Registry = request.app.state.registry
    return [EventTypeRead(type=t["type"], source=t["source"], description=t["description"],
                          data_schema=t["schema"])
            for t in catalogue(dict(registry.result(session).connectors))]


def _event(row: OutboxEvent) -> EventRead:
    return EventRead(id=row.id, type=row.event_type, instance_id=row.instance_id,
                     occurred_at=row.occurred_at, data=row.payload, status=row.status.value,
                     created_at=row.created_at)


EVENT_SORTS = {"created_at": OutboxEvent.created_at}


@router.get("/events", response_model=Page[EventRead])
def list_events(
    session: SessionDep, _: Reader, instance_id: uuid.UUID | None = None,
    type: Annotated[ShortText | None, Query(description="Exact event type")] = None,
    limit: Limit = 50, cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[EventRead]:
    """Recent events, newest first."""
    stmt = select(OutboxEvent)
    if instance_id:
        stmt = stmt.where(OutboxEvent.instance_id == instance_id)
    if type:
        stmt = stmt.where(OutboxEvent.event_type == type)
    return paginate(session, stmt, parse_sort(None, EVENT_SORTS, OutboxEvent.id, "-created_at"),
                    limit, cursor, _event)


ACTION_SORTS = {"created_at": EventAction.created_at}


@router.get("/event-subscriptions/{subscription_id}/deliveries",
            response_model=Page[ActionRead])
def list_subscription_deliveries(
    subscription_id: uuid.UUID, session: SessionDep, _: Reader, limit: Limit = 50,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[ActionRead]:
    """The delivery log: each event the subscription acted on, newest first, with every
    attempt (time, agent, HTTP status, error)."""
    crud.get_or_404(session, EventSubscription, subscription_id, "subscription")
    stmt = select(EventAction).where(EventAction.subscription_id == subscription_id)
    page = paginate(session, stmt, parse_sort(None, ACTION_SORTS, EventAction.id,
                                              "-created_at"), limit, cursor, lambda r: r)
    return Page[ActionRead](items=[_action(session, a) for a in page.items],
                            next_cursor=page.next_cursor)


def _action(session: Session, action: EventAction) -> ActionRead:
    event = session.get(OutboxEvent, action.event_id)
    attempts = session.scalars(select(EventActionAttempt).where(
        EventActionAttempt.action_id == action.id).order_by(EventActionAttempt.attempt))
    return ActionRead(
        id=action.id, event_id=action.event_id, event_type=event.event_type if event else "",
        action_type=action.action_type, status=action.status, attempts=action.attempts,
        next_attempt_at=action.next_attempt_at if action.status.value == "pending" else None,
        last_error=action.last_error, result=action.result or {},
        created_at=action.created_at, finished_at=action.finished_at,
        attempt_log=[AttemptRead.model_validate(a) for a in attempts])


def _webhook_subscription(session: Session, subscription_id: uuid.UUID) -> EventSubscription:
    sub = crud.get_or_404(session, EventSubscription, subscription_id, "subscription")
    if sub.action_type != ActionType.WEBHOOK:
        raise Unprocessable(errors=[("action_type", "only webhook subscriptions sign "
                                     "deliveries")])
    return sub


def _secrets_read(session: Session, vault: Vault, subscription_id: uuid.UUID
                  ) -> SigningSecretRead:
    values = signing.signing_secrets(session, vault, subscription_id)
    row = session.get(SubscriptionSecret, subscription_id)
    assert row is not None
    return SigningSecretRead(secrets=values, rotated_at=row.rotated_at,
                             previous_valid_until=row.previous_until if len(values) > 1
                             else None)


@router.get("/event-subscriptions/{subscription_id}/signing-secret",
            response_model=SigningSecretRead)
def get_subscription_signing_secret(
    subscription_id: uuid.UUID, request: Request, session: SessionDep, who: Operator
) -> SigningSecretRead:
    """The Standard Webhooks secret(s) the receiver verifies with (created on first use)."""
    _webhook_subscription(session, subscription_id)
    read = _secrets_read(session, request.app.state.vault, subscription_id)
    activity.record(session, "subscription.secret", "signing secret revealed", principal=who,
                    details={"subscription_id": str(subscription_id)})
    session.commit()
    return read


@router.post("/event-subscriptions/{subscription_id}/signing-secret",
             response_model=SigningSecretRead)
def rotate_subscription_signing_secret(
    subscription_id: uuid.UUID, request: Request, session: SessionDep, who: Operator
) -> SigningSecretRead:
    """Rotate: a new secret signs from now on; the previous one signs too for 24 hours, so
    the receiver can switch without losing deliveries."""
    sub = _webhook_subscription(session, subscription_id)
    signing.rotate(session, request.app.state.vault, subscription_id)
    session.flush()
    read = _secrets_read(session, request.app.state.vault, subscription_id)
    activity.record(session, "subscription.secret", "signing secret rotated", principal=who,
                    instance_id=sub.instance_id,
                    details={"subscription_id": str(subscription_id)})
    session.commit()
    return read
