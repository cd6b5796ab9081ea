"""Master key rotation: re-wrap every credential's data key, safe to interrupt and re-run.

The plan, in an order that survives a crash at any point:

1. Read every ``AuthenticationConfig.credentials`` and prove the old key unwraps each data key
   (rows already on the new key are fine). Any other key, damage or plain text stops the
   rotation here, before anything is written.
2. Stage the new key beside the old one (keyring entry, env var or ``master.key.next``) and note
   it in ``vault.json``: from now on ``Vault.load`` holds both keys, so every row opens whichever
   key wraps it.
3. Re-wrap rows in batches, one transaction per batch. Only the wrapped data key and the key
   id change; the ciphertext does not.
4. When no row is left on the old key, make the new key the current one and drop the staged copy.

Re-running after a crash repeats step 1 (rows on the new key are skipped) and carries on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.db.models import AuthenticationConfig, IntegrationInstance
from server.vault.envelope import MasterKey, check_unwraps, envelope_kid, is_envelope, rewrap
from server.vault.errors import RotationError, WrongMasterKey
from server.vault.vault import Vault

#: Where instance configurations keep sealed secret fields (server.services.instance_config).
SEALED = "__sealed__"
DEFAULT_BATCH_SIZE = 100


@dataclass(frozen=True)
class RotationReport:
    old_kid: str
    new_kid: str
    total: int
    rewrapped: int
    #: Rows already on the new key (from an earlier, interrupted run).
    already_current: int
    #: Rows with no secret at all (an empty ``credentials`` object).
    empty: int
    batches: int
    #: What the operator still has to do (only when the key comes from the environment).
    operator_action: str | None = None
    #: Revision snapshots whose sealed secrets were re-wrapped (a rollback can open them).
    snapshots: int = 0
    #: Snapshots sealed by a key no longer held (a rotation before snapshots were re-wrapped):
    #: left as they are; rolling back to one is refused with a message saying so.
    stale_snapshots: int = 0


def rotate_master_key(
    session_factory: Callable[[], Session],
    vault_old: Vault,
    new_key: MasterKey | bytes,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_batch: Callable[[int], None] | None = None,
) -> RotationReport:
    """Re-wrap all credential data keys from ``vault_old``'s current key to ``new_key``.

    ``after_batch(n)`` runs after batch ``n`` (1-based) is committed; progress reporting uses
    it, and tests use it to simulate a crash between batches.
    """
    new = new_key if isinstance(new_key, MasterKey) else MasterKey(new_key)
    old = vault_old.current_key
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    staged = vault_old.pending_key
    if staged is not None and staged != new:
        raise RotationError(
            f"a rotation to master key {staged.kid} is in progress; re-run it with that key "
            "(`simpletrust secrets rotate-master-key` does) before starting another"
        )

    to_rewrap, already, empty = _preflight(session_factory, old, new)
    others = _preflight_others(session_factory, old, new)
    snapshots, stale = _preflight_snapshots(session_factory, old, new)
    total = len(to_rewrap) + already + empty
    if old == new:
        return RotationReport(old.kid, new.kid, total, 0, already, empty, 0)

    vault_old.stage_next_key(new)
    batches = 0
    rewrapped = 0
    for start in range(0, len(to_rewrap), batch_size):
        ids = to_rewrap[start : start + batch_size]
        with session_factory() as session:
            rows = session.execute(
                select(AuthenticationConfig.id, AuthenticationConfig.credentials).where(
                    AuthenticationConfig.id.in_(ids)
                )
            ).all()
            for row_id, credentials in rows:
                if not is_envelope(credentials) or envelope_kid(credentials) != old.kid:
                    continue  # changed since the preflight: sealed anew with the new key
                session.execute(
                    update(AuthenticationConfig)
                    .where(AuthenticationConfig.id == row_id)
                    # Keep updated_at: re-wrapping is not a change of the credential.
                    .values(
                        credentials=rewrap(old, new, str(row_id), credentials),
                        updated_at=AuthenticationConfig.updated_at,
                    )
                )
                rewrapped += 1
            session.commit()
        batches += 1
        if after_batch is not None:
            after_batch(batches)

    rewrapped += _rewrap_others(session_factory, old, new, others, batch_size)
    _rewrap_snapshots(session_factory, old, new, snapshots, batch_size)
    action = vault_old.promote_next_key()
    return RotationReport(old.kid, new.kid, total, rewrapped, already, empty, batches, action,
                          len(snapshots), stale)


@dataclass(frozen=True)
class _Sealed:
    """Envelopes kept outside credentials: where they are, and the record id they bind to."""

    model: Any
    key: str  # primary-key attribute
    column: str  # JSON column holding the envelope (or a dict holding it)
    aad: Callable[[Any], str]
    inside: tuple[str, ...] = ()  # path inside the column to the envelope

    def envelope(self, value: Any) -> dict[str, Any] | None:
        for part in self.inside:
            value = value.get(part) if isinstance(value, dict) else None
        return value if is_envelope(value) else None

    def replaced(self, value: Any, envelope: dict[str, Any]) -> Any:
        if not self.inside:
            return envelope
        if len(self.inside) == 2:
            outer, inner = self.inside
            return {**value, outer: {**value[outer], inner: envelope}}
        raise ValueError("unsupported envelope path")


def _sealed_places() -> list[_Sealed]:
    # Imported here: these models belong to features the vault must not depend on at import.
    from server.db.models import (  # noqa: PLC0415
        EventSubscription,
        OAuthSignIn,
        SubscriptionSecret,
        WebhookEndpoint,
    )

    return [
        _Sealed(IntegrationInstance, "id", "configuration", str, (SEALED, "envelope")),
        _Sealed(WebhookEndpoint, "instance_id", "secrets", lambda k: f"webhook:{k}"),
        _Sealed(SubscriptionSecret, "subscription_id", "secrets",
                lambda k: f"subscription:{k}"),
        _Sealed(OAuthSignIn, "id", "sealed", lambda k: f"oauth-sign-in:{k}"),
        # A notification's Slack URL (server.events.action_secrets).
        _Sealed(EventSubscription, "id", "action_config",
                _subscription_action_aad, (SEALED, "envelope")),
    ]


def _preflight_others(
    session_factory: Callable[[], Session], old: MasterKey, new: MasterKey
) -> list[tuple[_Sealed, Any]]:
    """Instance configuration secrets and webhook/subscription secrets still on the old key."""
    pending: list[tuple[_Sealed, Any]] = []
    with session_factory() as session:
        for place in _sealed_places():
            key_col = getattr(place.model, place.key)
            rows = session.execute(select(key_col, getattr(place.model, place.column))
                                   .order_by(key_col)).all()
            for row_key, value in rows:
                envelope = place.envelope(value)
                if envelope is None:
                    continue
                kid = envelope_kid(envelope)
                if kid == old.kid:
                    check_unwraps(old, place.aad(row_key), envelope)
                    pending.append((place, row_key))
                elif kid != new.kid:
                    raise WrongMasterKey(
                        f"secrets of {place.model.__tablename__} {row_key} are sealed with "
                        f"master key {kid}, neither the current key ({old.kid}) nor the new "
                        "one; nothing was changed")
    return pending


def _rewrap_others(
    session_factory: Callable[[], Session], old: MasterKey, new: MasterKey,
    pending: list[tuple[_Sealed, Any]], batch_size: int,
) -> int:
    done = 0
    for start in range(0, len(pending), batch_size):
        with session_factory() as session:
            for place, row_key in pending[start:start + batch_size]:
                row = session.get(place.model, row_key)
                value = getattr(row, place.column) if row is not None else None
                envelope = place.envelope(value)
                if row is None or envelope is None or envelope_kid(envelope) != old.kid:
                    continue  # changed since the preflight: sealed anew with the new key
                fresh = rewrap(old, new, place.aad(row_key), envelope)
                setattr(row, place.column, place.replaced(value, fresh))
                done += 1
            session.commit()
    return done


def _subscription_action_aad(subscription_id: Any) -> str:
    return f"subscription-action:{subscription_id}"


#: Where revision snapshots (server.revisions.snapshots) keep sealed secrets, per object type:
#: the path to the envelope and the associated data it was sealed with (the object's).
SNAPSHOT_SEALED: dict[str, tuple[tuple[str, ...], Callable[[Any], str]]] = {
    "instance": (("configuration", SEALED, "envelope"), str),
    "subscription": (("action_config", SEALED, "envelope"), _subscription_action_aad),
}


def snapshot_envelope(object_type: str, snapshot: Any) -> dict[str, Any] | None:
    """The envelope inside a revision snapshot, if its object type keeps one and it has one."""
    where = SNAPSHOT_SEALED.get(object_type)
    value = snapshot
    for part in where[0] if where else ("",):
        value = value.get(part) if isinstance(value, dict) else None
    return value if where and is_envelope(value) else None


def _with_envelope(value: dict[str, Any], path: tuple[str, ...],
                   envelope: dict[str, Any]) -> dict[str, Any]:
    head, *rest = path
    return {**value, head: _with_envelope(value[head], tuple(rest), envelope) if rest
            else envelope}


def _preflight_snapshots(
    session_factory: Callable[[], Session], old: MasterKey, new: MasterKey,
) -> tuple[list[uuid.UUID], int]:
    """Revisions whose snapshot holds secrets on the old key (checked), and how many hold
    secrets on a key that is neither the old nor the new one (stale: never fatal, since
    history cannot be re-entered)."""
    from server.db.models import ConfigRevision  # noqa: PLC0415 - see _sealed_places

    pending: list[uuid.UUID] = []
    stale = 0
    with session_factory() as session:
        rows = session.execute(
            select(ConfigRevision.id, ConfigRevision.object_type, ConfigRevision.object_id,
                   ConfigRevision.snapshot)
            .where(ConfigRevision.object_type.in_(list(SNAPSHOT_SEALED)))
            .order_by(ConfigRevision.id)).all()
    for row_id, object_type, object_id, snap in rows:
        envelope = snapshot_envelope(object_type, snap)
        if envelope is None:
            continue
        kid = envelope_kid(envelope)
        if kid == old.kid:
            check_unwraps(old, SNAPSHOT_SEALED[object_type][1](object_id), envelope)
            pending.append(row_id)
        elif kid != new.kid:
            stale += 1
    return pending, stale


def _rewrap_snapshots(
    session_factory: Callable[[], Session], old: MasterKey, new: MasterKey,
    pending: list[uuid.UUID], batch_size: int,
) -> None:
    """Re-wrap the secrets inside revision snapshots; the revision's content hash stays (it
    is taken without the wrapping, see server.revisions.tracking)."""
    from server.db.models import ConfigRevision  # noqa: PLC0415 - see _sealed_places

    for start in range(0, len(pending), batch_size):
        with session_factory() as session:
            for rev in session.scalars(select(ConfigRevision).where(
                    ConfigRevision.id.in_(pending[start:start + batch_size]))):
                envelope = snapshot_envelope(rev.object_type, rev.snapshot)
                if envelope is None or envelope_kid(envelope) != old.kid:
                    continue
                path, aad = SNAPSHOT_SEALED[rev.object_type]
                rev.snapshot = _with_envelope(
                    rev.snapshot, path, rewrap(old, new, aad(rev.object_id), envelope))
            session.commit()


def _preflight(
    session_factory: Callable[[], Session], old: MasterKey, new: MasterKey
) -> tuple[list[uuid.UUID], int, int]:
    """Check every row before writing anything; return the ids still on the old key."""
    to_rewrap: list[uuid.UUID] = []
    already = empty = 0
    plain: list[str] = []
    with session_factory() as session:
        rows = session.execute(
            select(AuthenticationConfig.id, AuthenticationConfig.credentials).order_by(
                AuthenticationConfig.id
            )
        ).all()
    for row_id, credentials in rows:
        value: Any = credentials
        if not value:
            empty += 1
            continue
        if not is_envelope(value):
            plain.append(str(row_id))
            continue
        kid = envelope_kid(value)
        if kid == new.kid:
            already += 1
        elif kid == old.kid:
            check_unwraps(old, str(row_id), value)
            to_rewrap.append(row_id)
        else:
            raise WrongMasterKey(
                f"credentials of record {row_id} are sealed with master key {kid}, which is "
                f"neither the current key ({old.kid}) nor the new one ({new.kid}); nothing was "
                "changed"
            )
    if plain:
        raise RotationError(
            f"{len(plain)} credential record(s) are not encrypted ({', '.join(plain[:5])}); "
            "nothing was changed"
        )
    return to_rewrap, already, empty
