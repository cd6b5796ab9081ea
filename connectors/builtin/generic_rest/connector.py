"""Generic REST API: any JSON-over-HTTP API, configured with the declarative API spec.

Its configuration *is* an :class:`~connectors.declarative.spec.ApiSpec` (base URL, auth
method, streams with paths, pagination, record selectors, incremental cursors), so an admin
can connect an API no built-in connector covers without writing code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from connectors.declarative.engine import DeclarativeEngine
from connectors.declarative.spec import PLACEHOLDER, ApiSpec, SpecError, load_spec
from connectors.sdk.metadata import AuthMethod, ConnectorMetadata, SystemType

__all__ = ["GenericRestConnector"]


class GenericRestConnector(DeclarativeEngine):
    """The built-in Generic REST API connector."""

    metadata: ClassVar[ConnectorMetadata] = ConnectorMetadata(
        key="generic-rest",
        name="Generic REST API",
        description="Read any JSON REST API described declaratively: base URL, streams, "
        "pagination, record selection and incremental cursors.",
        version="1.0.0",
        system_type=SystemType.GENERIC,
        vendor=None,
        author="SimpleTrust",
        documentation_url=None,
        auth_methods=(
            AuthMethod.NONE,
            AuthMethod.API_KEY,
            AuthMethod.BASIC,
            AuthMethod.BEARER,
            AuthMethod.OAUTH2_CLIENT_CREDENTIALS,
            AuthMethod.OAUTH2_AUTHORIZATION_CODE,
            AuthMethod.JWT_BEARER,
            AuthMethod.CERTIFICATE,
        ),
    )
    config_model: ClassVar[type[BaseModel]] = ApiSpec

    @classmethod
    def validate_config(cls, data: BaseModel | Mapping[str, Any]) -> BaseModel:
        if isinstance(data, ApiSpec):
            spec = data
        else:
            raw = data.model_dump(by_alias=True) if isinstance(data, BaseModel) else data
            spec = load_spec(raw, ApiSpec)
        if PLACEHOLDER.search(spec.model_dump_json()):
            raise SpecError(
                "The Generic REST API configuration cannot use {config.x} placeholders; "
                "write the values themselves.",
                issues=[{"field": "(root)", "message": "placeholders are not allowed here"}],
            )
        return spec

    def api_spec(self) -> ApiSpec:
        return self.config  # type: ignore[no-any-return]
