"""Tasks for manual intervention: one open task per instance and error class.

A failure the agent could not recover from opens a task (or counts one more occurrence of the
open one); a later completed sync resolves it by itself. Tasks are events (``task.opened``,
``task.resolved``) so subscriptions can route them, and can be pushed to an ITSM connector's
write action (Jira's ``create_issue``) through :mod:`server.api.routes.tasks`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from server.agents.dbutil import insert_or_skip
from server.db.models import IntegrationInstance, SyncExecution, Task, TaskStatus
from server.db.types import utcnow
from server.events.emit import emit

TITLES = {
    "auth": "Credentials refused",
    "config": "Configuration invalid",
    "transient": "System unreachable",
    "rate_limited": "Rate limited",
    "remote": "Remote system failing or refusing",
    "data": "Unreadable data",
    "internal": "Agent failure",
}


def task_data(task: Task, instance_name: str | None = None) -> dict[str, Any]:
    return {
        "task_id": str(task.id), "status": task.status.value,
        "instance_id": str(task.instance_id) if task.instance_id else None,
        "instance": instance_name, "error_category": task.error_category,
        "title": task.title, "description": task.description, "hint": task.hint,
        "occurrences": task.occurrences,
        "sync_id": str(task.sync_id) if task.sync_id else None,
    }


def open_for_failure(session: Session, instance: IntegrationInstance, execution: SyncExecution,
                     error: dict[str, Any], step: str) -> Task:
    """Open the task of this instance and error class, or count one more occurrence."""
    category = str(error.get("category") or "internal")
    key = f"{instance.id}:{category}"
    title = f"{TITLES.get(category, 'Sync failing')}: {instance.name}"[:300]
    description = (f"Sync {execution.id} of {instance.name!r} failed ({category}): "
                   f"{error.get('message') or 'unknown error'}")
    hint = " ".join(h for h in (error.get("hint"), step) if h)
    now = utcnow()
    task_id = uuid.uuid4()
    created = insert_or_skip(session, Task.__table__, {  # type: ignore[arg-type]
        "id": task_id, "active_key": key, "status": TaskStatus.OPEN.value,
        "instance_id": instance.id, "sync_id": execution.id, "error_category": category,
        "title": title, "description": description, "hint": hint, "occurrences": 1,
        "created_at": now, "updated_at": now}, ["active_key"])
    task = session.scalar(select(Task).where(Task.active_key == key))
    assert task is not None
    if created:
        emit(session, "task.opened", task_data(task, instance.name),
             dedupe_key=f"task.opened:{task.id}", instance_id=instance.id)
    else:
        task.occurrences += 1
        task.sync_id, task.description, task.hint = execution.id, description, hint
    return task


def resolve(session: Session, task: Task, resolution: str) -> None:
    if task.status == TaskStatus.RESOLVED:
        return
    task.status, task.active_key = TaskStatus.RESOLVED, None
    task.resolution, task.resolved_at = resolution[:4000], utcnow()
    instance = session.get(IntegrationInstance, task.instance_id) if task.instance_id else None
    emit(session, "task.resolved", {**task_data(task, instance.name if instance else None),
                                    "resolution": task.resolution},
         dedupe_key=f"task.resolved:{task.id}", instance_id=task.instance_id)


#: Built once: this runs at the end of every completed sync (its cache key, computed once).
_OPEN_TASKS = select(Task).where(Task.instance_id == bindparam("iid"),
                                 Task.status == TaskStatus.OPEN)


def resolve_for_instance(session: Session, instance_id: uuid.UUID, resolution: str) -> int:
    open_tasks = list(session.scalars(_OPEN_TASKS, {"iid": instance_id}))
    for task in open_tasks:
        resolve(session, task, resolution)
    return len(open_tasks)


def itsm_input(task: Task, instance_name: str | None, fields: set[str],
               given: dict[str, Any]) -> dict[str, Any]:
    """The write action's input: summary, description and a dedupe key where the action takes
    them (``fields``: its input model's fields), then what the caller gave (which wins)."""
    text = f"{task.description}\n\nWhat to do: {task.hint or 'see the troubleshooting guide'}"
    base: dict[str, Any] = {
        "summary": f"[SimpleTrust] {task.title}"[:255],
        "title": f"[SimpleTrust] {task.title}"[:255],
        "description": text,
        "dedupe_key": f"simpletrust-task-{task.id}",
        "labels": ["simpletrust"],
    }
    return {**{k: v for k, v in base.items() if k in fields}, **given}
