"""Instance lifecycle: what "complete enough to activate" means."""

from __future__ import annotations

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy.orm import Session

from server.db.models import AuthenticationConfig, IntegrationInstance
from server.services.instance_config import completeness_view


def activation_problems(session: Session, instance: IntegrationInstance) -> list[tuple[str, str]]:
    """Each reason the instance cannot run yet, as (field, message); empty when it can."""
    problems: list[tuple[str, str]] = []
    connector = instance.connector
    schema = connector.config_schema or {}
    if schema:
        try:
            validator = Draft202012Validator(schema)
            view = completeness_view(instance.configuration or {})
            for err in sorted(validator.iter_errors(view), key=str):
                path = ".".join(str(p) for p in err.absolute_path)
                if err.validator == "required" and isinstance(err.validator_value, list):
                    missing = [f for f in err.validator_value
                               if f not in (err.instance or {})]
                    problems.extend(
                        (".".join(filter(None, ["configuration", path, f])), "required")
                        for f in missing
                    )
                else:
                    problems.append((".".join(filter(None, ["configuration", path])),
                                     err.message))
        except SchemaError:
            problems.append(("connector_id", "the connector's configuration schema is invalid"))
    methods = [str(m) for m in (connector.auth_methods or [])]
    if methods and "none" not in methods:
        if instance.auth_config_id is None:
            problems.append(("auth_config_id",
                             f"a credential is required (one of: {', '.join(methods)})"))
        else:
            auth = session.get(AuthenticationConfig, instance.auth_config_id)
            if auth is not None and auth.auth_type.value not in methods:
                problems.append(("auth_config_id",
                                 f"the connector does not support {auth.auth_type.value}; "
                                 f"use one of: {', '.join(methods)}"))
    return problems
