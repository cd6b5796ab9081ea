"""Keyset pagination with opaque cursors and a stable order.

A list is ordered by one sortable column and then by id, so ties never reorder between pages.
The cursor carries the sort and the last row's (value, id); a cursor made for another sort is
refused rather than silently giving a wrong page.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.api.problems import Unprocessable

T = TypeVar("T")
MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Sort:
    column: InstrumentedAttribute[Any]
    id_column: InstrumentedAttribute[Any]
    key: str
    descending: bool


def sort_query(allowed: Mapping[str, Any]) -> Any:
    """The ``sort`` query parameter, documented with the fields it accepts."""
    names = sorted(allowed)
    return Query(
        pattern="^-?(" + "|".join(names) + ")$",
        description=f"One of {', '.join(names)}; prefix - to reverse",
    )


def parse_sort(
    value: str | None, allowed: Mapping[str, InstrumentedAttribute[Any]],
    id_column: InstrumentedAttribute[Any], default: str,
) -> Sort:
    raw = value or default
    key = raw.removeprefix("-")
    if key not in allowed:
        raise Unprocessable(errors=[("sort", f"unknown sort field {key!r}; one of: "
                                     + ", ".join(sorted(allowed)) + " (prefix - to reverse)")])
    return Sort(allowed[key], id_column, raw, raw.startswith("-"))


def _encode(sort: Sort, value: Any, row_id: uuid.UUID) -> str:
    if isinstance(value, dt.datetime):
        value = {"dt": value.isoformat()}
    elif hasattr(value, "value"):  # enums
        value = value.value
    raw = json.dumps({"s": sort.key, "v": value, "id": str(row_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(sort: Sort, cursor: str) -> tuple[Any, uuid.UUID]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort.key:
            raise ValueError
        value = data["v"]
        if isinstance(value, dict):
            value = dt.datetime.fromisoformat(value["dt"])
        return value, uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise Unprocessable(errors=[(
            "cursor", "not a cursor from this list with this sort; start again without it",
        )]) from None


def paginate(
    session: Session, stmt: Select[Any], sort: Sort, limit: int, cursor: str | None,
    convert: Callable[[Any], T],
) -> Page[T]:
    """Run ``stmt`` (already filtered) for one page and convert each row."""
    col, id_col = sort.column, sort.id_column
    if cursor:
        value, last_id = _decode(sort, cursor)
        if sort.descending:
            stmt = stmt.where(or_(col < value, and_(col == value, id_col < last_id)))
        else:
            stmt = stmt.where(or_(col > value, and_(col == value, id_col > last_id)))
    order = (col.desc(), id_col.desc()) if sort.descending else (col.asc(), id_col.asc())
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = _encode(sort, getattr(last, col.key), getattr(last, id_col.key))
    return Page[T](items=[convert(r) for r in rows], next_cursor=next_cursor)
