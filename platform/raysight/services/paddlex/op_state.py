"""The state of a PaddleX task's model operations (evaluate, export, prune), read from the core's tracked
tasks whose ids the task record keeps: shared by the task view (jobs) and the operations (model_ops)."""

from __future__ import annotations

from typing import Any

from raysight.context import Platform
from raysight.errors import NotFound
from raysight.services import tasks
from raysight.services.paddlex.enums import TaskStatus

RUNNING = ("pending", "running", "cancelling")


def op_state_of(rec: dict[str, Any], key: str) -> dict[str, Any]:
    return dict(rec["attrs"].get(key) or {})


def op_task(ctx: Platform, task_id: str | None) -> dict[str, Any] | None:
    """The core task, None when there is none (or it was removed with its model)."""
    if not task_id:
        return None
    try:
        return tasks.get(ctx=ctx, task_id=task_id)
    except NotFound:
        return None


def stage_of(ctx: Platform, rec: dict[str, Any]) -> TaskStatus | None:
    """The TaskStatus of the task's latest model operation (None: none ran)."""
    latest = rec["attrs"].get("latest_op")
    if latest is None:
        return None
    task = op_task(ctx, op_state_of(rec, latest).get("task_id"))
    if task is None:
        return None
    running = task["status"] in RUNNING
    failed = task["status"] in ("failed", "cancelled")
    if latest == "evaluate":
        return TaskStatus.XEVALUATING if running else TaskStatus.XEVALUATEFAIL if failed else TaskStatus.XEVALUATED
    if latest == "export":
        return TaskStatus.XEXPORTING if running else TaskStatus.XEXPORTFAIL if failed else TaskStatus.XEXPORTED
    if latest == "prune":
        return TaskStatus.XPRUNEING if running else None
    return None


def prune_run_job(ctx: Platform, rec: dict[str, Any]) -> tuple[str, str | None]:
    """(core task status, fine-tuning job id once known) of a prune task's run."""
    state = op_state_of(rec, "prune_run")
    task = tasks.get(ctx=ctx, task_id=state["task_id"])
    return task["status"], (task["result"] or {}).get("job_id")
