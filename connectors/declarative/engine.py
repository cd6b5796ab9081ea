"""The engine that runs a declarative spec as a connector.

:class:`DeclarativeEngine` turns an :class:`ApiSpec` into streams over the SDK's HTTP client;
:func:`build_connector_class` turns a full :class:`DeclarativeSpec` (metadata + admin inputs +
API) into a ``Connector`` subclass the registry can list like any other.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, cast
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, create_model

from connectors.declarative.spec import (
    PLACEHOLDER,
    ApiSpec,
    DeclarativeSpec,
    SinglePageSpec,
    StreamSpec,
    load_spec,
)
from connectors.sdk.connector import Connector
from connectors.sdk.errors import ConfigError
from connectors.sdk.fields import secret_field
from connectors.sdk.http import HttpClient, Paginator, RecordSelector
from connectors.sdk.metadata import AuthMethod
from connectors.sdk.schema import infer_schema
from connectors.sdk.streams import Stream, StreamDescriptor

__all__ = [
    "DeclarativeConnector",
    "DeclarativeEngine",
    "DeclarativeStream",
    "build_connector_class",
    "config_model_for",
    "render_spec",
]

PERMISSIVE_SCHEMA: dict[str, Any] = {"type": "object"}
SAMPLE_PAGES = 1


class DeclarativeStream(Stream):
    """A stream described by a :class:`StreamSpec`."""

    def __init__(self, spec: StreamSpec, api: ApiSpec, http: HttpClient) -> None:
        self.spec = spec
        self.api = api
        self.http = http
        self.name = spec.name
        self.description = spec.description
        self.primary_key = spec.primary_key
        self.cursor_field = spec.incremental.cursor_field if spec.incremental else None
        self.is_sorted = spec.is_sorted
        self.checkpoint_interval = spec.checkpoint_interval
        self.json_schema = spec.json_schema or PERMISSIVE_SCHEMA
        self.selector = RecordSelector(spec.records)

    def paginator(self) -> Paginator:
        chosen = self.spec.paginator or self.api.paginator or SinglePageSpec(type="single_page")
        return chosen.build()

    def params(self, cursor: Any | None) -> dict[str, Any]:
        params: dict[str, Any] = {**self.api.params, **self.spec.params}
        incremental = self.spec.incremental
        if incremental is not None and incremental.param:
            value = cursor if cursor is not None else incremental.initial_value
            if value is not None:
                params[incremental.param] = value
        return params

    def _pages(self, cursor: Any | None, max_pages: int | None = None) -> Any:
        return self.http.paginate(
            self.spec.path,
            paginator=self.paginator(),
            selector=self.selector,
            params=self.params(cursor),
            json=self.spec.body,
            headers=self.spec.headers,
            method=self.spec.method,
            max_pages=max_pages,
        )

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        async for page in self._pages(cursor):
            for record in page.records:
                yield record

    async def read_pages(self, cursor: Any | None) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
        # Each page's records are dicts fresh from its JSON, which nothing else keeps.
        async for page in self._pages(cursor):
            yield page.records

    async def infer(self) -> dict[str, Any]:
        """Infer the schema from the first page (when the spec gives none)."""
        if self.spec.json_schema is not None:
            return self.spec.json_schema
        sample: list[dict[str, Any]] = []
        async for page in self._pages(None, max_pages=SAMPLE_PAGES):
            sample.extend(page.records)
        self.json_schema = infer_schema(sample) if sample else PERMISSIVE_SCHEMA
        return self.json_schema


class DeclarativeEngine(Connector[Any]):
    """Base of connectors driven by an :class:`ApiSpec`; subclasses supply :meth:`api_spec`."""

    def api_spec(self) -> ApiSpec:
        raise NotImplementedError

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api = self.api_spec()
        self.http = self.http_client(self.api.base_url, headers=self.api.headers)

    async def check_connection(self) -> None:
        if self.api.auth.method is not AuthMethod.NONE and self.credentials is None:
            raise ConfigError(
                f"This API expects {self.api.auth.method.value} authentication, but the "
                "integration has no credentials.",
                hint="Attach credentials of that type to the integration instance.",
            )
        if self.api.check_path:
            await self.http.get(self.api.check_path)
            return
        first = DeclarativeStream(self.api.streams[0], self.api, self.http)
        async for _ in first._pages(None, max_pages=1):
            break

    async def streams(self) -> list[Stream]:
        return [DeclarativeStream(s, self.api, self.http) for s in self.api.streams]

    async def discover(self) -> list[StreamDescriptor]:
        streams = await self._stream_map()
        for stream in streams.values():
            if isinstance(stream, DeclarativeStream):
                await stream.infer()
        return [s.descriptor() for s in streams.values()]

    async def sync_streams(self) -> list[StreamDescriptor]:
        """The streams without inferring undeclared schemas: a sync reads none of a schema,
        and inferring one cost a first-page request at every sync (1 of 121 requests of each
        sync in bench.ratelimit_bench, paced by the same rate limit as the pages)."""
        return [s.descriptor() for s in (await self._stream_map()).values()]


class DeclarativeConnector(DeclarativeEngine):
    """A connector built from a :class:`DeclarativeSpec` (see :func:`build_connector_class`)."""

    spec: ClassVar[DeclarativeSpec]

    def api_spec(self) -> ApiSpec:
        values = {
            name: (v.get_secret_value() if isinstance(v, SecretStr) else v)
            for name, v in self.config.model_dump().items()
        }
        return render_spec(self.spec, values)


def _render(text: str, values: Mapping[str, Any], *, path: bool) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values or values[name] is None:
            raise ConfigError(f"The configuration has no value for {name!r}.")
        value = str(values[name])
        return quote(value, safe="") if path else value

    return PLACEHOLDER.sub(replace, text)


def render_spec(spec: ApiSpec, values: Mapping[str, Any]) -> ApiSpec:
    """``spec`` with ``{config.x}`` replaced by config values (URL-quoted in paths)."""

    def scalar(value: Any) -> Any:
        return _render(value, values, path=False) if isinstance(value, str) else value

    streams = [
        s.model_copy(
            update={
                "path": _render(s.path, values, path=True),
                "params": {k: scalar(v) for k, v in s.params.items()},
                "headers": {k: _render(v, values, path=False) for k, v in s.headers.items()},
            }
        )
        for s in spec.streams
    ]
    return ApiSpec.model_validate(
        {
            **{f: getattr(spec, f) for f in ApiSpec.model_fields},
            "base_url": _render(spec.base_url, values, path=False),
            "headers": {k: _render(v, values, path=False) for k, v in spec.headers.items()},
            "params": {k: scalar(v) for k, v in spec.params.items()},
            "check_path": _render(spec.check_path, values, path=True) if spec.check_path else None,
            "streams": streams,
        }
    )


_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


def config_model_for(spec: DeclarativeSpec) -> type[BaseModel]:
    """A pydantic model of the spec's admin inputs (secrets as ``SecretStr``, marked)."""
    fields: dict[str, Any] = {}
    for name, field in spec.config.items():
        annotation: Any = _TYPES[field.type]
        if field.enum:
            annotation = Literal[tuple(field.enum)]
        if field.secret:
            annotation = SecretStr
        required = field.required if field.required is not None else field.default is None
        default: Any = ... if required else field.default
        if not required and field.default is None:
            annotation = annotation | None
        kwargs: dict[str, Any] = {"title": field.title, "description": field.description}
        info = secret_field(default, **kwargs) if field.secret else Field(default, **kwargs)
        fields[name] = (annotation, info)
    model_name = "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]", spec.connector.key))
    return cast(
        type[BaseModel],
        create_model(
            f"{model_name}Config", __config__=ConfigDict(extra="forbid"), **fields
        ),
    )


def build_connector_class(
    spec: DeclarativeSpec | Mapping[str, Any] | str | bytes,
) -> type[DeclarativeConnector]:
    """A ``Connector`` subclass for a declarative spec (a model, dict, or YAML/JSON text)."""
    parsed = spec if isinstance(spec, DeclarativeSpec) else load_spec(spec, DeclarativeSpec)
    class_name = "Declarative_" + re.sub(r"\W", "_", parsed.connector.key)
    namespace = {
        "metadata": parsed.metadata(),
        "config_model": config_model_for(parsed),
        "spec": parsed,
        "__module__": __name__,
        "__doc__": parsed.connector.description or parsed.connector.name,
    }
    return cast(type[DeclarativeConnector], type(class_name, (DeclarativeConnector,), namespace))
