"""Binding a subscription's action secrets (a Slack URL) by name, as credentials' are bound.

A configuration file declares a notification's secret (``secrets: [slack_url]``) but never
holds its value; the import reports it missing under the subscription's name,
``instances[NAME].subscriptions[EVENT TYPE]``. The same name binds the value, in a secrets
file (``config import --secrets``) or through ``POST /config/secrets``::

    instances[Directory].subscriptions[sync.failed]:
      slack_url: https://hooks.slack.com/services/T000/B000/XXXX

The name must point at exactly one subscription of that instance and event type declaring the
field; when several do, each is set with ``PUT /event-subscriptions/{id}`` instead. Problems are
``(object, field, message)`` and never repeat a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import EventSubscription, IntegrationInstance
from server.events import action_secrets
from server.events.configs import subscription_problems
from server.vault import Vault

_NAME = re.compile(r"^instances\[(?P<instance>.+)\]\.subscriptions\[(?P<event>[^\[\]]+)\]$")
_ALL_FIELDS = sorted({f for fields in action_secrets.SECRET_FIELDS.values() for f in fields})

Problem = tuple[str, str, str]
Secrets = dict[str, dict[str, str]]


def is_subscription_name(name: str) -> bool:
    return _NAME.match(name) is not None


def split(secrets: Secrets) -> tuple[Secrets, Secrets]:
    """(credential secrets, subscription secrets) of one secrets document."""
    subs = {k: v for k, v in secrets.items() if is_subscription_name(k)}
    return {k: v for k, v in secrets.items() if k not in subs}, subs


def check_names(secrets: Secrets, instance_names: Iterable[str]) -> list[Problem]:
    """What can be checked before an import writes: the instance exists (in the file or the
    agent) and each field is an action secret."""
    known = set(instance_names)
    problems: list[Problem] = []
    for name, fields in sorted(secrets.items()):
        match = _NAME.match(name)
        assert match is not None
        if match["instance"] not in known:
            problems.append((f"secrets[{name}]", "(instance)",
                             "no instance of that name in the file or the agent"))
        problems += [(f"secrets[{name}]", f, "is not a secret of any subscription action "
                      f"(secret fields: {', '.join(_ALL_FIELDS)})")
                     for f in sorted(set(fields) - set(_ALL_FIELDS))]
    return problems


def bind(session: Session, vault: Vault, secrets: Secrets,
         record: Callable[[EventSubscription, list[str]], None]) -> list[Problem]:
    """Seal each value into the one subscription its name points at; the problems instead
    (then nothing should be committed). ``record`` notes each bound subscription."""
    problems = check_names(secrets, session.scalars(select(IntegrationInstance.name)))
    if problems:
        return problems
    for name, fields in sorted(secrets.items()):
        match = _NAME.match(name)
        assert match is not None
        where = f"secrets[{name}]"
        rows = list(session.scalars(
            select(EventSubscription).join(IntegrationInstance)
            .where(IntegrationInstance.name == match["instance"],
                   EventSubscription.event_type == match["event"])))
        targets = [r for r in rows
                   if set(fields) <= set(action_secrets.secret_fields(r.action_type))
                   and set(fields) <= set(action_secrets.declared(r.action_config))]
        if len(targets) != 1:
            problems.append((where, "(subscription)", (
                f"no {match['event']} subscription of this instance declares "
                f"{', '.join(sorted(fields))}") if not targets else (
                f"{len(targets)} {match['event']} subscriptions of this instance declare "
                f"{', '.join(sorted(fields))}: set each with PUT /event-subscriptions/{{id}}")))
            continue
        row = targets[0]
        stored = row.action_config or {}
        resolved = action_secrets.resolve(vault, row.id, row.action_type,
                                          {**action_secrets.public(stored), **fields}, stored)
        bad = subscription_problems(row.event_type, row.filter_criteria, row.action_type,
                                    resolved.plain)
        if bad:
            problems += [(where, f.removeprefix("action_config."), m) for f, m in bad]
            continue
        row.action_config = resolved.sealed(vault, row.id)
        record(row, sorted(fields))
    return problems
