"""Task management over both kinds of filerec task: recognition tasks (records of services.tasks)
and training tasks (the platform's training jobs). A task id is looked up as a recognition task
first, then as a training job."""

from __future__ import annotations

from typing import Any

from raysight.context import Platform
from raysight.errors import NotFound
from raysight.services import tasks
from raysight.services.filerec import training_tasks
from raysight.services.filerec.recognition import KIND, view


def _recognition(ctx: Platform, task_id: str) -> dict[str, Any] | None:
    try:
        return tasks.get(ctx=ctx, task_id=task_id, kind=KIND)
    except NotFound:
        return None


def _job_or_not_found(ctx: Platform, task_id: str) -> str:
    try:
        training_tasks.get(ctx=ctx, job_id=task_id)
    except NotFound:
        raise NotFound(f"task '{task_id}' not found") from None
    return task_id


def list_tasks(*, ctx: Platform, completed_only: bool = False) -> dict[str, Any]:
    """Recognition tasks (per-file status, no page details) and training tasks, newest first."""
    statuses = (tasks.COMPLETED,) if completed_only else None
    rows = [view(t, details=False) for t in tasks.list_tasks(ctx=ctx, kind=KIND, statuses=statuses)]
    rows += training_tasks.list_jobs(ctx=ctx, completed_only=completed_only)
    rows.sort(key=lambda t: t["created_at"] or "", reverse=True)
    return {"tasks": rows, "total": len(rows)}


def single(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    task = _recognition(ctx, task_id)
    if task is not None:
        return view(task)
    return training_tasks.get(ctx=ctx, job_id=_job_or_not_found(ctx, task_id))


def cancel(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    """Stop a pending or running task (Conflict once it has ended). Unread files stay pending; a
    training job stops keeping its checkpoints."""
    if _recognition(ctx, task_id) is not None:
        return {"task_id": task_id, "status": tasks.request_cancel(ctx=ctx, task_id=task_id, kind=KIND)}
    return training_tasks.cancel(ctx=ctx, job_id=_job_or_not_found(ctx, task_id))


def delete(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    """Remove an ended task with its files and results (Conflict while it runs: cancel it first)."""
    if _recognition(ctx, task_id) is not None:
        tasks.delete(ctx=ctx, task_id=task_id, kind=KIND)
        return {"task_id": task_id}
    return training_tasks.delete(ctx=ctx, job_id=_job_or_not_found(ctx, task_id))
