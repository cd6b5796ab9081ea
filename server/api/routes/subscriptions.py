"""Event subscriptions: what to do when an event of a type arrives."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
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
from server.events import action_secrets
from server.events.configs import subscription_problems
from server.services import activity
from server.vault import Vault

router = APIRouter(prefix="/event-subscriptions", tags=["events"],
                   responses=problem_responses(401, 403, 404, 422))
SORTS = {"created_at": EventSubscription.created_at, "event_type": EventSubscription.event_type}


def _read(obj: EventSubscription) -> SubscriptionRead:
    """Secrets never leave: the public fields, and a masked hint per secret."""
    read = SubscriptionRead.model_validate(obj)
    return read.model_copy(update={"action_config": action_secrets.public(obj.action_config),
                                   "secret_hints": action_secrets.hints(obj.action_config)})


def _vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


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
    body: SubscriptionCreate, request: Request, session: SessionDep, who: Operator
) -> SubscriptionRead:
    crud.require_ref(session, IntegrationInstance, body.instance_id, "instance_id", "instance")
    new_id = uuid.uuid4()
    vault = _vault(request)
    config = action_secrets.resolve(vault, new_id, body.action_type, body.action_config)
    _check(body.event_type, body.filter_criteria, body.action_type, config.plain)
    obj = EventSubscription(id=new_id, created_by=who.id,
                            **{**body.model_dump(),
                               "action_config": config.sealed(vault, new_id)})
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
    subscription_id: uuid.UUID, body: SubscriptionUpdate, request: Request,
    session: SessionDep, who: Operator
) -> SubscriptionRead:
    obj = crud.get_or_404(session, EventSubscription, subscription_id, "subscription")
    vault = _vault(request)
    stored = obj.action_config or {}
    before = action_secrets.resolve(vault, obj.id, obj.action_type,
                                    action_secrets.public(stored), stored)
    # The action settings are merged apart, so that a secret left out is kept.
    merged_apart = {"action_config"} if body.action_config is not None else set()
    others = body.model_dump(exclude_unset=True, exclude=merged_apart)
    changed = crud.apply_changes(obj, SubscriptionUpdate.model_validate(others))
    incoming = action_secrets.public(stored) if body.action_config is None \
        else body.action_config
    config = action_secrets.resolve(vault, obj.id, obj.action_type, incoming, stored)
    _check(obj.event_type, obj.filter_criteria, obj.action_type, config.plain)
    if config != before or action_secrets.has_plain(stored):
        obj.action_config = config.sealed(vault, obj.id)
        changed["action_config"] = True
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
