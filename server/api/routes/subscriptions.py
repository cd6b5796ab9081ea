"""Event subscriptions: what to do when an event of a type arrives."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from server.api import crud
from server.api.deps import Operator, Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort, sort_query
from server.api.problems import Unprocessable, problem_responses
from server.api.schemas.subscriptions import (
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUpdate,
)
from server.api.types import Limit, ShortText
from server.db.models import ActionType, EventSubscription, IntegrationInstance
from server.events.configs import subscription_problems
from server.services import activity

router = APIRouter(prefix="/event-subscriptions", tags=["events"],
                   responses=problem_responses(401, 403, 404, 422))
SORTS = {"created_at": EventSubscription.created_at, "event_type": EventSubscription.event_type}


def _read(obj: EventSubscription) -> SubscriptionRead:
    return SubscriptionRead.model_validate(obj)


def _check(event_type: str, criteria: object, action_type: ActionType, config: object) -> None:
    """Filter criteria and action_config are checked here, so a subscription never fails at
    delivery time for a typo (issue 6)."""
    problems = subscription_problems(event_type, criteria, action_type, config)
    if problems:
        raise Unprocessable("the subscription is invalid", errors=problems)


@router.get("", response_model=Page[SubscriptionRead])
def list_event_subscriptions(
    session: SessionDep, _: Reader, instance_id: uuid.UUID | None = None,
    event_type: Annotated[ShortText | None, Query()] = None,
    action_type: ActionType | None = None, is_active: bool | None = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None, limit: Limit = 50,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[SubscriptionRead]:
    stmt = select(EventSubscription)
    if instance_id:
        stmt = stmt.where(EventSubscription.instance_id == instance_id)
    if event_type:
        stmt = stmt.where(EventSubscription.event_type == event_type)
    if action_type:
        stmt = stmt.where(EventSubscription.action_type == action_type)
    if is_active is not None:
        stmt = stmt.where(EventSubscription.is_active.is_(is_active))
    return paginate(session, stmt, parse_sort(sort, SORTS, EventSubscription.id, "created_at"),
                    limit, cursor, _read)


@router.get("/{subscription_id}", response_model=SubscriptionRead)
def get_event_subscription(
    subscription_id: uuid.UUID, session: SessionDep, _: Reader
) -> SubscriptionRead:
    return _read(crud.get_or_404(session, EventSubscription, subscription_id, "subscription"))


@router.post("", response_model=SubscriptionRead, status_code=201)
def create_event_subscription(
    body: SubscriptionCreate, session: SessionDep, who: Operator
) -> SubscriptionRead:
    crud.require_ref(session, IntegrationInstance, body.instance_id, "instance_id", "instance")
    _check(body.event_type, body.filter_criteria, body.action_type, body.action_config)
    obj = EventSubscription(id=uuid.uuid4(), created_by=who.id, **body.model_dump())
    session.add(obj)
    session.flush()
    activity.record(session, "subscription.create",
                    f"subscription to {obj.event_type!r} created ({obj.action_type.value})",
                    principal=who, instance_id=obj.instance_id,
                    details={"subscription_id": str(obj.id)})
    session.commit()
    return _read(obj)


@router.put("/{subscription_id}", response_model=SubscriptionRead)
def update_event_subscription(
    subscription_id: uuid.UUID, body: SubscriptionUpdate, session: SessionDep, who: Operator
) -> SubscriptionRead:
    obj = crud.get_or_404(session, EventSubscription, subscription_id, "subscription")
    changed = crud.apply_changes(obj, body)
    _check(obj.event_type, obj.filter_criteria, obj.action_type, obj.action_config)
    if changed:
        activity.record(session, "subscription.update", "subscription updated", principal=who,
                        instance_id=obj.instance_id,
                        details={"subscription_id": str(obj.id), "fields": sorted(changed)})
    session.commit()
    return _read(obj)


@router.delete("/{subscription_id}", status_code=204)
def delete_event_subscription(
    subscription_id: uuid.UUID, session: SessionDep, who: Operator
) -> Response:
    obj = crud.get_or_404(session, EventSubscription, subscription_id, "subscription")
    activity.record(session, "subscription.delete", "subscription deleted", principal=who,
                    instance_id=obj.instance_id, details={"subscription_id": str(obj.id)})
    session.delete(obj)
    session.commit()
    return Response(status_code=204)
