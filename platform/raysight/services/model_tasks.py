"""What evaluation, export and pruning share: the model's backend and data, and running a blocking
model operation as a tracked task (services.tasks) in a worker thread, so that no request waits on it
and the event loop stays free.

Each task records ``params["model_id"]`` and is owned by that model (``owner``); `task_of` refuses a
task id that belongs to another model or kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from raysight.backend import Backend, ModelRef, Operation
from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound
from raysight.model_ops import EvalData, Progress
from raysight.services import datasets, models, tasks

SPLITS = ("val", "test", "train")


class Cancelled(Exception):
    """Raised in a task's thread at its next progress report after a cancel was asked for."""


def backend_for(ctx: Platform, model: dict[str, Any], operation: Operation) -> Backend:
    """The model's family, which must offer `operation` (Invalid otherwise)."""
    backend = ctx.plugins.backends.get(model["plugin"])
    if backend is None:
        raise Invalid(f"the model family '{model['plugin']}' of model '{model['model_id']}' is not installed")
    if not backend.supports(operation):
        raise Invalid(f"the '{backend.name}' model family has no {operation}")
    return backend


def model_and_ref(ctx: Platform, model_id: str) -> tuple[dict[str, Any], ModelRef]:
    """The model record with its `params` (model_name, imgsz, version: not in the public record) and the
    reference a family loads it from."""
    ref = models.model_ref(ctx=ctx, model_id=model_id)
    return {**models.get(ctx=ctx, model_id=model_id), "params": dict(ref.params)}, ref


def eval_data(ctx: Platform, model: dict[str, Any], *, dataset_id: str | None = None, version: str | None = None,
              split: str | None = None) -> EvalData:
    """The split a model is evaluated on: by default the version it was trained on, its 'val' split
    (its 'train' split when the version holds no validation images)."""
    dataset_id = dataset_id or model.get("dataset_id")
    if not dataset_id:
        raise Invalid(f"model '{model['model_id']}' names no dataset: give dataset_id (and version)")
    params = model.get("params") or models.model_ref(ctx=ctx, model_id=model["model_id"]).params
    version = version or str(params.get("version") or "v1")
    try:
        info = datasets.get_version(ctx=ctx, dataset_id=dataset_id, version=version)
    except Conflict as exc:
        raise NotFound(exc.message) from None
    if info.task_type != model["task_type"]:
        raise Invalid(f"model '{model['model_id']}' is a {model['task_type']} model but dataset "
                      f"'{dataset_id}' is a {info.task_type} dataset")
    counts = {"train": info.train_count, "val": info.val_count, "test": info.test_count}
    if split is None:
        split = "val" if info.val_count else "train"
    if split not in SPLITS:
        raise Invalid(f"split must be one of {', '.join(SPLITS)}")
    if not counts[split]:
        raise Invalid(f"{dataset_id} {version} has no images in its '{split}' split")
    return EvalData(task_type=info.task_type, root=info.root, data_yaml=info.data_yaml, split=split,
                    classes=list(info.classes), dataset_id=dataset_id, version=version)


def launch(*, ctx: Platform, kind: str, model_id: str, params: dict[str, Any],
           job: Callable[[str, Progress], dict[str, Any]]) -> dict[str, Any]:
    """Record a task of `kind` for `model_id` and run ``job(task_id, progress)`` in a worker thread in the
    background of the running event loop. Returns the task record (status pending)."""
    task_id = tasks.create(ctx=ctx, kind=kind, owner=model_id, params={"model_id": model_id, **params})

    async def work(progress: Callable[[float], None]) -> dict[str, Any]:
        def report(value: float) -> None:
            if tasks.cancel_requested(ctx=ctx, task_id=task_id):
                raise Cancelled(task_id)
            progress(value)

        return await asyncio.to_thread(job, task_id, report)

    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return tasks.get(ctx=ctx, task_id=task_id)


def task_of(ctx: Platform, *, model_id: str, task_id: str, kind: str) -> dict[str, Any]:
    """A task of `kind` that belongs to `model_id` (NotFound otherwise)."""
    models.get(ctx=ctx, model_id=model_id)
    task = tasks.get(ctx=ctx, task_id=task_id, kind=kind)
    if (task.get("params") or {}).get("model_id") != model_id:
        raise NotFound(f"task '{task_id}' not found for model '{model_id}'")
    return task


def tasks_of(ctx: Platform, *, model_id: str, kind: str) -> list[dict[str, Any]]:
    """The model's tasks of `kind`, newest first."""
    models.get(ctx=ctx, model_id=model_id)
    return [t for t in tasks.list_tasks(ctx=ctx, kind=kind) if (t.get("params") or {}).get("model_id") == model_id]


def completed_result(task: dict[str, Any]) -> dict[str, Any]:
    """The result of a completed task; Conflict while it runs or after it failed."""
    if task["status"] != tasks.COMPLETED or task.get("result") is None:
        detail = f": {task['error']}" if task.get("error") else ""
        raise Conflict(f"task '{task['task_id']}' is {task['status']}{detail}")
    return task["result"]
