"""Importing a configuration file: validate everything, plan, then apply in one transaction.

:func:`prepare` reads and validates the whole file against itself and the live state, and
computes the plan: the resulting document, a unified diff from the live export to it, and the
changes per object. :func:`apply` carries the plan out in the caller's transaction; anything
that still fails there (an instance that cannot be enabled) raises :class:`ConfigInvalid` and
the caller rolls back, so an invalid file changes nothing.

Merging rules: objects are matched by key (connectors) or name; an object in the file replaces
the live one. An instance in the file brings its complete list of mappings, schedules and
subscriptions: live ones it does not list are removed. Top-level objects missing from the file
stay, unless ``prune`` is set. A mapping whose content changed gets the next version number.
"""

from __future__ import annotations

import copy
import difflib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.declarative.engine import build_connector_class
from connectors.declarative.spec import DeclarativeSpec, SpecError, load_spec
from connectors.sdk.auth.models import FIELD_MODELS, auth_method
from server.api.schemas.instances import InstanceOptions
from server.config_code import subscription_secrets
from server.config_code.document import (
    Document,
    canonical_connector,
    canonical_credential,
    canonical_instance,
    document,
    dump,
    load,
    sorted_json,
)
from server.config_code.exporter import (
    action_config_out,
    export_document,
    public_fields,
    secret_names,
)
from server.db.models import (
    ActionType,
    AuthenticationConfig,
    AuthType,
    ConnectorOrigin,
    DataMapping,
    EventSubscription,
    InstanceStatus,
    IntegrationConnector,
    IntegrationInstance,
    Principal,
    ScheduleType,
    SyncSchedule,
    SystemType,
)
from server.db.types import utcnow
from server.events import action_secrets
from server.events.configs import subscription_problems
from server.services import activity, credentials
from server.services.instances import activation_problems
from server.services.mappings import MappingShapeError, checked_spec, record_version
from server.services.registry import Registry, apply_description
from server.services.schedules import next_run, schedule_problems
from server.vault import Vault

_COLLECTIONS = ("connectors", "credentials", "instances", "mappings", "schedules",
                "subscriptions")
_PLACEHOLDER = "placeholder-for-validation"
Secrets = dict[str, dict[str, str]]


@dataclass(frozen=True)
class ConfigError:
    """One problem: the object (by name), the field inside it, and what is wrong."""

    object: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.object}: {self.field}: {self.message}"


class ConfigInvalid(Exception):
    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("; ".join(str(e) for e in errors[:5]))
        self.errors = errors


@dataclass(frozen=True)
class Change:
    action: str  # create, update, delete
    object: str
    fields: tuple[str, ...] = ()


@dataclass
class Plan:
    file: Document
    live: dict[str, Any]
    desired: dict[str, Any]
    changes: list[Change]
    diff: str
    missing_secrets: dict[str, list[str]]
    secrets: Secrets
    prune: bool
    applied: bool = False
    notes: list[str] = field(default_factory=list)


# ---- reading --------------------------------------------------------------------------------

def _locate(raw: Any, loc: tuple[Any, ...]) -> tuple[str, str]:
    """Turn a validation location into (object by name, field inside it)."""
    names: list[str] = []
    node = raw
    i = 0
    while i + 1 < len(loc) and loc[i] in _COLLECTIONS and isinstance(loc[i + 1], int):
        items = node.get(loc[i]) if isinstance(node, dict) else None
        index = loc[i + 1]
        item = items[index] if isinstance(items, list) and index < len(items) else None
        label = (item.get("key") or item.get("name")) if isinstance(item, dict) else None
        names.append(f"{loc[i]}[{label if isinstance(label, str) and label else index}]")
        node = item
        i += 2
    rest = ".".join(str(p) for p in loc[i:])
    return ".".join(names) or "file", rest or "(object)"


def parse(text: str) -> Document:
    """The file as a validated document; ConfigInvalid names every problem."""
    try:
        raw = load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "file"
        raise ConfigInvalid([ConfigError("file", where, "not valid YAML: "
                                         f"{getattr(exc, 'problem', None) or exc}")]) from None
    if not isinstance(raw, dict):
        raise ConfigInvalid([ConfigError("file", "(top level)", "must be a mapping with "
                                         "schema_version, connectors, credentials, instances")])
    try:
        return Document.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_input=False, include_url=False):
            obj, fld = _locate(raw, tuple(err["loc"]))
            errors.append(ConfigError(obj, fld, err["msg"].removeprefix("Value error, ")))
        raise ConfigInvalid(errors) from None


def parse_secrets(text: str) -> Secrets:
    try:
        raw = load(text) or {}
    except yaml.YAMLError:
        raise ConfigInvalid([ConfigError("secrets", "file", "not valid YAML or JSON")]) from None
    if not isinstance(raw, dict) or not all(
            isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
            for v in raw.values()):
        raise ConfigInvalid([ConfigError("secrets", "file", "must map each credential name "
                                         "to its secret fields: {name: {field: value}}")])
    return {str(k): {str(f): str(x) for f, x in v.items()} for k, v in raw.items()}


# ---- validation -----------------------------------------------------------------------------

class _Errors(list[ConfigError]):
    def add(self, obj: str, fld: str, message: str) -> None:
        self.append(ConfigError(obj, fld, message))


def _duplicates(items: list[str], what: str, errors: _Errors, field_name: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            errors.add(f"{what}[{item}]", field_name, "appears twice in the file")
        seen.add(item)


def _check_connectors(session: Session, doc: Document, errors: _Errors) -> None:
    fixed = set(session.scalars(select(IntegrationConnector.key).where(
        IntegrationConnector.origin != ConnectorOrigin.DECLARATIVE)))
    _duplicates([c.key for c in doc.connectors], "connectors", errors, "key")
    for c in doc.connectors:
        where = f"connectors[{c.key}]"
        if c.key in fixed:
            errors.add(where, "key", "is a built-in or plugin connector; only custom "
                       "(declarative) connectors are configured here")
            continue
        try:
            spec = load_spec(c.spec, DeclarativeSpec)
            build_connector_class(spec)
        except SpecError as exc:
            for issue in exc.issues or [{"field": "", "message": exc.message}]:
                errors.add(where, f"spec.{issue.get('field', '')}".rstrip("."),
                           str(issue.get("message", "invalid")))
            continue
        if spec.connector.key != c.key:
            errors.add(where, "spec.connector.key", f"must be {c.key!r}, the connector's key")


def _check_credentials(session: Session, doc: Document, secrets: Secrets, errors: _Errors
                       ) -> dict[str, list[str]]:
    """Validate references; returns the secrets still missing, by credential name."""
    _duplicates([c.name for c in doc.credentials], "credentials", errors, "name")
    stored = {c.name: c for c in session.scalars(select(AuthenticationConfig))}
    missing: dict[str, list[str]] = {}
    for c in doc.credentials:
        where = f"credentials[{c.name}]"
        model = FIELD_MODELS[auth_method(c.type.value)]
        secret = set(secret_names(c.type))
        for name in sorted(set(c.fields) & secret):
            errors.add(where, f"fields.{name}", "is a secret: secret values never go in the "
                       "file; bind them with --secrets or the API")
        given = secrets.get(c.name, {})
        for name in sorted(set(given) - secret):
            errors.add(f"secrets[{c.name}]", name, "is not a secret field of a "
                       f"{c.type.value} credential (secret fields: "
                       f"{', '.join(sorted(secret)) or 'none'})")
        live = stored.get(c.name)
        bound = live is not None and live.auth_type == c.type and bool(live.credentials)
        required = sorted(n for n in secret if model.model_fields[n].is_required()) \
            if all(n in model.model_fields for n in secret) else sorted(secret)
        absent = [n for n in required if n not in given and not bound]
        if absent:
            missing[c.name] = absent
        # Secrets not given here are missing or stored: stand-ins let the rest be checked.
        stand_ins = {n: _PLACEHOLDER for n in required if n not in given}
        values = {**c.fields, **stand_ins, **given}
        try:
            credentials.validate_fields(c.type, values)
        except credentials.CredentialFieldsError as exc:
            for fld, message in exc.errors:
                name = fld.removeprefix("credentials.")
                if name.split(".")[0] in stand_ins:
                    continue
                target = f"secrets[{c.name}]" if name.split(".")[0] in given else where
                errors.add(target, name if target != where else f"fields.{name}", message)
    for name in sorted(set(secrets) - {c.name for c in doc.credentials} - set(stored)):
        errors.add(f"secrets[{name}]", "(credential)", "no credential of that name in the "
                   "file or the agent")
    return missing


def _check_instances(session: Session, doc: Document, errors: _Errors) -> None:
    _duplicates([i.name for i in doc.instances], "instances", errors, "name")
    connectors = set(session.scalars(select(IntegrationConnector.key))) | {
        c.key for c in doc.connectors}
    creds = set(session.scalars(select(AuthenticationConfig.name))) | {
        c.name for c in doc.credentials}
    instances = set(session.scalars(select(IntegrationInstance.name))) | {
        i.name for i in doc.instances}
    for inst in doc.instances:
        where = f"instances[{inst.name}]"
        if inst.connector not in connectors:
            errors.add(where, "connector", f"no connector with key {inst.connector!r}")
        if inst.credential is not None and inst.credential not in creds:
            errors.add(where, "credential", f"no credential named {inst.credential!r} in the "
                       "file or the agent")
        try:
            InstanceOptions.model_validate(inst.options)
        except ValidationError as exc:
            for err in exc.errors(include_input=False, include_url=False):
                errors.add(where, ".".join(["options", *(str(p) for p in err["loc"])]),
                           err["msg"])
        _duplicates([m.name for m in inst.mappings], f"{where}.mappings", errors, "name")
        for m in inst.mappings:
            row = DataMapping(name=m.name, version=str(m.version), source=m.source,
                              target=m.target, direction=m.direction,
                              source_schema=m.source_schema, target_schema=m.target_schema,
                              field_mappings=m.field_mappings, description=m.description)
            try:
                checked_spec(row)
            except MappingShapeError as exc:
                for fld, message in exc.errors:
                    errors.add(f"{where}.mappings[{m.name}]", fld, message)
        for n, s in enumerate(inst.schedules):
            row_s = SyncSchedule(schedule_type=s.type, interval_minutes=s.interval_minutes,
                                 cron_expression=s.cron, timezone=s.timezone,
                                 event_trigger=s.event_trigger, is_active=s.active)
            for fld, message in schedule_problems(row_s):
                errors.add(f"{where}.schedules[{n}]",
                           {"cron_expression": "cron"}.get(fld, fld), message)
        for n, sub in enumerate(inst.subscriptions):
            config = dict(sub.action_config)
            allowed = action_secrets.secret_fields(sub.action_type)
            for name in sorted(set(config) & set(allowed)):
                errors.add(f"{where}.subscriptions[{n}]", f"action_config.{name}",
                           "is a secret: secret values never go in the file; list it under "
                           "secrets and set it with PUT /event-subscriptions/{id}")
                config.pop(name)
            for name in sorted(set(sub.secrets) - set(allowed)):
                errors.add(f"{where}.subscriptions[{n}]", "secrets", f"{name!r} is not a "
                           f"secret of a {sub.action_type.value} action (secrets: "
                           f"{', '.join(allowed) or 'none'})")
            target = config.pop("instance", None)
            if target is not None:
                if target not in instances:
                    errors.add(f"{where}.subscriptions[{n}]", "action_config.instance",
                               f"no instance named {target!r} in the file or the agent")
                config["instance_id"] = str(uuid.UUID(int=0))
            for fld, message in subscription_problems(sub.event_type, sub.filter,
                                                      sub.action_type, config):
                errors.add(f"{where}.subscriptions[{n}]",
                           {"filter_criteria": "filter"}.get(fld.split(".")[0],
                                                             fld.split(".")[0])
                           + fld[len(fld.split(".")[0]):], message)


# ---- planning -------------------------------------------------------------------------------

def _merge(live: dict[str, Any], doc: Document, prune: bool) -> dict[str, Any]:
    connectors = {c["key"]: c for c in ([] if prune else live["connectors"])}
    connectors.update({c.key: canonical_connector(c) for c in doc.connectors})
    creds = {c["name"]: c for c in ([] if prune else live["credentials"])}
    creds.update({c.name: canonical_credential(
        c.model_copy(update={"fields": public_fields(c.type, c.fields)}), secret_names(c.type))
        for c in doc.credentials})
    live_instances = {i["name"]: i for i in live["instances"]}
    instances = {} if prune else dict(live_instances)
    for inst in doc.instances:
        wanted = canonical_instance(inst)
        before = {m["name"]: m for m in live_instances.get(inst.name, {}).get("mappings", [])}
        for m in wanted["mappings"]:
            old = before.get(m["name"])
            if old is None:
                continue
            same = {**m, "version": 0} == {**old, "version": 0}
            m["version"] = old["version"] if same else old["version"] + 1
        instances[inst.name] = wanted
    return document(list(connectors.values()), list(creds.values()), list(instances.values()))


def _changes(live: dict[str, Any], desired: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for section, key in (("connectors", "key"), ("credentials", "name"),
                         ("instances", "name")):
        before = {o[key]: o for o in live[section]}
        after = {o[key]: o for o in desired[section]}
        for name in sorted(before.keys() | after.keys()):
            where = f"{section}[{name}]"
            if name not in after:
                changes.append(Change("delete", where))
            elif name not in before:
                changes.append(Change("create", where))
            elif before[name] != after[name]:
                fields = tuple(sorted(k for k in after[name] if before[name].get(k)
                                      != after[name][k]))
                changes.append(Change("update", where, fields))
    return changes


def prepare(session: Session, text: str, *, secrets: Secrets | None = None,
            prune: bool = False) -> Plan:
    """Validate the whole file and plan its import (nothing is written)."""
    doc = parse(text)
    given = secrets or {}
    for_credentials, for_subscriptions = subscription_secrets.split(given)
    errors = _Errors()
    _check_connectors(session, doc, errors)
    missing = _check_credentials(session, doc, for_credentials, errors)
    _check_instances(session, doc, errors)
    errors += [ConfigError(*p) for p in subscription_secrets.check_names(
        for_subscriptions, {i.name for i in doc.instances}
        | set(session.scalars(select(IntegrationInstance.name))))]
    if errors:
        raise ConfigInvalid(list(errors))
    for where, absent in _missing_subscription_secrets(session, doc).items():
        still = [f for f in absent if f not in for_subscriptions.get(where, {})]
        if still:
            missing[where] = still
    live = export_document(session)
    desired = _merge(live, doc, prune)
    diff = "".join(difflib.unified_diff(dump(live).splitlines(keepends=True),
                                        dump(desired).splitlines(keepends=True),
                                        "live", "file"))
    return Plan(doc, live, desired, _changes(live, desired), diff, missing, given, prune)


# ---- applying -------------------------------------------------------------------------------

@dataclass
class _Context:
    session: Session
    vault: Vault | None
    who: Principal | None
    notify: Callable[[uuid.UUID], None] | None
    changed_schedules: list[uuid.UUID] = field(default_factory=list)

    def record(self, operation: str, message: str, *, instance_id: uuid.UUID | None = None,
               **details: object) -> None:
        activity.record(self.session, operation, message, principal=self.who,
                        instance_id=instance_id, details={**details, "source": "config-import"})

    def need_vault(self) -> Vault:
        if self.vault is None:
            raise ConfigInvalid([ConfigError("credentials", "secrets", "the master key is "
                                             "needed to store secrets")])
        return self.vault


def _apply_connectors(ctx: _Context, plan: Plan, registry: Registry) -> None:
    rows = {r.key: r for r in ctx.session.scalars(select(IntegrationConnector))}
    touched = []
    for c in plan.desired["connectors"]:
        row = rows.get(c["key"])
        if row is not None and (row.declarative_spec or {}) == c["spec"]:
            continue
        if row is None:
            row = IntegrationConnector(id=uuid.uuid4(), key=c["key"],
                                       origin=ConnectorOrigin.DECLARATIVE)
            ctx.session.add(row)
            op = "create"
        else:
            op = "update"
        row.declarative_spec = copy.deepcopy(c["spec"])
        # Provisional description (NOT NULL columns): discovery below fills in the real one.
        row.name = row.name or c["key"]
        row.version = row.version or "0"
        row.system_type = row.system_type or SystemType.GENERIC
        touched.append((row, op))
    ctx.session.flush()
    if touched:
        result = registry.discover(ctx.session)
        for row, op in touched:
            entry = result.connectors.get(row.key)
            if entry is None:
                raise ConfigInvalid([ConfigError(f"connectors[{row.key}]", "spec",
                                                 "the connector could not be loaded")])
            apply_description(row, entry)
            row.is_built_in = False
            ctx.record(f"connector.{op}", f"declarative connector {row.key!r} {op}d "
                       "from a configuration file", connector_id=str(row.id))


def _bind(ctx: _Context, obj: AuthenticationConfig, public: dict[str, Any],
          given: Mapping[str, str], *, keep_stored: bool) -> None:
    """Store public fields, and secrets when the set is complete."""
    stored: dict[str, Any] = {}
    if keep_stored and obj.credentials:
        stored = ctx.need_vault().open(str(obj.id), obj.credentials)
    values = {**stored, **public, **given}
    try:
        fields = credentials.validate_fields(obj.auth_type, values)
    except credentials.CredentialFieldsError:
        obj.oauth_config = public_fields(obj.auth_type, public)  # secrets bound later
        if not keep_stored:
            obj.credentials = {}
        return
    credentials.store(ctx.need_vault(), obj, fields)


def _apply_credentials(ctx: _Context, plan: Plan) -> None:
    rows = {r.name: r for r in ctx.session.scalars(select(AuthenticationConfig))}
    live = {c["name"]: c for c in plan.live["credentials"]}
    for c in plan.desired["credentials"]:
        given = plan.secrets.get(c["name"], {})
        if live.get(c["name"]) == c and not given:
            continue
        row = rows.get(c["name"])
        expiration = Document.model_validate({"schema_version": 1, "credentials": [c]}
                                             ).credentials[0].expiration
        if row is None:
            row = AuthenticationConfig(id=uuid.uuid4(), name=c["name"],
                                       auth_type=AuthType(c["type"]),
                                       created_by=ctx.who.id if ctx.who else None)
            ctx.session.add(row)
            op, keep = "create", False
        else:
            op = "update"
            keep = row.auth_type == AuthType(c["type"])
            row.auth_type = AuthType(c["type"])
        row.expiration = expiration
        row.is_system_account = bool(c["system_account"])
        _bind(ctx, row, c["fields"], given, keep_stored=keep)
        ctx.session.flush()
        ctx.record(f"credential.{op}", f"credential {row.name!r} ({row.auth_type.value}) "
                   f"{op}d from a configuration file", auth_config_id=str(row.id),
                   secrets_bound=sorted(given))


def _apply_mappings(ctx: _Context, inst: IntegrationInstance, wanted: list[dict[str, Any]]
                    ) -> None:
    rows = {m.name: m for m in ctx.session.scalars(
        select(DataMapping).where(DataMapping.instance_id == inst.id))}
    names = {m["name"] for m in wanted}
    for name, old in rows.items():
        if name not in names:
            ctx.record("mapping.delete", f"mapping {name!r} deleted (not in the file)",
                       instance_id=inst.id, mapping_id=str(old.id))
            ctx.session.delete(old)
    for m in wanted:
        values = {"name": m["name"], "source": m["source"], "target": m["target"],
                  "direction": m["direction"], "is_active": m["active"],
                  "description": m["description"], "source_schema": m["source_schema"],
                  "target_schema": m["target_schema"], "field_mappings": m["field_mappings"],
                  "transformations": m["transformations"], "version": str(m["version"])}
        found = rows.get(m["name"])
        if found is None:
            row = DataMapping(id=uuid.uuid4(), instance_id=inst.id,
                              created_by=ctx.who.id if ctx.who else None, **values)
            ctx.session.add(row)
            op = "create"
        elif all(getattr(found, k) == v for k, v in values.items()):
            continue
        else:
            row = found
            for key, value in values.items():
                setattr(row, key, value)
            op = "update"
        spec = checked_spec(row)
        ctx.session.flush()
        record_version(ctx.session, row, spec, ctx.who.id if ctx.who else None)
        ctx.record(f"mapping.{op}", f"mapping {row.name!r} {op}d (version {row.version}) "
                   "from a configuration file", instance_id=inst.id, mapping_id=str(row.id),
                   fingerprint=spec.fingerprint())


def _schedule_doc(s: SyncSchedule) -> dict[str, Any]:
    return {"type": s.schedule_type.value, "interval_minutes": s.interval_minutes,
            "cron": s.cron_expression, "timezone": s.timezone, "event_trigger": s.event_trigger,
            "active": s.is_active}


def _apply_schedules(ctx: _Context, inst: IntegrationInstance, wanted: list[dict[str, Any]]
                     ) -> None:
    rows = list(ctx.session.scalars(select(SyncSchedule).where(
        SyncSchedule.instance_id == inst.id).order_by(SyncSchedule.created_at,
                                                      SyncSchedule.id)))
    todo = list(wanted)
    spare = []
    for row in rows:  # unchanged ones stay as they are
        doc = _schedule_doc(row)
        if doc in todo:
            todo.remove(doc)
        else:
            spare.append(row)
    for s in todo:
        row = spare.pop(0) if spare else SyncSchedule(id=uuid.uuid4(), instance_id=inst.id)
        op = "create" if row not in rows else "update"
        if op == "create":
            ctx.session.add(row)
        row.schedule_type = ScheduleType(s["type"])
        row.interval_minutes, row.cron_expression = s["interval_minutes"], s["cron"]
        row.timezone, row.event_trigger = s["timezone"], s["event_trigger"]
        row.is_active = s["active"]
        row.next_execution = next_run(row, utcnow())
        ctx.session.flush()
        ctx.changed_schedules.append(row.id)
        ctx.record(f"schedule.{op}", f"{row.schedule_type.value} schedule {op}d from a "
                   "configuration file", instance_id=inst.id, schedule_id=str(row.id))
    for row in spare:
        ctx.changed_schedules.append(row.id)
        ctx.record("schedule.delete", "schedule deleted (not in the file)",
                   instance_id=inst.id, schedule_id=str(row.id))
        ctx.session.delete(row)


def _subscription_doc(e: EventSubscription, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    declared = action_secrets.declared(e.action_config)
    secrets = {"secrets": declared} if declared else {}  # as canonical_subscription
    return {"event_type": e.event_type, "action_type": e.action_type.value,
            "filter": sorted_json(e.filter_criteria or {}),
            "action_config": sorted_json(action_config_out(
                action_secrets.public(e.action_config), names)),
            **secrets, "active": e.is_active}


@dataclass(frozen=True)
class _Pair:
    wanted: dict[str, Any]
    row: EventSubscription | None
    #: "same": the row already is the wanted subscription; "carry": an edited one whose
    #: secrets carry over; "other": a spare row reused, or a new one (secrets not carried).
    mode: str


def _pair_subscriptions(rows: list[EventSubscription], wanted: list[dict[str, Any]],
                        names: dict[uuid.UUID, str]
                        ) -> tuple[list[_Pair], list[EventSubscription]]:
    """Which live row becomes which wanted subscription, and the rows left to delete.

    Subscriptions have no name, so a secret (a Slack URL) carries over to an edited
    subscription only when exactly one live row of the same event and action type has it
    bound: never guess which channel a notification goes to.
    """
    pool = list(rows)
    pairs: list[_Pair] = []
    todo: list[dict[str, Any]] = []
    for w in wanted:
        hit = next((r for r in pool if _subscription_doc(r, names) == w), None)
        if hit is None:
            todo.append(w)
        else:
            pool.remove(hit)
            pairs.append(_Pair(w, hit, "same"))
    rest: list[dict[str, Any]] = []
    for w in todo:
        wants = set(w.get("secrets", []))
        matches = [r for r in pool if wants and r.event_type == w["event_type"]
                   and r.action_type.value == w["action_type"]
                   and set(action_secrets.hints(r.action_config)) == wants
                   and set(action_secrets.declared(r.action_config)) == wants]
        if len(matches) == 1:
            pool.remove(matches[0])
            pairs.append(_Pair(w, matches[0], "carry"))
        else:
            rest.append(w)
    for w in rest:
        pairs.append(_Pair(w, pool.pop(0) if pool else None, "other"))
    return pairs, pool


def _unbound(pair: _Pair) -> list[str]:
    wants = set(pair.wanted.get("secrets", []))
    if pair.row is None or pair.mode == "other":
        return sorted(wants)
    return sorted(wants - set(action_secrets.hints(pair.row.action_config)))


def _missing_subscription_secrets(session: Session, doc: Document) -> dict[str, list[str]]:
    """Subscription secrets the file lists that the agent will not have after the import."""
    names = dict(session.execute(select(IntegrationInstance.id, IntegrationInstance.name)).all())
    by_name = {v: k for k, v in names.items()}
    missing: dict[str, list[str]] = {}
    for inst in doc.instances:
        wanted = canonical_instance(inst)["subscriptions"]
        if not any(w.get("secrets") for w in wanted):
            continue
        rows = list(session.scalars(select(EventSubscription).where(
            EventSubscription.instance_id == by_name.get(inst.name)).order_by(
            EventSubscription.created_at, EventSubscription.id))) \
            if inst.name in by_name else []
        for pair in _pair_subscriptions(rows, wanted, names)[0]:
            absent = _unbound(pair)
            if absent:
                where = f"instances[{inst.name}].subscriptions[{pair.wanted['event_type']}]"
                missing[where] = sorted(set(missing.get(where, [])) | set(absent))
    return missing


def _apply_subscriptions(ctx: _Context, inst: IntegrationInstance,
                         wanted: list[dict[str, Any]], ids: dict[str, uuid.UUID]) -> None:
    names = {v: k for k, v in ids.items()}
    rows = list(ctx.session.scalars(select(EventSubscription).where(
        EventSubscription.instance_id == inst.id).order_by(EventSubscription.created_at,
                                                           EventSubscription.id)))
    pairs, spare = _pair_subscriptions(rows, wanted, names)
    for pair in pairs:
        if pair.mode == "same":
            continue
        s, row = pair.wanted, pair.row
        if row is None:
            row = EventSubscription(id=uuid.uuid4(), instance_id=inst.id,
                                    created_by=ctx.who.id if ctx.who else None)
            ctx.session.add(row)
            op = "create"
        else:
            op = "update"
        config = dict(s["action_config"])
        target = config.pop("instance", None)
        if target is not None:
            config["instance_id"] = str(ids[target])
        # Secrets: the edited subscription's sealed ones (same row, so the same binding),
        # else declared unbound, to be set through the API (reported as missing).
        stored = row.action_config or {}
        if pair.mode == "carry":
            config.update({k: v for k, v in stored.items()
                           if k == action_secrets.SEALED or k in s.get("secrets", [])})
        elif s.get("secrets"):
            config[action_secrets.SEALED] = {"fields": sorted(s["secrets"]), "hints": {}}
        row.event_type, row.action_type = s["event_type"], ActionType(s["action_type"])
        row.filter_criteria, row.action_config = dict(s["filter"]), config
        row.is_active = s["active"]
        ctx.session.flush()
        ctx.record(f"subscription.{op}", f"subscription to {row.event_type!r} {op}d from a "
                   "configuration file", instance_id=inst.id, subscription_id=str(row.id))
    for row in spare:
        ctx.record("subscription.delete", "subscription deleted (not in the file)",
                   instance_id=inst.id, subscription_id=str(row.id))
        ctx.session.delete(row)


def _apply_instances(ctx: _Context, plan: Plan) -> None:
    session = ctx.session
    keys = dict(session.execute(select(IntegrationConnector.key, IntegrationConnector.id)).all())
    creds = dict(session.execute(select(AuthenticationConfig.name,
                                        AuthenticationConfig.id)).all())
    rows = {r.name: r for r in session.scalars(select(IntegrationInstance))}
    live = {i["name"]: i for i in plan.live["instances"]}
    changed = [i for i in plan.desired["instances"] if live.get(i["name"]) != i]
    # Create first, so subscriptions can name any instance of the file.
    for inst in changed:
        if inst["name"] not in rows:
            row = IntegrationInstance(id=uuid.uuid4(), name=inst["name"],
                                      connector_id=keys[inst["connector"]],
                                      status=InstanceStatus.CONFIGURING,
                                      created_by=ctx.who.id if ctx.who else None)
            session.add(row)
            rows[inst["name"]] = row
    session.flush()
    ids = {name: row.id for name, row in rows.items()}
    problems: list[ConfigError] = []
    for inst in changed:
        row = rows[inst["name"]]
        op = "create" if inst["name"] not in live else "update"
        row.connector_id = keys[inst["connector"]]
        row.auth_config_id = creds[inst["credential"]] if inst["credential"] else None
        row.configuration = copy.deepcopy(inst["configuration"])
        row.options = InstanceOptions.model_validate(inst["options"]).model_dump()
        row.connection_url, row.version_compatibility = (inst["connection_url"],
                                                         inst["version_compatibility"])
        session.flush()
        session.refresh(row, ["connector"])
        if inst["enabled"]:
            gaps = activation_problems(session, row)
            problems += [ConfigError(f"instances[{row.name}]", fld, f"cannot be enabled: "
                                     f"{message}") for fld, message in gaps]
            row.status = InstanceStatus.ACTIVE if row.status != InstanceStatus.ERROR \
                else row.status
        elif row.status in (InstanceStatus.ACTIVE, InstanceStatus.ERROR):
            row.status = InstanceStatus.INACTIVE
        ctx.record(f"instance.{op}", f"instance {row.name!r} {op}d from a configuration "
                   "file", instance_id=row.id)
        _apply_mappings(ctx, row, inst["mappings"])
        _apply_schedules(ctx, row, inst["schedules"])
        _apply_subscriptions(ctx, row, inst["subscriptions"], ids)
    if problems:
        raise ConfigInvalid(problems)


def _apply_prune(ctx: _Context, plan: Plan) -> None:
    if not plan.prune:
        return
    session = ctx.session
    wanted = {i["name"] for i in plan.desired["instances"]}
    for row in list(session.scalars(select(IntegrationInstance))):
        if row.name not in wanted:
            activity.record(session, "instance.delete", f"instance {row.name!r} deleted (not "
                            "in the file)", principal=ctx.who,
                            details={"instance_id": str(row.id), "source": "config-import"})
            session.delete(row)
    session.flush()
    wanted = {c["name"] for c in plan.desired["credentials"]}
    for cred in list(session.scalars(select(AuthenticationConfig))):
        if cred.name not in wanted:
            ctx.record("credential.delete", f"credential {cred.name!r} deleted (not in the "
                       "file)", auth_config_id=str(cred.id))
            session.delete(cred)
    wanted = {c["key"] for c in plan.desired["connectors"]}
    for conn in list(session.scalars(select(IntegrationConnector).where(
            IntegrationConnector.origin == ConnectorOrigin.DECLARATIVE))):
        if conn.key not in wanted:
            ctx.record("connector.delete", f"declarative connector {conn.key!r} removed (not "
                       "in the file)", connector_id=str(conn.id))
            session.delete(conn)
    session.flush()


def apply(session: Session, plan: Plan, *, registry: Registry, vault: Vault | None,
          who: Principal | None = None,
          notify: Callable[[uuid.UUID], None] | None = None) -> list[uuid.UUID]:
    """Carry the plan out in the session's transaction (the caller commits or rolls back).

    Returns the ids of schedules that changed (for the scheduler, after the commit).
    """
    ctx = _Context(session, vault, who, notify)
    _apply_connectors(ctx, plan, registry)
    _apply_credentials(ctx, plan)
    _apply_instances(ctx, plan)
    _bind_subscription_secrets(ctx, subscription_secrets.split(plan.secrets)[1])
    _apply_prune(ctx, plan)
    ctx.record("config.import", f"configuration imported: {len(plan.changes)} change(s)",
               changes=[f"{c.action} {c.object}" for c in plan.changes])
    plan.applied = True
    return ctx.changed_schedules


def _bind_subscription_secrets(ctx: _Context, secrets: Secrets) -> None:
    """Seal subscription secrets named ``instances[NAME].subscriptions[EVENT]``."""
    if not secrets:
        return

    def noted(row: EventSubscription, fields: list[str]) -> None:
        ctx.record("subscription.update", f"secrets bound to the {row.event_type!r} "
                   "subscription", instance_id=row.instance_id,
                   subscription_id=str(row.id), fields=fields)

    problems = subscription_secrets.bind(ctx.session, ctx.need_vault(), secrets, noted)
    if problems:
        raise ConfigInvalid([ConfigError(*p) for p in problems])


def bind_secrets(session: Session, vault: Vault, secrets: Secrets,
                 who: Principal | None = None) -> dict[str, list[str]]:
    """Bind secret values to existing credentials by name, and subscriptions' secrets by
    ``instances[NAME].subscriptions[EVENT]``; returns what credentials still miss."""
    secrets, for_subscriptions = subscription_secrets.split(secrets)
    rows = {r.name: r for r in session.scalars(select(AuthenticationConfig).where(
        AuthenticationConfig.name.in_(list(secrets))))}
    errors = [ConfigError(f"secrets[{n}]", "(credential)", "no credential of that name")
              for n in sorted(set(secrets) - set(rows))]
    for name, row in sorted(rows.items()):
        allowed = set(secret_names(row.auth_type))
        errors += [ConfigError(f"secrets[{name}]", f, "is not a secret field of a "
                               f"{row.auth_type.value} credential")
                   for f in sorted(set(secrets[name]) - allowed)]
    if errors:
        raise ConfigInvalid(errors)
    ctx = _Context(session, vault, who, None)
    missing: dict[str, list[str]] = {}
    for name, row in sorted(rows.items()):
        _bind(ctx, row, row.oauth_config or {}, secrets[name], keep_stored=True)
        if not row.credentials:
            model = FIELD_MODELS[auth_method(row.auth_type.value)]
            missing[name] = sorted(n for n in secret_names(row.auth_type)
                                   if n in model.model_fields
                                   and model.model_fields[n].is_required()
                                   and n not in secrets[name])
        ctx.record("credential.update", f"secrets bound to credential {name!r}",
                   auth_config_id=str(row.id), fields=["credentials"])
    _bind_subscription_secrets(ctx, for_subscriptions)
    return missing
