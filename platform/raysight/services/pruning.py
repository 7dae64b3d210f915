"""Channel pruning of a registered model: a sensitivity analysis (kind ``prune_analysis``) and a prune
(kind ``prune``) that fine-tunes the pruned model as a training job and registers it.

- Analysis: the family (raysight.model_ops.Prunable) prunes each layer group alone at each ratio and
  measures the metric lost without fine-tuning; the result is the Sensitivity table plus a chart PNG
  served with the model's files.
- Prune: the family writes the pruned weights (ResNet: kept channel counts + state_dict; YOLO: the pruned
  ultralytics model, read back through the family's safe loader); they are registered
  as a model (tag ``pruned``, params ``pruned_from``), evaluated, then fine-tuned by an ordinary
  training job (services.training, Ray Train) whose base model is the pruned one and whose params name
  the parent (``pruned_from``); the task waits for the job and reports parameters, file sizes and the
  metric of the parent, the pruned and the fine-tuned model.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from raysight.backend import Backend, Operation
from raysight.context import Platform
from raysight.errors import Conflict, Invalid
from raysight.ids import timestamped_id
from raysight.model_ops import EvalData, EvalOptions, Progress, Prunable
from raysight.services import evaluation, models, reports, training
from raysight.services.model_tasks import backend_for, eval_data, launch, model_and_ref, task_of, tasks_of

ANALYSIS, PRUNE = "prune_analysis", "prune"
DEFAULT_RATIOS = [0.1, 0.2, 0.3, 0.4, 0.5]
HEADLINE = {"classify": "top1", "detect": "mAP50-95"}
POLL_S = 1.0


def _prunable(ctx: Platform, model: dict[str, Any]) -> Backend:
    backend = backend_for(ctx, model, Operation.PREDICT)
    if not isinstance(backend, Prunable):
        raise Invalid(f"the '{backend.name}' model family has no channel pruning")
    return backend


def _groups(backend: Backend, groups: list[str] | None) -> list[str] | None:
    known = backend.prune_groups()  # type: ignore[attr-defined]
    if groups is not None:
        unknown = [g for g in groups if g not in known]
        if unknown or not groups:
            raise Invalid(f"unknown layer group(s) {unknown}; this model's groups are {', '.join(known)}")
    return groups


def _ratios(ratios: list[float] | None) -> list[float]:
    chosen = list(DEFAULT_RATIOS if ratios is None else ratios)
    if not chosen or len(chosen) > 20:
        raise Invalid("give between 1 and 20 pruning ratios")
    for r in chosen:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 < float(r) < 1.0:
            raise Invalid("pruning ratios must be numbers between 0 and 1 (exclusive)")
    return sorted({float(r) for r in chosen})


# -- sensitivity analysis -------------------------------------------------------------------------------------


def start_analysis(*, ctx: Platform, model_id: str, ratios: list[float] | None = None,
                   groups: list[str] | None = None, dataset_id: str | None = None, version: str | None = None,
                   split: str | None = None) -> dict[str, Any]:
    """Start a sensitivity analysis; returns the task record. Its result: the Sensitivity table,
    ``chart`` (URL of the PNG) and ``chart_path``. Call it from a running event loop (an async route)."""
    model, ref = model_and_ref(ctx, model_id)
    backend = _prunable(ctx, model)
    chosen_groups = _groups(backend, groups)
    steps = _ratios(ratios)
    data = eval_data(ctx, model, dataset_id=dataset_id, version=version, split=split)

    def job(task_id: str, progress: Progress) -> dict[str, Any]:
        found = backend.sensitivity(ref, data=data, ratios=steps, groups=chosen_groups,  # type: ignore[attr-defined]
                                    options=EvalOptions(), progress=progress)
        name = f"sensitivity_{task_id.rsplit('_', 1)[-1][:8]}.png"
        chart = reports.write_sensitivity_chart(found, ctx.workspace.model_dir(model_id) / name)
        return {**found.as_dict(), "chart": f"/models/{model_id}/files/{name}", "chart_path": str(chart)}

    params = {"ratios": steps, "groups": chosen_groups, "dataset_id": data.dataset_id, "version": data.version,
              "split": data.split}
    return launch(ctx=ctx, kind=ANALYSIS, model_id=model_id, params=params, job=job)


def get_analysis(*, ctx: Platform, model_id: str, task_id: str) -> dict[str, Any]:
    return task_of(ctx, model_id=model_id, task_id=task_id, kind=ANALYSIS)


def list_analyses(*, ctx: Platform, model_id: str) -> list[dict[str, Any]]:
    return tasks_of(ctx, model_id=model_id, kind=ANALYSIS)


# -- prune and fine-tune ----------------------------------------------------------------------------------------


def _metric(ctx: Platform, model_id: str, data: EvalData, task: str) -> float | None:
    report = evaluation.evaluate_model(ctx=ctx, model_id=model_id, data=data)
    return report.metrics.get(HEADLINE.get(task, ""), None)


def _register_pruned(ctx: Platform, parent: dict[str, Any], pruned: Any, task_id: str) -> dict[str, Any]:
    model_id = timestamped_id("model")
    weights = ctx.workspace.model_dir(model_id) / "weights" / f"best{Path(pruned.path).suffix}"
    weights.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(pruned.path, weights)
    params = dict(parent.get("params") or {})
    return models.register(
        ctx=ctx, model_id=model_id, plugin=parent["plugin"], task_type=parent["task_type"], weights_path=weights,
        classes=list(parent["classes"]), name=f"{parent['name']} pruned {pruned.ratio:g}",
        description=f"{parent['model_id']} pruned at ratio {pruned.ratio:g} ({', '.join(pruned.groups)}), "
                    "not fine-tuned", dataset_id=parent.get("dataset_id"),
        params={"model_name": params.get("model_name"), "imgsz": params.get("imgsz"), "version": params.get("version"),
                "pruned_from": parent["model_id"], "prune_ratio": pruned.ratio, "prune_groups": pruned.groups,
                "prune_task": task_id},
        tags=["pruned"], pretrained=True,
    )


def _wait(ctx: Platform, job_id: str, progress: Progress) -> dict[str, Any]:
    """The fine-tuning job once it has ended; a cancel of the task stops it."""
    while True:
        job = training.get_job(ctx=ctx, job_id=job_id)
        if job["status"] not in training.ACTIVE:
            return job
        try:
            progress(0.3 + 0.6 * (job["epoch"] or 0) / max(1, job["epochs"]))
        except BaseException:
            training.stop_job(ctx=ctx, job_id=job_id)
            raise
        time.sleep(POLL_S)


def prune_model(*, ctx: Platform, model_id: str, ratio: float, groups: list[str] | None, epochs: int,
                data: EvalData, task_id: str, progress: Progress, params: dict[str, Any] | None = None,
                batch: int = -1) -> dict[str, Any]:
    """Prune, register, fine-tune (a training job) and measure: blocking, call it from a thread."""
    parent, ref = model_and_ref(ctx, model_id)
    backend = _prunable(ctx, parent)
    folder = ctx.workspace.task_dir(task_id)
    pruned = backend.prune(ref, ratio=ratio, output=folder / "pruned.pth", groups=groups)  # type: ignore[attr-defined]
    progress(0.1)
    pruned_model = _register_pruned(ctx, parent, pruned, task_id)
    metric = {"name": HEADLINE.get(parent["task_type"], ""),
              "parent": _metric(ctx, model_id, data, parent["task_type"]),
              "pruned": _metric(ctx, pruned_model["model_id"], data, parent["task_type"])}
    progress(0.2)
    imgsz = int((parent.get("params") or {}).get("imgsz") or 640)
    job = training.create_job(ctx=ctx, dataset_id=data.dataset_id, version=data.version, epochs=epochs, imgsz=imgsz,
                              batch=batch, model_name=(parent.get("params") or {}).get("model_name"),
                              base_model_id=pruned_model["model_id"],
                              params={**(params or {}), "pruned_from": model_id, "prune_ratio": ratio})
    ended = _wait(ctx, job["job_id"], progress)
    if ended["status"] != training.COMPLETED or not ended.get("model_id"):
        raise Conflict(f"fine-tuning job {job['job_id']} ended {ended['status']}: {ended.get('error') or ''}".strip())
    tags = models.get(ctx=ctx, model_id=ended["model_id"])["tags"]
    final = models.update(ctx=ctx, model_id=ended["model_id"], tags=[*tags, "pruned"],
                          description=f"{model_id} pruned at ratio {ratio:g}, fine-tuned by job {job['job_id']}")
    metric["fine_tuned"] = _metric(ctx, final["model_id"], data, parent["task_type"])
    progress(1.0)
    return {"parent_model_id": model_id, "pruned_model_id": pruned_model["model_id"], "job_id": job["job_id"],
            "model_id": final["model_id"], "ratio": pruned.ratio, "groups": pruned.groups,
            "params_before": pruned.params_before, "params_after": pruned.params_after,
            "size_before": pruned.size_before, "size_after": final["file_size"], "metric": metric,
            "split": data.split, "dataset_id": data.dataset_id, "version": data.version}


def start_prune(*, ctx: Platform, model_id: str, ratio: float, groups: list[str] | None = None, epochs: int = 5,
                batch: int = -1, dataset_id: str | None = None, version: str | None = None, split: str | None = None,
                params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Start pruning a model at `ratio` and fine-tuning it for `epochs` (batch -1: the family's automatic
    size); returns the task record. Call it from a running event loop (an async route)."""
    model, _ref = model_and_ref(ctx, model_id)
    backend = _prunable(ctx, model)
    backend_for(ctx, model, Operation.TRAIN)
    chosen_groups = _groups(backend, groups)
    ratio = _ratios([ratio])[0]
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= 10_000:
        raise Invalid("epochs must be an integer between 1 and 10000")
    if isinstance(batch, bool) or not isinstance(batch, int) or not (batch == -1 or 1 <= batch <= 4096):
        raise Invalid("batch must be -1 (automatic) or an integer between 1 and 4096")
    data = eval_data(ctx, model, dataset_id=dataset_id, version=version, split=split)

    def job(task_id: str, progress: Progress) -> dict[str, Any]:
        return prune_model(ctx=ctx, model_id=model_id, ratio=ratio, groups=chosen_groups, epochs=epochs, data=data,
                           task_id=task_id, progress=progress, params=params, batch=batch)

    task_params = {"ratio": ratio, "groups": chosen_groups, "epochs": epochs, "batch": batch,
                   "dataset_id": data.dataset_id, "version": data.version, "split": data.split}
    return launch(ctx=ctx, kind=PRUNE, model_id=model_id, params=task_params, job=job)


def get_prune(*, ctx: Platform, model_id: str, task_id: str) -> dict[str, Any]:
    return task_of(ctx, model_id=model_id, task_id=task_id, kind=PRUNE)


def list_prunes(*, ctx: Platform, model_id: str) -> list[dict[str, Any]]:
    return tasks_of(ctx, model_id=model_id, kind=PRUNE)
