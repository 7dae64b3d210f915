"""Exporting a registered model (ONNX, int8 ONNX) as a tracked task (kind ``export``).

The family writes and checks the file (``Backend.export`` -> raysight.model_ops.ExportResult: float
ONNX parity against PyTorch; how int8 was quantized). For ``onnx_int8`` the quantized file is then
evaluated on the same split as the original weights and the accuracy drop reported. The file becomes
an artifact of the model (services.models.add_artifact): listed with it and downloadable.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from raysight.backend import Operation
from raysight.context import Platform
from raysight.errors import Invalid
from raysight.model_ops import EvalData, EvalOptions, ExportFormat, Progress
from raysight.services import evaluation, models
from raysight.services.model_tasks import backend_for, eval_data, launch, model_and_ref, task_of, tasks_of

KIND = "export"


def check_format(fmt: str) -> ExportFormat:
    try:
        return ExportFormat(fmt)
    except ValueError:
        raise Invalid(f"unknown export format '{fmt}' (one of {', '.join(f.value for f in ExportFormat)})") from None


def accuracy(*, ctx: Platform, model_id: str, data: EvalData, path: str, progress: Progress) -> dict[str, Any]:
    """Metrics of the registered weights and of the exported file on `data`, and what the export lost."""
    options = EvalOptions()
    reference = evaluation.evaluate_model(ctx=ctx, model_id=model_id, data=data, options=options)
    progress(0.95)
    exported = evaluation.evaluate_model(ctx=ctx, model_id=model_id, data=data, options=options, weights=path)
    drop = {k: reference.metrics[k] - v for k, v in exported.metrics.items() if k in reference.metrics}
    return {"split": data.split, "dataset_id": data.dataset_id, "version": data.version, "n_images": exported.n_images,
            "reference": reference.metrics, "exported": exported.metrics, "drop": drop}


def export_model(*, ctx: Platform, model_id: str, fmt: ExportFormat, data: EvalData | None, task_id: str,
                 progress: Progress) -> dict[str, Any]:
    """Export now (blocking: call it from a thread); returns the task result (ExportResult as a dict, plus
    `accuracy` for int8 and the `artifact` record)."""
    model, ref = model_and_ref(ctx, model_id)
    backend = backend_for(ctx, model, Operation.EXPORT)
    work = ctx.workspace.task_dir(task_id) / "export"
    try:
        result = backend.export(ref, fmt=fmt, output_dir=work, calibration=data, progress=progress)
        out = result.as_dict()
        if fmt == ExportFormat.ONNX_INT8 and data is not None and backend.supports(Operation.EVALUATE):
            out["accuracy"] = accuracy(ctx=ctx, model_id=model_id, data=data, path=result.path, progress=progress)
        suffix = result.path.rsplit(".", 1)[-1]
        name = f"{model_id}_{fmt.value}_{task_id.rsplit('_', 1)[-1][:8]}.{suffix}"
        info = {"format": fmt.value, "task_id": task_id, "parity": result.parity,
                "quantization": result.quantization, "input_shape": result.input_shape}
        if "accuracy" in out:
            info["accuracy_drop"] = out["accuracy"]["drop"]
        out["artifact"] = models.add_artifact(ctx=ctx, model_id=model_id, source=Path(result.path), name=name,
                                              info=info)
        out["path"] = str(models.artifact_path(ctx=ctx, model_id=model_id, name=out["artifact"]["name"]))
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def start(*, ctx: Platform, model_id: str, fmt: str, dataset_id: str | None = None, version: str | None = None,
          split: str | None = None) -> dict[str, Any]:
    """Start exporting a model; returns the task record. Calibration and the int8 accuracy use the given
    dataset version (default: the one the model was trained on); without one, int8 is dynamic. Call it
    from a running event loop (an async route): the work runs in a thread in its background."""
    export_format = check_format(fmt)
    model, _ref = model_and_ref(ctx, model_id)
    backend_for(ctx, model, Operation.EXPORT)
    data = None
    if dataset_id or model.get("dataset_id"):
        data = eval_data(ctx, model, dataset_id=dataset_id, version=version, split=split)

    def job(task_id: str, progress: Progress) -> dict[str, Any]:
        return export_model(ctx=ctx, model_id=model_id, fmt=export_format, data=data, task_id=task_id,
                            progress=progress)

    params = {"format": export_format.value, "dataset_id": data.dataset_id if data else None,
              "version": data.version if data else None, "split": data.split if data else None}
    return launch(ctx=ctx, kind=KIND, model_id=model_id, params=params, job=job)


def get(*, ctx: Platform, model_id: str, task_id: str) -> dict[str, Any]:
    return task_of(ctx, model_id=model_id, task_id=task_id, kind=KIND)


def list_exports(*, ctx: Platform, model_id: str) -> list[dict[str, Any]]:
    return tasks_of(ctx, model_id=model_id, kind=KIND)
