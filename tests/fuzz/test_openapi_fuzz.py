"""Property-based run of schemathesis over the agent's own OpenAPI document.

Every operation, with a valid admin token, on both databases: no 5xx, and every response
conforms to what the API documents for it (status code, content type, body schema).
Part of ``make test``; ``make fuzz`` runs only this, and ``FUZZ_EXAMPLES`` raises the count.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from server.api.app import create_app
from server.config import load_settings
from server.db.engine import make_engine, make_session_factory
from server.db.models import Base, IntegrationConnector, Role, SystemType
from server.security.tokens import create_service_principal, issue_token
from server.vault import MasterKey, Vault

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))  # make fuzz runs 100
OPENAPI = "/api/integration/openapi.json"


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) the agent documents; no database needed to list them."""
    engine = make_engine("sqlite://")  # one in-memory database per thread: tables, then app
    Base.metadata.create_all(engine)
    app = create_app(load_settings(database_url="sqlite://"), engine,
                     vault=Vault.from_key(MasterKey.generate()))
    return [(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops]


@pytest.fixture(scope="module")
def fuzz_target(module_db_url: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[Any, str]]:
    """One agent app, database and loaded schema per backend for all operations: building
    them (a database, the app, its OpenAPI document) per operation cost more than fuzzing."""
    engine = make_engine(module_db_url)
    app = create_app(load_settings(database_url=module_db_url,
                                   data_dir=tmp_path_factory.mktemp("fuzz") / "data"),
                     engine, vault=Vault.from_key(MasterKey.generate()))
    with make_session_factory(engine)() as session:
        admin = create_service_principal(session, "fuzzer", Role.ADMIN)
        token = issue_token(session, admin, "fuzz").token
        # A connector, so instance creation can get past the reference check sometimes.
        session.add(IntegrationConnector(
            id=uuid.UUID(int=1), key="fuzz", name="Fuzz", version="1.0.0",
            system_type=SystemType.GENERIC, config_schema={"type": "object"}))
        session.commit()
    yield schemathesis.openapi.from_asgi(OPENAPI, app), token
    engine.dispose()


@pytest.mark.parametrize(("method", "path"), _operations())
def test_operation_conforms_to_its_schema(
    method: str, path: str, fuzz_target: tuple[Any, str]
) -> None:
    schema, token = fuzz_target
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {token}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        # Not checked: "schema-valid data must be accepted". References to ids that do not
        # exist and stale opaque cursors are schema-valid yet rightly refused with 422.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    run()
