"""Configuration as code: deterministic YAML export, validated import, diff.

Public API::

    export_yaml(session) -> str
    import_config(session, text, registry=..., vault=..., who=None, secrets=None,
                  prune=False, dry_run=False) -> Plan     # raises ConfigInvalid
    bind_secrets(session, vault, {name: {field: value}}) -> still-missing secrets
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

from server.config_code.document import dump
from server.config_code.exporter import export_document
from server.config_code.importer import (
    Change,
    ConfigError,
    ConfigInvalid,
    Plan,
    Secrets,
    apply,
    bind_secrets,
    parse_secrets,
    prepare,
)
from server.db.models import Principal
from server.services.registry import Registry
from server.vault import Vault

__all__ = [
    "Change",
    "ConfigError",
    "ConfigInvalid",
    "Plan",
    "Secrets",
    "bind_secrets",
    "export_yaml",
    "import_config",
    "parse_secrets",
]


def export_yaml(session: Session) -> str:
    return dump(export_document(session))


def import_config(
    session: Session, text: str, *, registry: Registry, vault: Vault | None,
    who: Principal | None = None, secrets: Secrets | None = None, prune: bool = False,
    dry_run: bool = False, notify: Callable[[uuid.UUID], None] | None = None,
) -> Plan:
    """Validate, plan and (unless ``dry_run``) apply in one transaction, then commit.

    Any error rolls the whole import back: an invalid file changes nothing.
    """
    plan = prepare(session, text, secrets=secrets, prune=prune)
    if dry_run or not (plan.changes or plan.secrets):
        session.rollback()
        return plan
    try:
        changed = apply(session, plan, registry=registry, vault=vault, who=who)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    for schedule_id in changed:
        if notify is not None:
            notify(schedule_id)
    return plan
