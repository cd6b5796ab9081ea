"""The connector library: built-in, plugin and declarative connectors."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from connectors.declarative.engine import build_connector_class
from connectors.declarative.spec import DeclarativeSpec, SpecError, load_spec
from server.api import crud
from server.api.deps import Operator, Reader, SessionDep
from server.api.pagination import Page, paginate, parse_sort, sort_query
from server.api.problems import Conflict, Unprocessable, problem_responses
from server.api.schemas.connectors import (
    ConnectorCapabilitiesRead,
    ConnectorRead,
    ConnectorSchemaRead,
    DeclarativeConnectorCreate,
)
from server.api.types import Limit, ShortText
from server.db.models import ConnectorOrigin, IntegrationConnector, IntegrationInstance, SystemType
from server.services import activity
from server.services.registry import Registry, apply_description

router = APIRouter(prefix="/connectors", tags=["connectors"],
                   responses=problem_responses(401, 403, 404, 422))
SORTS = {"name": IntegrationConnector.name, "key": IntegrationConnector.key,
         "system_type": IntegrationConnector.system_type}


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _reader(request: Request, session: SessionDep) -> Any:
    available = set(_registry(request).result(session).connectors)

    def read(row: IntegrationConnector) -> ConnectorRead:
        return ConnectorRead.model_validate(
            {**{c: getattr(row, c) for c in ConnectorRead.model_fields if c != "available"},
             "available": row.key in available})

    return read


def _spec(data: dict[str, Any]) -> DeclarativeSpec:
    try:
        spec = load_spec(data, DeclarativeSpec)
        build_connector_class(spec)
    except SpecError as exc:
        raise Unprocessable("the declarative spec is invalid", errors=[
            (f"spec.{i.get('field', '')}".rstrip("."), i.get("message", "invalid"))
            for i in (exc.issues or [{"field": "", "message": exc.message}])]) from None
    return spec


@router.get("", response_model=Page[ConnectorRead])
def list_connectors(
    request: Request, session: SessionDep, _: Reader, system_type: SystemType | None = None,
    q: Annotated[ShortText | None, Query(description="Text in the name, key or vendor")] = None,
    built_in: bool | None = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None, limit: Limit = 100,
    cursor: Annotated[ShortText | None, Query()] = None,
) -> Page[ConnectorRead]:
    stmt = select(IntegrationConnector)
    if system_type:
        stmt = stmt.where(IntegrationConnector.system_type == system_type)
    if built_in is not None:
        stmt = stmt.where(IntegrationConnector.is_built_in.is_(built_in))
    if q:
        stmt = stmt.where(IntegrationConnector.name.icontains(q, autoescape=True)
                          | IntegrationConnector.key.icontains(q, autoescape=True)
                          | IntegrationConnector.vendor.icontains(q, autoescape=True))
    return paginate(session, stmt, parse_sort(sort, SORTS, IntegrationConnector.id, "name"),
                    limit, cursor, _reader(request, session))


@router.get("/{connector_id}", response_model=ConnectorRead)
def get_connector(
    connector_id: uuid.UUID, request: Request, session: SessionDep, _: Reader
) -> ConnectorRead:
    row = crud.get_or_404(session, IntegrationConnector, connector_id, "connector")
    return _reader(request, session)(row)  # type: ignore[no-any-return]


@router.get("/{connector_id}/schema", response_model=ConnectorSchemaRead)
def get_connector_schema(
    connector_id: uuid.UUID, session: SessionDep, _: Reader
) -> ConnectorSchemaRead:
    row = crud.get_or_404(session, IntegrationConnector, connector_id, "connector")
    streams = list((row.schema_definition or {}).get("streams", []))
    return ConnectorSchemaRead(id=row.id, key=row.key, config_schema=row.config_schema or {},
                               auth_methods=row.auth_methods or [], streams=streams)


@router.get("/{connector_id}/capabilities", response_model=ConnectorCapabilitiesRead)
def get_connector_capabilities(
    connector_id: uuid.UUID, session: SessionDep, _: Reader
) -> ConnectorCapabilitiesRead:
    row = crud.get_or_404(session, IntegrationConnector, connector_id, "connector")
    return ConnectorCapabilitiesRead(id=row.id, key=row.key, capabilities=row.capabilities or {})


@router.post("", response_model=ConnectorRead, status_code=201,
             responses=problem_responses(409))
def create_connector(
    body: DeclarativeConnectorCreate, request: Request, session: SessionDep, who: Operator
) -> ConnectorRead:
    """Register a declarative (no-code) connector."""
    spec = _spec(body.spec)
    key = spec.connector.key
    crud.ensure_unique(session, IntegrationConnector.key, key, field="spec.connector.key")
    row = IntegrationConnector(id=uuid.uuid4(), key=key, origin=ConnectorOrigin.DECLARATIVE,
                               declarative_spec=body.spec, name=spec.connector.name,
                               version=str(spec.connector.version),
                               system_type=SystemType(str(getattr(spec.connector.system_type,
                                                                  "value", spec.connector
                                                                  .system_type))))
    session.add(row)
    session.flush()
    registry = _registry(request)
    entry = registry.discover(session).connectors.get(key)
    if entry is None:
        raise Conflict(f"connector key {key!r} is taken by a built-in or plugin connector",
                       errors=[("spec.connector.key", "taken")])
    apply_description(row, entry)
    row.is_built_in = False
    activity.record(session, "connector.create", f"declarative connector {key!r} registered",
                    principal=who, details={"connector_id": str(row.id)})
    session.commit()
    return _reader(request, session)(row)  # type: ignore[no-any-return]


@router.put("/{connector_id}", response_model=ConnectorRead, responses=problem_responses(409))
def update_connector(
    connector_id: uuid.UUID, body: DeclarativeConnectorCreate, request: Request,
    session: SessionDep, who: Operator,
) -> ConnectorRead:
    """Replace a declarative connector's spec (its version must grow; instances keep it)."""
    row = crud.get_or_404(session, IntegrationConnector, connector_id, "connector")
    if row.origin != ConnectorOrigin.DECLARATIVE:
        raise Conflict(f"{row.key!r} is a {row.origin.value} connector; only declarative "
                       "connectors are changed through the API")
    spec = _spec(body.spec)
    if spec.connector.key != row.key:
        raise Unprocessable(errors=[("spec.connector.key", f"must stay {row.key!r}")])
    previous = row.version
    row.declarative_spec = body.spec
    session.flush()
    entry = _registry(request).discover(session).connectors.get(row.key)
    if entry is None:  # pragma: no cover - validated above
        raise Unprocessable("the spec could not be loaded")
    apply_description(row, entry)
    row.is_built_in = False
    activity.record(session, "connector.update",
                    f"declarative connector {row.key!r} updated {previous} -> {row.version}",
                    principal=who, details={"connector_id": str(row.id)})
    session.commit()
    return _reader(request, session)(row)  # type: ignore[no-any-return]


@router.delete("/{connector_id}", status_code=204, responses=problem_responses(409))
def delete_connector(
    connector_id: uuid.UUID, request: Request, session: SessionDep, who: Operator
) -> Response:
    row = crud.get_or_404(session, IntegrationConnector, connector_id, "connector")
    if row.origin != ConnectorOrigin.DECLARATIVE:
        raise Conflict(f"{row.key!r} is a {row.origin.value} connector and cannot be removed "
                       "through the API")
    users = list(session.execute(select(IntegrationInstance.id, IntegrationInstance.name)
                                 .where(IntegrationInstance.connector_id == row.id)))
    if users:
        raise Conflict(f"connector {row.key!r} is used by {len(users)} instance(s)",
                       errors=[("used_by", name) for _, name in users])
    activity.record(session, "connector.delete", f"declarative connector {row.key!r} removed",
                    principal=who, details={"connector_id": str(row.id)})
    session.delete(row)
    session.flush()
    _registry(request).discover(session)
    session.commit()
    return Response(status_code=204)
