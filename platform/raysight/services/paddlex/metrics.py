"""Starting a task's training (a plain training task, or the fine-tuning of a prune task), its logs and
metrics by type (GET /project/task/metrics), and where its curves can be looked at (/vdl)."""

from __future__ import annotations

from typing import Any

from raysight.context import Platform
from raysight.errors import Invalid
from raysight.services.paddlex import jobs, model_ops

TYPES = ("train", "eval", "sensitivities", "prune")


def start_training(*, ctx: Platform, tid: object, eval_metric_loss: float | None = None) -> dict[str, Any]:
    """A training task trains on its project's dataset; a prune task (parent_id) prunes its parent's model
    at the ratio its sensitivity analysis allows for `eval_metric_loss`, then fine-tunes the pruned model."""
    rec = jobs.get_record(ctx, tid)
    parent_id = rec["attrs"].get("parent_id")
    if parent_id:
        return model_ops.start_prune_training(ctx=ctx, rec=rec, eval_metric_loss=eval_metric_loss)
    created = jobs.train(ctx=ctx, tid=rec["id"])
    return {"job_id": created["job_id"]}


def get(*, ctx: Platform, tid: object, kind: object) -> dict[str, Any]:
    rec = jobs.get_record(ctx, tid)
    if kind not in TYPES:
        raise Invalid(f"type must be one of {list(TYPES)}")
    if kind == "train":
        return {"train_log": jobs.train_log(ctx, rec)}
    if kind == "eval":
        return {"eval_metrics": model_ops.evaluation_result(ctx=ctx, rec=rec)}
    if kind == "sensitivities":
        return {"sensitivities_loss_img": model_ops.sensitivities_image(ctx=ctx, rec=rec)}
    return {"prune_log": model_ops.prune_log(ctx=ctx, rec=rec)}


def curves_url(*, ctx: Platform, tid: object, base: str) -> str:
    """The platform's curves page of the task's training job (GET /train/jobs/{job_id}/curves)."""
    rec = jobs.get_record(ctx, tid)
    if not rec["ref"]:
        raise Invalid(f"task '{rec['id']}' has not been trained")
    return f"{base.rstrip('/')}/train/jobs/{rec['ref']}/curves"
