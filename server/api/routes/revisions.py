"""Revision history under each resource's own prefix.

``GET /instances/{id}/revisions``, ``GET …/revisions/diff?from_revision=&to_revision=``,
``GET …/revisions/{n}`` and ``POST …/revisions/{n}/rollback``, the same for
``/auth-configs``, ``/mappings``, ``/schedules`` and ``/event-subscriptions``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from server.api.deps import Operator, Reader, SessionDep
from server.api.problems import Conflict, NotFound, Unprocessable, problem_responses
from server.api.schemas.revisions import (
    RevisionChange,
    RevisionDiff,
    RevisionRead,
    RollbackRead,
)
from server.db.models import ConfigRevision
from server.revisions import service
from server.vault import Vault

#: Revision numbers fit a 32-bit column on every database (larger input is a 422).
MAX_REVISION = 2**31 - 1
RevisionNumber = Annotated[int, Path(ge=1, le=MAX_REVISION)]

router = APIRouter(responses=problem_responses(401, 403, 404, 422))

#: URL prefix, object type, the word used in messages, the OpenAPI tag.
RESOURCES = (
    ("/instances", "instance", "instance", "instances"),
    ("/auth-configs", "credential", "credential", "credentials"),
    ("/mappings", "mapping", "mapping", "mappings"),
    ("/schedules", "schedule", "schedule", "schedules"),
    ("/event-subscriptions", "subscription", "subscription", "events"),
)


def _read(row: ConfigRevision) -> RevisionRead:
    return RevisionRead(
        object_type=row.object_type, object_id=row.object_id, revision=row.revision,
        operation=row.operation, restored_from=row.restored_from, author=row.author,
        author_id=row.author_id, created_at=row.created_at, content_hash=row.content_hash,
        snapshot=row.snapshot)


def _add_routes(prefix: str, object_type: str, what: str, tag: str) -> None:
    name = object_type

    def list_revisions(object_id: uuid.UUID, session: SessionDep, _: Reader
                       ) -> list[RevisionRead]:
        rows = service.list_revisions(session, object_type, object_id)
        if not rows:
            raise NotFound(f"no revisions of {what} {object_id}")
        return [_read(r) for r in rows]

    def diff_revisions(
        object_id: uuid.UUID, session: SessionDep, _: Reader,
        from_revision: Annotated[int | None, Query(
            ge=1, le=MAX_REVISION, description="Default: the one before to_revision")] = None,
        to_revision: Annotated[int | None, Query(
            ge=1, le=MAX_REVISION, description="Default: the newest")] = None,
    ) -> RevisionDiff:
        newest = service.latest(session, object_type, object_id)
        if newest == 0:
            raise NotFound(f"no revisions of {what} {object_id}")
        to_rev = to_revision or newest
        from_rev = from_revision or max(1, to_rev - 1)
        try:
            changes = service.compare(session, object_type, object_id, from_rev, to_rev)
        except service.RevisionNotFound as exc:
            raise NotFound(str(exc)) from None
        return RevisionDiff(object_type=object_type, object_id=object_id,
                            from_revision=from_rev, to_revision=to_rev,
                            changes=[RevisionChange(**c.as_dict()) for c in changes])

    def get_revision(object_id: uuid.UUID, revision: RevisionNumber, session: SessionDep, _: Reader
                     ) -> RevisionRead:
        try:
            return _read(service.get_revision(session, object_type, object_id, revision))
        except service.RevisionNotFound as exc:
            raise NotFound(str(exc)) from None

    def rollback(object_id: uuid.UUID, revision: RevisionNumber, request: Request,
                 session: SessionDep, who: Operator) -> RollbackRead:
        """Restore the revision's configuration; the result is a new revision."""
        vault: Vault = request.app.state.vault
        try:
            changed = service.rollback(session, vault, object_type, object_id, revision, who)
        except service.RevisionNotFound as exc:
            raise NotFound(str(exc)) from None
        except service.RollbackRefused as exc:
            status = Unprocessable if any(f == "revision" for f, _m in exc.errors) else Conflict
            raise status(str(exc), errors=exc.errors) from None
        session.commit()
        newest = service.latest(session, object_type, object_id)
        return RollbackRead(changed=sorted(changed), revision=_read(
            service.get_revision(session, object_type, object_id, newest)))

    path = f"{prefix}/{{object_id}}/revisions"
    router.add_api_route(path, list_revisions, methods=["GET"], tags=[tag],
                         response_model=list[RevisionRead], name=f"list_{name}_revisions",
                         summary=f"Revisions of a {what}, oldest first")
    router.add_api_route(f"{path}/diff", diff_revisions, methods=["GET"], tags=[tag],
                         response_model=RevisionDiff, name=f"diff_{name}_revisions",
                         summary=f"What changed between two revisions of a {what}")
    router.add_api_route(f"{path}/{{revision}}", get_revision, methods=["GET"], tags=[tag],
                         response_model=RevisionRead, name=f"get_{name}_revision")
    router.add_api_route(f"{path}/{{revision}}/rollback", rollback, methods=["POST"],
                         tags=[tag], response_model=RollbackRead,
                         name=f"rollback_{name}", responses=problem_responses(409),
                         summary=f"Roll a {what} back to a revision")


for _prefix, _type, _what, _tag in RESOURCES:
    _add_routes(_prefix, _type, _what, _tag)
