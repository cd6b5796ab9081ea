"""Declarative (no-code) connectors: a YAML/JSON spec run by the SDK (docs/sdk/declarative.md)."""

from connectors.declarative.engine import (
    DeclarativeConnector,
    DeclarativeEngine,
    DeclarativeStream,
    build_connector_class,
)
from connectors.declarative.spec import (
    ApiSpec,
    DeclarativeSpec,
    SpecError,
    StreamSpec,
    load_spec,
)

__all__ = [
    "ApiSpec",
    "DeclarativeConnector",
    "DeclarativeEngine",
    "DeclarativeSpec",
    "DeclarativeStream",
    "SpecError",
    "StreamSpec",
    "build_connector_class",
    "load_spec",
]
