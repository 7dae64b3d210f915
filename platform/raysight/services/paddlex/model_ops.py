"""Evaluation, export and pruning of a task's trained model: the dialect's translation onto the core's
model operations (services.evaluation, services.exports, services.pruning). Each operation is a core
tracked task whose id the PaddleX task keeps in its attributes; statuses are read from it and mapped onto
TaskStatus / PredictStatus / PruneStatus."""

from __future__ import annotations

import asyncio
import base64
import shutil
from pathlib import Path
from typing import Any

from raysight.context import Platform
from raysight.errors import Conflict, Invalid
from raysight.import_roots import resolve_server_path
from raysight.services import evaluation, exports, pruning, tasks
from raysight.services.paddlex import jobs, records
from raysight.services.paddlex.enums import PredictStatus, PruneStatus, TaskStatus
from raysight.services.paddlex.op_state import RUNNING, op_state_of, op_task

POLL_S = 0.5


def _remember(ctx: Platform, rec: dict[str, Any], key: str, value: dict[str, Any]) -> None:
    records.update(ctx=ctx, kind="task", code=rec["id"], attrs={key: value, "latest_op": key})


# -- evaluation ----------------------------------------------------------------------------------------------


def start_evaluation(*, ctx: Platform, tid: object, epoch: int | None = None, topk: int | None = None,
                     score_thresh: float | None = None, overlap_thresh: float | None = None) -> None:
    rec, model_id = jobs.trained_model(ctx, tid)
    if _task_running(ctx, rec, "evaluate"):
        raise Conflict(f"task '{rec['id']}' is already being evaluated")
    jobs.check_epoch(ctx, rec, epoch)
    # overlap_thresh is instance segmentation's IoU (default 0.3); a detection task keeps the platform's
    # NMS IoU unless the client sends one
    if overlap_thresh is None and rec["type"] == "instance_segmentation":
        overlap_thresh = 0.3
    options = evaluation.options_of(topk=topk or 5, conf=0.5 if score_thresh is None else score_thresh,
                                    iou=overlap_thresh)
    task = evaluation.start(ctx=ctx, model_id=model_id, options=options)
    _remember(ctx, rec, "evaluate", {"task_id": task["task_id"], "model_id": model_id, "epoch": epoch})


def _task_running(ctx: Platform, rec: dict[str, Any], key: str) -> bool:
    task = op_task(ctx, op_state_of(rec, key).get("task_id"))
    return bool(task and task["status"] in RUNNING)


def _evaluation(ctx: Platform, rec: dict[str, Any]) -> dict[str, Any]:
    state = op_state_of(rec, "evaluate")
    if not state:
        raise Conflict(f"task '{rec['id']}' has not been evaluated (POST /project/task/evaluate first)")
    return tasks.get(ctx=ctx, task_id=state["task_id"])


def evaluation_status(*, ctx: Platform, tid: object) -> dict[str, Any]:
    rec = jobs.get_record(ctx, tid)
    task = _evaluation(ctx, rec)
    status = TaskStatus.XEVALUATING if task["status"] in RUNNING else \
        TaskStatus.XEVALUATED if task["status"] == "completed" else TaskStatus.XEVALUATEFAIL
    return {"evaluate_status": int(status), "message": task["error"] or task["status"],
            "result": task["result"] if task["status"] == "completed" else None}


def evaluation_result(*, ctx: Platform, rec: dict[str, Any]) -> dict[str, Any]:
    task = _evaluation(ctx, rec)
    if task["status"] != "completed":
        raise Conflict(f"the evaluation of task '{rec['id']}' is {task['status']}")
    return dict(task["result"] or {})


async def evaluation_file(*, ctx: Platform, tid: object) -> dict[str, Any]:
    """Write the evaluation's .xlsx report into the task's folder; its path."""
    rec = jobs.get_record(ctx, tid)
    task = _evaluation(ctx, rec)
    if task["status"] != "completed":
        raise Conflict(f"the evaluation of task '{rec['id']}' is {task['status']}; the report needs a finished one")
    state = op_state_of(rec, "evaluate")
    made = await asyncio.to_thread(evaluation.report_xlsx, ctx=ctx, model_id=state["model_id"],
                                   task_id=state["task_id"])
    return {"path": str(made), "message": "evaluation report written"}


# -- export --------------------------------------------------------------------------------------------------------


def start_export(*, ctx: Platform, tid: object, kind: str, save_dir: str | None, quant: bool = False,
                 epoch: object = None, model_path: str | None = None) -> dict[str, Any]:
    """type 'infer' -> ONNX (int8 with quant), 'lite' -> int8-quantized ONNX; the file is copied into
    `save_dir` (a folder under RAYSIGHT_IMPORT_ROOTS) or, without it, into the task's folder."""
    if kind not in ("infer", "lite"):
        raise Invalid("type must be 'infer' or 'lite'")
    rec, model_id = jobs.trained_model(ctx, tid)
    jobs.check_epoch(ctx, rec, epoch)
    if _task_running(ctx, rec, "export"):
        raise Conflict(f"task '{rec['id']}' is already exporting")
    target = resolve_server_path(ctx.settings, save_dir, must_exist=False, what="save_dir") if save_dir \
        else jobs.folder(ctx, rec["id"]) / "export" / kind
    fmt = "onnx_int8" if kind == "lite" or quant else "onnx"
    core = exports.start(ctx=ctx, model_id=model_id, fmt=fmt)
    task_id = tasks.create(ctx=ctx, kind="paddlex_export", params={"tid": rec["id"], "core": core["task_id"]})

    async def deliver(progress: Any) -> dict[str, Any]:
        """Follow the core export and copy its file into the save folder."""
        while (found := tasks.get(ctx=ctx, task_id=core["task_id"]))["status"] in RUNNING:
            progress(found["progress"] or 0.0)
            if tasks.cancel_requested(ctx=ctx, task_id=task_id):
                tasks.request_cancel(ctx=ctx, task_id=core["task_id"])
            await asyncio.sleep(POLL_S)
        if found["status"] != "completed":
            raise Conflict(f"export {found['status']}: {found['error'] or ''}".strip())
        result = dict(found["result"] or {})
        target.mkdir(parents=True, exist_ok=True)
        copied = target / Path(result["path"]).name
        await asyncio.to_thread(shutil.copy2, result["path"], copied)
        return {**result, "path": str(copied), "source_path": result["path"]}

    tasks.start(ctx=ctx, task_id=task_id, work=deliver)
    _remember(ctx, rec, "export", {"task_id": task_id, "type": kind, "quant": bool(quant),
                                   "save_dir": str(target), "model_id": model_id})
    if kind == "infer":
        return {"save_dir": str(target)}
    return {"message": f"the lite (int8 ONNX) model is being written to {target}"}


def export_status(*, ctx: Platform, tid: object, quant: object = None) -> dict[str, Any]:
    rec = jobs.get_record(ctx, tid)
    state = op_state_of(rec, "export")
    if not state:
        raise Conflict(f"task '{rec['id']}' has not been exported (POST /project/task/export first)")
    task = tasks.get(ctx=ctx, task_id=state["task_id"])
    result = dict(task["result"] or {})
    if quant == "log":
        return {"quant_log": {"status": task["status"], "progress": task["progress"], "error": task["error"],
                              "quantization": result.get("quantization", {})}}
    if quant == "result":
        return {"quant_result": result}
    status = PredictStatus.XPRESTART if task["status"] in RUNNING else \
        PredictStatus.XPREDONE if task["status"] == "completed" else PredictStatus.XPREFAIL
    return {"export_status": int(status), "message": task["error"] or task["status"],
            "save_dir": state["save_dir"], "result": result or None}


def stop_export(*, ctx: Platform, tid: object) -> dict[str, Any]:
    rec = jobs.get_record(ctx, tid)
    state = op_state_of(rec, "export")
    if not state:
        raise Conflict(f"task '{rec['id']}' has no export")
    if _task_running(ctx, rec, "export"):
        tasks.request_cancel(ctx=ctx, task_id=state["task_id"])
    status = export_status(ctx=ctx, tid=rec["id"])
    return {"export_status": status["export_status"], "message": "export stopped"}


# -- pruning ----------------------------------------------------------------------------------------------------------


def start_analysis(*, ctx: Platform, tid: object) -> None:
    rec, model_id = jobs.trained_model(ctx, tid)
    if _task_running(ctx, rec, "prune"):
        raise Conflict(f"the pruning analysis of task '{rec['id']}' is already running")
    task = pruning.start_analysis(ctx=ctx, model_id=model_id)
    _remember(ctx, rec, "prune", {"task_id": task["task_id"], "model_id": model_id})


def _analysis(ctx: Platform, rec: dict[str, Any]) -> dict[str, Any]:
    state = op_state_of(rec, "prune")
    if not state:
        raise Conflict(f"task '{rec['id']}' has no pruning analysis (POST /project/task/prune first)")
    return tasks.get(ctx=ctx, task_id=state["task_id"])


def analysis_status(*, ctx: Platform, tid: object) -> dict[str, Any]:
    rec = jobs.get_record(ctx, tid)
    task = _analysis(ctx, rec)
    status = {"pending": PruneStatus.XSPRUNESTART, "running": PruneStatus.XSPRUNEING,
              "completed": PruneStatus.XSPRUNEDONE, "failed": PruneStatus.XSPRUNEFAIL}.get(
        task["status"], PruneStatus.XSPRUNEEXIT)
    return {"prune_status": int(status), "message": task["error"] or task["status"],
            "progress": task["progress"]}


def stop_analysis(*, ctx: Platform, tid: object, act: object) -> dict[str, Any]:
    if act != "stop":
        raise Invalid("act must be 'stop'")
    rec = jobs.get_record(ctx, tid)
    task = _analysis(ctx, rec)
    if task["status"] in RUNNING:
        tasks.request_cancel(ctx=ctx, task_id=task["task_id"])
    return analysis_status(ctx=ctx, tid=rec["id"])


def sensitivities_image(*, ctx: Platform, rec: dict[str, Any]) -> dict[str, Any]:
    task = _analysis(ctx, rec)
    if task["status"] != "completed":
        raise Conflict(f"the pruning analysis of task '{rec['id']}' is {task['status']}")
    result = dict(task["result"] or {})
    chart = Path(result.get("chart_path") or "")
    image = base64.b64encode(chart.read_bytes()).decode() if chart.is_file() else None
    table = {k: result.get(k) for k in ("metric", "baseline", "ratios", "groups", "loss", "params")}
    return {"img_data": image, "path": str(chart) if image else None, "url": result.get("chart"),
            "sensitivities": table}


def _ratio_for(sensitivity: dict[str, Any], eval_metric_loss: float | None) -> float:
    """The largest tried ratio whose loss stays within `eval_metric_loss` in every group (0.05 default)."""
    allowed = 0.05 if eval_metric_loss is None else float(eval_metric_loss)
    losses = sensitivity.get("loss") or {}
    best = 0.0
    for ratio in sensitivity.get("ratios") or pruning.DEFAULT_RATIOS:
        if all(float(per.get(str(ratio), 0.0)) <= allowed for per in losses.values()):
            best = max(best, float(ratio))
    return best


def start_prune_training(*, ctx: Platform, rec: dict[str, Any], eval_metric_loss: float | None) -> dict[str, Any]:
    """Prune the parent task's model at the ratio its analysis allows, then fine-tune it (a core job)."""
    parent, model_id = jobs.trained_model(ctx, rec["attrs"]["parent_id"])
    analysis = _analysis(ctx, parent)
    if analysis["status"] != "completed":
        raise Conflict(f"task '{parent['id']}' has no finished pruning analysis")
    result = dict(analysis["result"] or {})
    ratio = _ratio_for(result, eval_metric_loss)
    if ratio <= 0:
        raise Invalid(f"no pruning ratio keeps the metric loss within {eval_metric_loss}")
    train = rec["attrs"].get("train") or parent["attrs"].get("train") or {}
    params = dict(train.get("params") or {})
    task = pruning.start_prune(ctx=ctx, model_id=model_id, ratio=ratio, epochs=int(train.get("num_epochs", 5)),
                               batch=int(train.get("batch_size", -1)), params=params or None)
    records.update(ctx=ctx, kind="task", code=rec["id"],
                   attrs={"prune_run": {"task_id": task["task_id"], "ratio": ratio, "model_id": model_id}})
    return {"ratio": ratio}


def prune_log(*, ctx: Platform, rec: dict[str, Any]) -> dict[str, Any]:
    state = op_state_of(rec, "prune_run")
    if not state:
        raise Conflict(f"task '{rec['id']}' is not a started prune task")
    task = tasks.get(ctx=ctx, task_id=state["task_id"])
    return {"status": task["status"], "progress": task["progress"], "error": task["error"],
            "ratio": state["ratio"], "result": task["result"]}


