"""RFC 9457 problem details for every error the API returns.

Handlers raise :class:`ApiError` (or a subclass); request validation, unknown routes and
database integrity errors are translated here too, so a client never sees a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_LOCATIONS = {"body", "query", "path", "header", "cookie"}


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `configuration.url`")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ApiError(Exception):
    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError | tuple[str, str]] = (),
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = [e if isinstance(e, FieldError) else FieldError(field=e[0], message=e[1])
                       for e in errors]
        self.headers = headers
        if title:
            self.title = title

    def problem(self) -> Problem:
        return Problem(title=self.title, status=self.status, detail=self.detail,
                       errors=self.errors)


class Unauthorized(ApiError):
    status = 401
    title = "Unauthorized"


class Forbidden(ApiError):
    status = 403
    title = "Forbidden"


class NotFound(ApiError):
    status = 404
    title = "Not found"


class Conflict(ApiError):
    status = 409
    title = "Conflict"


class Unprocessable(ApiError):
    status = 422
    title = "Invalid request"


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(mode="json"), status_code=problem.status,
        media_type=PROBLEM_JSON, headers=headers,
    )


def _field_path(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(errors: Sequence[Any]) -> list[FieldError]:
    out = []
    for err in errors:
        msg = str(err.get("msg", "invalid value"))
        if msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        out.append(FieldError(field=_field_path(err.get("loc", ())), message=msg))
    return out


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into problem+json."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return problem_response(exc.problem(), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:3])
        return problem_response(
            Problem(title="Invalid request", status=422, detail=detail, errors=errors)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        return problem_response(
            Problem(title=title, status=exc.status_code, detail=str(exc.detail)),
            getattr(exc, "headers", None),
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # Handlers check names and references first; this is the race-condition backstop.
        log.info("integrity error: %s", type(exc.orig).__name__)
        return problem_response(Problem(
            title="Conflict", status=409,
            detail="the change conflicts with existing data (a name taken or a reference in use)",
        ))

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # Input types refuse NUL characters at the edge; this is the backstop for a text
        # field that was missed (PostgreSQL cannot store NUL in text or JSON).
        if "NUL" not in str(exc.orig):
            return await _unexpected(request, exc)
        log.warning("a NUL character reached the database: %s %s", request.method,
                    request.url.path)
        return problem_response(Problem(
            title="Invalid request", status=422,
            detail="a text value contains a NUL character (\\u0000), which cannot be stored",
        ))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while handling a request")
        return problem_response(Problem(
            title="Internal error", status=500,
            detail="the agent failed to handle this request; the agent log has the details",
        ))


#: OpenAPI documentation of the error responses, for ``responses=`` on routes.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {401: "Missing or invalid token", 403: "The token's role does not allow this",
            404: "No such object", 409: "Conflicts with existing data",
            422: "Invalid request; `errors` names each field"}
    return {s: {"model": Problem, "description": text.get(s, "Error"),
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for s in statuses}
