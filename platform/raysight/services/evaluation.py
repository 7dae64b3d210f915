"""Evaluating a registered model on a dataset version's split, as a tracked task (kind ``evaluate``).

The model's family computes the metrics (``Backend.evaluate`` -> raysight.model_ops.EvalReport); the
report is the task's result, and ``report_xlsx`` writes it as an Excel workbook (services.reports) in
the task's folder. The latest completed evaluation's headline metrics are also what an export compares
its int8 file against.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from raysight.backend import Operation
from raysight.context import Platform
from raysight.errors import Invalid
from raysight.model_ops import EvalData, EvalOptions, EvalReport, Progress
from raysight.services import reports
from raysight.services.model_tasks import (
    backend_for,
    completed_result,
    eval_data,
    launch,
    model_and_ref,
    task_of,
    tasks_of,
)

KIND = "evaluate"


def options_of(*, imgsz: int | None = None, batch: int | None = None, topk: int | None = None,
               conf: float | None = None, iou: float | None = None) -> EvalOptions:
    """Checked evaluation options (Invalid for values out of range)."""
    if imgsz is not None and not 32 <= int(imgsz) <= 8192:
        raise Invalid("imgsz must be between 32 and 8192")
    if batch is not None and not 1 <= int(batch) <= 1024:
        raise Invalid("batch must be between 1 and 1024")
    if topk is not None and not 1 <= int(topk) <= 100:
        raise Invalid("topk must be between 1 and 100")
    for name, value in (("conf", conf), ("iou", iou)):
        if value is not None and not 0.0 <= float(value) <= 1.0:
            raise Invalid(f"{name} must be between 0 and 1")
    return EvalOptions(imgsz=imgsz, batch=int(batch or 16), topk=int(topk or 5),
                       conf=None if conf is None else float(conf), iou=None if iou is None else float(iou))


def evaluate_model(*, ctx: Platform, model_id: str, data: EvalData | None = None,
                   options: EvalOptions | None = None, weights: str | None = None,
                   progress: Progress | None = None) -> EvalReport:
    """Evaluate now (blocking: call it from a thread). `weights` evaluates another file of the same model
    (an exported .onnx) instead of its registered weights."""
    model, ref = model_and_ref(ctx, model_id)
    backend = backend_for(ctx, model, Operation.EVALUATE)
    data = data or eval_data(ctx, model)
    if weights is not None:
        ref = replace(ref, weights_path=weights)
    return backend.evaluate(ref, data=data, options=options or EvalOptions(), progress=progress)


def start(*, ctx: Platform, model_id: str, dataset_id: str | None = None, version: str | None = None,
          split: str | None = None, options: EvalOptions | None = None) -> dict[str, Any]:
    """Start evaluating a model (checked at once: model, family, dataset, split); returns the task record.
    Must be called from a running event loop (a route)."""
    model, _ref = model_and_ref(ctx, model_id)
    backend_for(ctx, model, Operation.EVALUATE)
    data = eval_data(ctx, model, dataset_id=dataset_id, version=version, split=split)
    options = options or EvalOptions()

    def job(_task_id: str, progress: Progress) -> dict[str, Any]:
        return evaluate_model(ctx=ctx, model_id=model_id, data=data, options=options, progress=progress).as_dict()

    params = {"dataset_id": data.dataset_id, "version": data.version, "split": data.split,
              "options": {k: v for k, v in vars(options).items() if v is not None}}
    return launch(ctx=ctx, kind=KIND, model_id=model_id, params=params, job=job)


def get(*, ctx: Platform, model_id: str, task_id: str) -> dict[str, Any]:
    """The evaluation task (its result is the EvalReport as a dict once completed)."""
    return task_of(ctx, model_id=model_id, task_id=task_id, kind=KIND)


def list_evaluations(*, ctx: Platform, model_id: str) -> list[dict[str, Any]]:
    return tasks_of(ctx, model_id=model_id, kind=KIND)


def report(*, ctx: Platform, model_id: str, task_id: str) -> EvalReport:
    """The EvalReport of a completed evaluation (Conflict while it runs or after it failed)."""
    return EvalReport.from_dict(completed_result(get(ctx=ctx, model_id=model_id, task_id=task_id)))


def report_xlsx(*, ctx: Platform, model_id: str, task_id: str) -> Path:
    """The evaluation as an .xlsx workbook (written once, in the task's folder)."""
    found = report(ctx=ctx, model_id=model_id, task_id=task_id)
    path = ctx.workspace.task_dir(task_id) / f"evaluation_{model_id}.xlsx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        reports.write_eval_xlsx(found, path)
    return path


def latest_report(*, ctx: Platform, model_id: str) -> EvalReport | None:
    """The newest completed evaluation of the model's registered weights, if any."""
    for task in list_evaluations(ctx=ctx, model_id=model_id):
        if task["status"] == "completed" and task.get("result"):
            return EvalReport.from_dict(task["result"])
    return None
