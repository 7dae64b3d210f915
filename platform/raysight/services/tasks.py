"""Tracked tasks: long work (ingest, video, evaluation, export, pruning) that a client polls.

`start` records a task and runs the coroutine in the background of the calling process's event
loop; the record (DB) is the source of truth for status, progress, result and error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from raysight.context import Platform
from raysight.errors import Conflict, NotFound, RaysightError, public_message
from raysight.ids import random_id
from raysight.store.models import Task
from raysight.store.models.base import iso

log = logging.getLogger(__name__)

PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = "pending", "running", "completed", "failed", "cancelled"
CANCELLING = "cancelling"  # a cancel was asked for; the task's work loop ends it at its next check
Work = Callable[[Callable[[float], None]], Awaitable[dict[str, Any]]]
_running: dict[str, asyncio.Task[None]] = {}


def create(*, ctx: Platform, kind: str, params: dict[str, Any] | None = None, owner: str | None = None,
           task_id: str | None = None) -> str:
    task_id = task_id or random_id(kind)
    with ctx.db.session() as s:
        s.add(Task(id=task_id, kind=kind, status=PENDING, params=params or {}, owner=owner))
    return task_id


def update(*, ctx: Platform, task_id: str, **fields: Any) -> None:
    with ctx.db.session() as s:
        task = s.get(Task, task_id)
        if task is None:
            return
        for key, value in fields.items():
            setattr(task, key, value)


def get(*, ctx: Platform, task_id: str, kind: str | None = None) -> dict[str, Any]:
    with ctx.db.session() as s:
        task = s.get(Task, task_id)
        if task is None or (kind and task.kind != kind):
            raise NotFound(f"task '{task_id}' not found")
        return as_dict(task)


def as_dict(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "kind": task.kind,
        "status": task.status,
        "progress": task.progress,
        "owner": task.owner,
        "params": task.params,
        "result": task.result,
        "error": task.error,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
    }


async def run(*, ctx: Platform, task_id: str, work: Work) -> dict[str, Any]:
    """Run `work` for a recorded task, keeping the record current. Returns the result (or raises)."""
    update(ctx=ctx, task_id=task_id, status=RUNNING)

    def progress(value: float) -> None:
        update(ctx=ctx, task_id=task_id, progress=max(0.0, min(1.0, float(value))))

    try:
        result = await work(progress)
    except asyncio.CancelledError:
        update(ctx=ctx, task_id=task_id, status=CANCELLED, error="cancelled")
        raise
    except RaysightError as exc:
        update(ctx=ctx, task_id=task_id, status=FAILED, error=exc.message)
        raise
    except Exception as exc:
        log.exception("task %s failed", task_id)
        update(ctx=ctx, task_id=task_id, status=FAILED, error=public_message(exc))
        raise
    update(ctx=ctx, task_id=task_id, status=COMPLETED, progress=1.0, result=result)
    return result


def start(*, ctx: Platform, task_id: str, work: Work) -> None:
    """Run a recorded task in the background of the running event loop."""

    async def runner() -> None:
        try:
            await run(ctx=ctx, task_id=task_id, work=work)
        except BaseException:  # already recorded on the task
            pass
        finally:
            _running.pop(task_id, None)

    _running[task_id] = asyncio.get_running_loop().create_task(runner())


def cancel(*, ctx: Platform, task_id: str) -> bool:
    running = _running.get(task_id)
    if running is None:
        return False
    running.cancel()
    return True


def fail_interrupted(*, ctx: Platform) -> int:
    """At start-up no task of a previous process can still be running: mark them failed."""
    with ctx.db.session() as s:
        stale = s.query(Task).filter(Task.status.in_([PENDING, RUNNING, CANCELLING])).all()
        for task in stale:
            task.status = FAILED
            task.error = "interrupted: the server restarted while this task ran"
        return len(stale)


# -- listing, cooperative cancel, delete (recognition tasks of the filerec dialect use these) ---------
def list_tasks(*, ctx: Platform, kind: str, statuses: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Tasks of one kind, newest first (optionally only those in `statuses`)."""
    with ctx.db.session() as s:
        query = s.query(Task).filter(Task.kind == kind)
        if statuses:
            query = query.filter(Task.status.in_(list(statuses)))
        return [as_dict(t) for t in query.order_by(Task.created_at.desc(), Task.id.desc()).all()]


def request_cancel(*, ctx: Platform, task_id: str, kind: str | None = None) -> str:
    """Ask a pending or running task to stop: its record turns `cancelling` (work loops that poll
    `cancel_requested` end at their next check, in any process) and, when it runs in this process,
    its coroutine is cancelled at once. Returns the status after the request; Conflict for a task
    that has already ended."""
    with ctx.db.session() as s:
        task = s.get(Task, task_id)
        if task is None or (kind and task.kind != kind):
            raise NotFound(f"task '{task_id}' not found")
        if task.status not in (PENDING, RUNNING, CANCELLING):
            raise Conflict(f"task '{task_id}' has already ended ({task.status})")
        task.status = CANCELLING
    cancel(ctx=ctx, task_id=task_id)
    return CANCELLING


def cancel_requested(*, ctx: Platform, task_id: str) -> bool:
    with ctx.db.session() as s:
        task = s.get(Task, task_id)
        return task is None or task.status == CANCELLING


def delete(*, ctx: Platform, task_id: str, kind: str | None = None) -> None:
    """Remove an ended task's record and its folder (Conflict while it is pending or running)."""
    with ctx.db.session() as s:
        task = s.get(Task, task_id)
        if task is None or (kind and task.kind != kind):
            raise NotFound(f"task '{task_id}' not found")
        if task.status in (PENDING, RUNNING, CANCELLING):
            raise Conflict(f"task '{task_id}' is still {task.status}; cancel it first")
        s.delete(task)
    folder = ctx.workspace.task_dir(task_id)
    if folder.exists():
        ctx.workspace.remove(folder)
