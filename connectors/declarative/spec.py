"""The declarative connector spec: a REST API described as data (YAML or JSON).

Example (YAML)::

    spec_version: 1
    connector: {key: acme-tickets, name: Acme Tickets, version: 1.0.0, system_type: ITSM}
    config:
      base_url: {type: string, title: Acme URL}
      team: {type: string, default: core}
    auth: bearer                      # the auth layer supplies the credentials
    base_url: "{config.base_url}"
    paginator: header_link            # default for every stream
    streams:
      - name: tickets
        path: /teams/{config.team}/tickets
        params: {state: all}
        records: data                 # JMESPath to the list of records
        primary_key: id
        incremental: {cursor_field: updated_at, param: updated_since}
      - name: users
        path: /users
        paginator: {type: cursor, cursor_path: meta.next, cursor_param: after}

Paginators are a union keyed by ``type`` (``single_page``, ``page_number``, ``offset``,
``cursor``, ``json_link``, ``header_link``); a bare string is that type with its defaults.
Errors name the path of the bad field: ``streams[1].paginator.cursor_path: Field required``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from connectors.sdk.config import format_location
from connectors.sdk.errors import ConfigError
from connectors.sdk.http import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    SinglePagePaginator,
)
from connectors.sdk.metadata import (
    AuthMethod,
    ConnectorKey,
    ConnectorMetadata,
    HttpUrlText,
    SemVer,
    SystemType,
)
from connectors.sdk.schema import schema_errors

__all__ = [
    "PLACEHOLDER",
    "ApiSpec",
    "AuthSpec",
    "ConfigFieldSpec",
    "DeclarativeSpec",
    "IncrementalSpec",
    "PaginatorSpec",
    "SpecError",
    "StreamSpec",
    "load_spec",
]

PLACEHOLDER = re.compile(r"\{config\.([A-Za-z_][A-Za-z0-9_]*)\}")
_STREAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
Scalar = str | int | float | bool


class SpecError(ConfigError):
    """A declarative spec is invalid; ``issues`` lists every bad field by path."""

    default_hint = "Fix the declarative spec at the field paths named in the message."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SinglePageSpec(_Strict):
    type: Literal["single_page"]

    def build(self) -> Paginator:
        return SinglePagePaginator()


class PageNumberSpec(_Strict):
    type: Literal["page_number"]
    param: str = "page"
    start: int = Field(1, ge=0)
    page_size: int | None = Field(None, gt=0)
    page_size_param: str | None = None
    total_pages_path: str | None = None

    def build(self) -> Paginator:
        return PageNumberPaginator(
            self.param,
            start=self.start,
            page_size=self.page_size,
            page_size_param=self.page_size_param,
            total_pages_path=self.total_pages_path,
        )


class OffsetSpec(_Strict):
    type: Literal["offset"]
    limit: int = Field(100, gt=0)
    offset_param: str = "offset"
    limit_param: str = "limit"
    total_path: str | None = None

    def build(self) -> Paginator:
        return OffsetPaginator(
            limit=self.limit,
            offset_param=self.offset_param,
            limit_param=self.limit_param,
            total_path=self.total_path,
        )


class CursorSpec(_Strict):
    type: Literal["cursor"]
    cursor_path: str = Field(description="JMESPath to the next cursor in the response body.")
    cursor_param: str = "cursor"
    in_body: bool = False

    def build(self) -> Paginator:
        return CursorPaginator(self.cursor_path, self.cursor_param, in_body=self.in_body)


class JsonLinkSpec(_Strict):
    type: Literal["json_link"]
    next_path: str = Field("next", description="JMESPath to the next page's URL in the body.")

    def build(self) -> Paginator:
        return NextLinkPaginator(self.next_path)


class HeaderLinkSpec(_Strict):
    type: Literal["header_link"]
    rel: str = "next"

    def build(self) -> Paginator:
        return LinkHeaderPaginator(self.rel)


_ALIASES = {"next_link": "json_link", "link_header": "header_link", "none": "single_page"}

PaginatorSpec = Annotated[
    SinglePageSpec | PageNumberSpec | OffsetSpec | CursorSpec | JsonLinkSpec | HeaderLinkSpec,
    Field(discriminator="type"),
]
_PAGINATOR_TAGS = {"single_page", "page_number", "offset", "cursor", "json_link", "header_link"}
#: What a paginator may be written as (name or alias): the served JSON Schema admits it too,
#: since the agent checks configurations against that schema before activation.
_PaginatorName = Literal["single_page", "page_number", "offset", "cursor", "json_link",
                         "header_link", "next_link", "link_header", "none"]


def _paginator_shorthand(value: Any) -> Any:
    """``"header_link"`` -> ``{"type": "header_link"}``; aliases map to canonical names."""
    if isinstance(value, str):
        value = {"type": value}
    if isinstance(value, Mapping) and isinstance(value.get("type"), str):
        value = {**value, "type": _ALIASES.get(value["type"], value["type"])}
    return value


class IncrementalSpec(_Strict):
    """Incremental reads: the record field that grows, and the query param that filters on it."""

    cursor_field: str = Field(description="Record field (dotted path) whose value grows.")
    param: str | None = Field(
        None, description="Query parameter sent with the saved cursor (omit to filter locally)."
    )
    initial_value: Scalar | None = Field(None, description="Sent on the first read, if set.")


class AuthSpec(_Strict):
    """Which authentication method the API expects; the auth layer supplies credentials."""

    method: AuthMethod = AuthMethod.NONE


class StreamSpec(_Strict):
    name: str
    description: str = ""
    path: str
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Scalar] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    paginator: PaginatorSpec | None = None
    records: str | None = Field(None, description="JMESPath to the records in the body.")
    primary_key: tuple[str, ...] = ()
    incremental: IncrementalSpec | None = None
    is_sorted: bool = Field(
        False, description="Records come in ascending cursor order (allows mid-read checkpoints)."
    )
    checkpoint_interval: int = Field(1000, gt=0, description="Records between checkpoints.")
    json_schema: dict[str, Any] | None = Field(
        None, alias="schema", description="JSON Schema of a record; inferred when omitted."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("paginator", mode="before",
                     json_schema_input_type=_PaginatorName | PaginatorSpec | None)
    @classmethod
    def _paginator(cls, value: Any) -> Any:
        return _paginator_shorthand(value)

    @field_validator("primary_key", mode="before", json_schema_input_type=str | tuple[str, ...])
    @classmethod
    def _one_key(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _STREAM_NAME.match(value):
            raise ValueError("must start with a letter or '_' and use letters, digits, _ . -")
        return value

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if "://" in value:
            raise ValueError("must be a path relative to base_url, not a full URL")
        return value

    @field_validator("json_schema")
    @classmethod
    def _check_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            problems = schema_errors(value)
            if problems:
                raise ValueError(f"is not a valid JSON Schema ({problems[0]})")
        return value


class ApiSpec(_Strict):
    """How to talk to the API: the part the built-in Generic REST connector takes as config."""

    base_url: str = Field(description="API root, e.g. https://api.example.com/v2")
    auth: AuthSpec = Field(default_factory=AuthSpec)
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Scalar] = Field(default_factory=dict)
    paginator: PaginatorSpec | None = None
    check_path: str | None = Field(
        None, description="Path requested by the connection check (default: first stream)."
    )
    streams: list[StreamSpec] = Field(min_length=1)

    @field_validator("paginator", mode="before",
                     json_schema_input_type=_PaginatorName | PaginatorSpec | None)
    @classmethod
    def _paginator(cls, value: Any) -> Any:
        return _paginator_shorthand(value)

    @field_validator("auth", mode="before", json_schema_input_type=AuthMethod | AuthSpec)
    @classmethod
    def _auth(cls, value: Any) -> Any:
        return {"method": value} if isinstance(value, str) else value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not (value.startswith(("http://", "https://")) or value.startswith("{config.")):
            raise ValueError("must start with http:// or https:// (or be a {config.x} value)")
        return value

    @model_validator(mode="after")
    def _unique_streams(self) -> ApiSpec:
        seen: set[str] = set()
        for stream in self.streams:
            if stream.name in seen:
                raise ValueError(f"stream name {stream.name!r} is used twice")
            seen.add(stream.name)
        return self


class ConfigFieldSpec(_Strict):
    """One input an admin fills in for a declarative connector."""

    type: Literal["string", "integer", "number", "boolean"] = "string"
    title: str | None = None
    description: str = ""
    secret: bool = False
    default: Scalar | None = None
    required: bool | None = None
    enum: list[Scalar] | None = None


class ConnectorInfo(_Strict):
    """The metadata block of a declarative spec (system_type defaults to Generic)."""

    key: ConnectorKey
    name: str = Field(min_length=1, max_length=120)
    version: SemVer
    description: str = ""
    system_type: SystemType = SystemType.GENERIC
    vendor: str | None = None
    author: str | None = None
    documentation_url: HttpUrlText | None = None
    icon: str | None = None
    api_versions: tuple[str, ...] = ()



class DeclarativeSpec(ApiSpec):
    """A complete declarative connector: metadata, admin inputs and the API description."""

    spec_version: Literal[1] = 1
    connector: ConnectorInfo
    config: dict[str, ConfigFieldSpec] = Field(default_factory=dict)

    def metadata(self) -> ConnectorMetadata:
        info = self.connector.model_dump()
        return ConnectorMetadata(**info, auth_methods=(self.auth.method,))

    @model_validator(mode="after")
    def _placeholders_defined(self) -> DeclarativeSpec:
        known = set(self.config)
        for where, text in _strings(self.model_dump(exclude={"config", "connector"})):
            for name in PLACEHOLDER.findall(text):
                if name not in known:
                    raise ValueError(
                        f"{where} uses {{config.{name}}} but 'config' defines no field {name!r}"
                    )
        return self


def _strings(value: Any, where: str = "") -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(where or "(root)", value)]
    if isinstance(value, Mapping):
        return [
            item
            for key, sub in value.items()
            for item in _strings(sub, f"{where}.{key}" if where else str(key))
        ]
    if isinstance(value, (list, tuple)):
        return [item for i, sub in enumerate(value) for item in _strings(sub, f"{where}[{i}]")]
    return []


def _location(loc: tuple[int | str, ...]) -> str:
    """Drop the union tag pydantic puts after ``paginator`` (``paginator.cursor.x``)."""
    parts = list(loc)
    cleaned: list[int | str] = []
    for i, part in enumerate(parts):
        if i > 0 and parts[i - 1] == "paginator" and part in _PAGINATOR_TAGS:
            continue
        cleaned.append(part)
    return format_location(tuple(cleaned))


def _parse_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"The spec is neither valid JSON nor valid YAML{where}.") from None


S = TypeVar("S", bound=ApiSpec)


def load_spec(source: Mapping[str, Any] | str | bytes, model: type[S]) -> S:
    """Parse and validate a spec (a dict, or YAML/JSON text) into ``model``
    (:class:`DeclarativeSpec` for a connector, :class:`ApiSpec` for Generic REST config).

    Raises :class:`SpecError` whose message and ``issues`` name every bad field by path.
    """
    if isinstance(source, bytes):
        source = source.decode("utf-8-sig")
    data = _parse_text(source) if isinstance(source, str) else source
    if not isinstance(data, Mapping):
        raise SpecError("The spec must be a mapping (an object at the top level).")
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        issues = [
            {"field": _location(tuple(err["loc"])), "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        listed = "; ".join(f"{i['field']}: {i['message']}" for i in issues)
        raise SpecError(f"Invalid declarative spec: {listed}.", issues=issues) from None
