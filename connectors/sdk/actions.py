"""Write actions: what a bi-directional connector can do on the remote system.

Declare one with :func:`action` on an async method whose only parameter is a pydantic model;
the model's JSON Schema is the action's input schema, and ``Connector.write`` validates input
against it before the method runs::

    class CreateTicket(BaseModel):
        title: str
        priority: Literal["low", "high"] = "low"

    class Acme(Connector[AcmeConfig]):
        @action(description="Open a ticket in Acme")
        async def create_ticket(self, payload: CreateTicket) -> dict[str, Any]:
            response = await self.http.post("/tickets", json=payload.model_dump())
            return {"id": response.json()["id"]}
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pydantic import BaseModel

__all__ = ["ACTION_MARKER", "ActionResult", "ActionSpec", "action", "collect_actions"]

ACTION_MARKER = "__connector_action__"
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True)
class ActionSpec:
    """A declared action: name, description, input model, and whether it destroys data."""

    name: str
    description: str
    input_model: type[BaseModel]
    method_name: str
    destructive: bool = False

    @property
    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "destructive": self.destructive,
            "input_schema": self.input_schema,
        }


@dataclass(frozen=True)
class ActionResult:
    """What an action returned (JSON-able)."""

    action: str
    output: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Marker:
    name: str | None
    description: str | None
    destructive: bool


def action(
    name: str | None = None, *, description: str | None = None, destructive: bool = False
) -> Callable[[F], F]:
    """Mark an async connector method as a write action (see the module docstring)."""

    def mark(func: F) -> F:
        if not inspect.iscoroutinefunction(cast(Any, func)):
            raise TypeError(f"action {func.__name__!r} must be an async method")
        setattr(func, ACTION_MARKER, _Marker(name, description, destructive))
        return func

    return mark


def collect_actions(cls: type) -> dict[str, ActionSpec]:
    """The actions declared on ``cls`` and its bases, by name."""
    specs: dict[str, ActionSpec] = {}
    for attr in dir(cls):
        func = getattr(cls, attr, None)
        marker = getattr(func, ACTION_MARKER, None)
        if not isinstance(marker, _Marker) or func is None:
            continue
        hints = typing.get_type_hints(func)
        params = [p for p in inspect.signature(func).parameters if p != "self"]
        model = hints.get(params[0]) if len(params) == 1 else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(
                f"action {attr!r} of {cls.__name__} must take exactly one parameter annotated "
                "with a pydantic model"
            )
        name = marker.name or attr
        specs[name] = ActionSpec(
            name=name,
            description=marker.description or (inspect.getdoc(func) or "").split("\n")[0],
            input_model=model,
            method_name=attr,
            destructive=marker.destructive,
        )
    return specs
