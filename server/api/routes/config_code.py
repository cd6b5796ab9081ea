"""Configuration as code: export as deterministic YAML, import (or plan) a file, bind secrets."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from server.api.deps import Operator, Reader, SessionDep
from server.api.problems import FieldError, Unprocessable, problem_responses
from server.api.schemas.config_code import (
    ChangeRead,
    ConfigImportRequest,
    ConfigImportResult,
    SecretsRequest,
    SecretsResult,
)
from server.config_code import ConfigInvalid, bind_secrets, export_yaml, import_config
from server.scheduler.service import notify_schedule_changed
from server.services.registry import Registry
from server.vault import Vault

router = APIRouter(prefix="/config", tags=["configuration"],
                   responses=problem_responses(401, 403, 422))


def _invalid(exc: ConfigInvalid) -> Unprocessable:
    errors = [FieldError(field=f"{e.object}.{e.field}", message=e.message) for e in exc.errors]
    return Unprocessable(f"the configuration is invalid ({len(errors)} problem(s)); nothing "
                         "was changed", errors=errors)


@router.get("/export", response_class=Response,
            responses={200: {"content": {"application/yaml": {}},
                             "description": "The configuration; secrets never included"}})
def export_config(session: SessionDep, _: Reader) -> Response:
    """Custom connectors, credentials (as references), instances with their mappings,
    schedules and subscriptions: deterministic YAML for git."""
    return Response(export_yaml(session), media_type="application/yaml")


@router.post("/import", response_model=ConfigImportResult)
def import_configuration(
    body: ConfigImportRequest, request: Request, session: SessionDep, who: Operator
) -> ConfigImportResult:
    """Validate the whole file (errors name the object and field), plan it as a diff, and
    apply it in one transaction unless `dry_run`."""
    registry: Registry = request.app.state.registry
    vault: Vault = request.app.state.vault
    try:
        plan = import_config(session, body.document, registry=registry, vault=vault, who=who,
                             secrets=body.secrets, prune=body.prune, dry_run=body.dry_run,
                             notify=lambda sid: notify_schedule_changed(request.app, sid))
    except ConfigInvalid as exc:
        raise _invalid(exc) from None
    return ConfigImportResult(
        applied=plan.applied, diff=plan.diff, missing_secrets=plan.missing_secrets,
        changes=[ChangeRead(action=c.action, object=c.object, fields=list(c.fields))
                 for c in plan.changes])


@router.post("/secrets", response_model=SecretsResult)
def bind_config_secrets(
    body: SecretsRequest, request: Request, session: SessionDep, who: Operator
) -> SecretsResult:
    """Bind secret values to credentials by name (after an import without them)."""
    vault: Vault = request.app.state.vault
    try:
        missing = bind_secrets(session, vault, body.secrets, who)
    except ConfigInvalid as exc:
        raise _invalid(exc) from None
    session.commit()
    return SecretsResult(bound=sorted(body.secrets), missing_secrets=missing)
