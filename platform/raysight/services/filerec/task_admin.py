"""Recognition task management: list, detail, cancel, delete (records of services.tasks)."""

from __future__ import annotations

from typing import Any

from raysight.context import Platform
from raysight.services import tasks
from raysight.services.filerec.recognition import KIND, view


def list_tasks(*, ctx: Platform, completed_only: bool = False) -> dict[str, Any]:
    """Every recognition task (newest first) with its per-file status, without page details."""
    statuses = (tasks.COMPLETED,) if completed_only else None
    rows = tasks.list_tasks(ctx=ctx, kind=KIND, statuses=statuses)
    return {"tasks": [view(t, details=False) for t in rows], "total": len(rows)}


def single(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    return view(tasks.get(ctx=ctx, task_id=task_id, kind=KIND))


def cancel(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    """Stop a pending or running task (Conflict once it has ended). Files not yet read stay pending."""
    status = tasks.request_cancel(ctx=ctx, task_id=task_id, kind=KIND)
    return {"task_id": task_id, "status": status}


def delete(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    """Remove an ended task with its files and results (Conflict while it runs: cancel it first)."""
    tasks.delete(ctx=ctx, task_id=task_id, kind=KIND)
    return {"task_id": task_id}
