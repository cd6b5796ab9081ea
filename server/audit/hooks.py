"""Session hooks that turn changes into revisions and audit entries at commit.

Installed once for every SQLAlchemy session of the process (:func:`install`). A commit with
nothing to audit costs one ``session.flush()`` of an already clean session; one that changed
only runtime state of a tracked object, a read of its latest revision (no chain lock).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, SessionTransaction

from server.audit import chain
from server.audit.canonical import content_hash
from server.db.models import AuthenticationConfig, ConfigRevision
from server.revisions import tracking
from server.revisions.snapshots import snapshot

_installed = False
_lock = threading.Lock()
USED = "simpletrust.audit.credentials_used"


def install() -> None:
    global _installed  # noqa: PLW0603 - one registration per process
    with _lock:
        if _installed:
            return
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)
        _installed = True


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    tracking.collect(session)
    for obj in session.dirty:
        if isinstance(obj, AuthenticationConfig) and \
                inspect(obj).attrs.last_used.history.has_changes():
            used: dict[Any, AuthenticationConfig] = session.info.setdefault(USED, {})
            used[obj.id] = obj


def _credential_uses(session: Session, notes: list[chain.Note]) -> list[chain.Note]:
    """One entry per credential the transaction used, with what it was used for (unless
    :func:`credential_used` noted it already)."""
    used: dict[Any, AuthenticationConfig] = session.info.pop(USED, {})
    noted = {n.object_id for n in notes if n.action == "credential.use"}
    used = {cid: obj for cid, obj in used.items() if str(cid) not in noted}
    if not used:
        return []
    context = next((n for n in notes if n.object_type in ("sync", "instance")), None)
    about = ({"for": context.action, "object_type": context.object_type,
              "object_id": context.object_id} if context else {})
    return [_credential_note(obj, about)
            for _cid, obj in sorted(used.items(), key=lambda kv: str(kv[0]))]


def _credential_note(auth: AuthenticationConfig, about: dict[str, Any]) -> chain.Note:
    return chain.Note("credential.use", "credential", str(auth.id), details={
        "name": auth.name, "auth_type": getattr(auth.auth_type, "value", auth.auth_type),
        **about})


def credential_used(session: Session, auth: AuthenticationConfig, *, action: str,
                    object_type: str, object_id: str) -> None:
    """Note that ``auth`` was used for one object. The commit notes each credential the
    transaction used once, for the first object it names; a transaction that starts several
    syncs (a schedule tick's slots) notes each sync's use itself."""
    chain.note(session, _credential_note(auth, {"for": action, "object_type": object_type,
                                                "object_id": object_id}))


def _revision_due(session: Session) -> bool:
    """Whether a tracked change will make a revision, read before taking the chain lock.

    Runtime state of tracked objects (an instance's last connection, its status) changes far
    more often than configuration, and makes no revision; taking the chain's one-row lock to
    find that out queued every such commit of every agent behind each other. The same test
    :func:`server.revisions.tracking.write` makes, without writing.
    """
    changed: dict[tracking.Key, tracking.Change] = session.info.get(tracking.CHANGED) or {}
    for (object_type, object_id), change in changed.items():
        if change.kind != "update":
            return True
        last = session.execute(
            select(ConfigRevision.content_hash, ConfigRevision.operation)
            .where(ConfigRevision.object_type == object_type,
                   ConfigRevision.object_id == object_id)
            .order_by(ConfigRevision.revision.desc()).limit(1)).first()
        if last is None or last.operation == "delete" or \
                last.content_hash != content_hash(snapshot(session, change.obj)):
            return True
    return False


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the outermost commit does the work
    session.flush()
    if not (session.info.get(chain.PENDING) or session.info.get(USED)):
        if not tracking.has_pending(session):
            return
        if not _revision_due(session):
            tracking.clear(session)
            return
    head = chain.lock_head(session)
    revisions = tracking.write(session)
    notes = chain.take_pending(session)
    notes += _credential_uses(session, notes)
    by_object = {(r.object_type, str(r.object_id)): r for r in revisions}
    quoted: set[tuple[str, str]] = set()
    for item in notes:
        key = (item.object_type, item.object_id or "")
        rev = by_object.get(key)
        if rev is not None:
            item.before_hash = item.before_hash or rev.before_hash
            item.after_hash = item.after_hash or rev.after_hash
            item.details.setdefault("revision", rev.revision)
            quoted.add(key)
    # A change nobody announced (a direct model edit) is audited all the same.
    for key, rev in by_object.items():
        if key not in quoted:
            notes.append(chain.Note(f"{rev.object_type}.{rev.operation}", rev.object_type,
                                    str(rev.object_id), before_hash=rev.before_hash,
                                    after_hash=rev.after_hash,
                                    details={"revision": rev.revision}))
    chain.append(session, head, notes)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and not transaction.nested:
        chain.clear(session)
        tracking.clear(session)
        session.info.pop(USED, None)
