"""Small helpers the resource routers share: lookups, uniqueness, partial updates."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.api.problems import Conflict, NotFound, Unprocessable
from server.db.base import Base

M = TypeVar("M", bound=Base)


def get_or_404(session: Session, model: type[M], obj_id: uuid.UUID, what: str) -> M:
    obj = session.get(model, obj_id)
    if obj is None:
        raise NotFound(f"no {what} with id {obj_id}")
    return obj


def require_ref(session: Session, model: type[M], obj_id: uuid.UUID, field: str, what: str) -> M:
    """A referenced object from the request body: missing -> 422 naming the field."""
    obj = session.get(model, obj_id)
    if obj is None:
        raise Unprocessable(errors=[(field, f"no {what} with id {obj_id}")])
    return obj


def ensure_unique(
    session: Session, column: InstrumentedAttribute[Any], value: Any, *,
    exclude_id: uuid.UUID | None = None, field: str = "name", scope: dict[str, Any] | None = None,
) -> None:
    model = column.class_
    stmt = select(func.count()).select_from(model).where(column == value)
    for key, scoped in (scope or {}).items():
        stmt = stmt.where(getattr(model, key) == scoped)
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    if session.scalar(stmt):
        raise Conflict(f"{field} {value!r} is already taken",
                       errors=[(field, "already taken")])


def apply_changes(obj: Base, changes: BaseModel) -> dict[str, Any]:
    """Set the fields the client sent (PUT bodies may be partial); returns what changed.

    ``null`` clears a nullable field and is refused (422 naming the field) for the others.
    """
    sent = changes.model_dump(exclude_unset=True)
    columns = inspect(type(obj)).columns
    nulled = [k for k, v in sent.items() if v is None and k in columns and not columns[k].nullable]
    if nulled:
        raise Unprocessable(errors=[(k, "must not be null; leave it out to keep its value")
                                    for k in nulled])
    changed = {}
    for key, value in sent.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed[key] = value
    return changed


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Query timestamps without a zone are taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
