"""Training tasks of the filerec API: the platform's training jobs (services.training), started with
the training parameters set through `set_parameters` and shown beside the recognition tasks."""

from __future__ import annotations

from typing import Any

from raysight.context import Platform
from raysight.errors import Conflict, Invalid
from raysight.services import training
from raysight.services.filerec import parameters

TASK_TYPE = "training"


def start(*, ctx: Platform, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A training job from the set training parameters (`overrides` win). Invalid without a dataset."""
    p = {**parameters.load(ctx=ctx)["training"], **{k: v for k, v in (overrides or {}).items() if v is not None}}
    if not p.get("dataset_id"):
        raise Invalid("no training dataset: set dataset_id with /training_model/set_parameters (or in this body)")
    extra = {"lr": p["learning_rate"]} if p.get("learning_rate") else None
    job = training.create_job(ctx=ctx, dataset_id=str(p["dataset_id"]), version=str(p.get("version") or "v1"),
                              model_name=p.get("model_name"), epochs=int(p["epochs"]), imgsz=int(p["imgsz"]),
                              batch=int(p["batch"]), base_model_id=p.get("base_model_id"), params=extra)
    return {"task_id": job["job_id"], "task_type": TASK_TYPE, "status": job["status"]}


def view(job: dict[str, Any]) -> dict[str, Any]:
    epochs = max(1, int(job.get("epochs") or 1))
    return {
        "task_id": job["job_id"], "task_type": TASK_TYPE, "status": job["status"],
        "progress": round(min(1.0, (job.get("epoch") or 0) / epochs), 4), "error": job.get("error"),
        "dataset_id": job["dataset_id"], "version": job["version"], "model_name": job["model_name"],
        "epochs": job["epochs"], "epoch": job.get("epoch") or 0, "model_id": job.get("model_id"),
        "created_at": job["created_at"], "started_at": job.get("started_at"),
        "completed_at": job.get("completed_at"),
    }


def list_jobs(*, ctx: Platform, completed_only: bool = False) -> list[dict[str, Any]]:
    jobs = training.list_jobs(ctx=ctx)["jobs"]
    return [view(j) for j in jobs if not completed_only or j["status"] == training.COMPLETED]


def get(*, ctx: Platform, job_id: str) -> dict[str, Any]:
    return view(training.get_job(ctx=ctx, job_id=job_id))


def cancel(*, ctx: Platform, job_id: str) -> dict[str, Any]:
    training.stop_job(ctx=ctx, job_id=job_id)
    return {"task_id": job_id, "status": training.get_job(ctx=ctx, job_id=job_id)["status"]}


def delete(*, ctx: Platform, job_id: str) -> dict[str, Any]:
    """Like recognition tasks, a queued or running job is not deleted (cancel it first)."""
    if training.get_job(ctx=ctx, job_id=job_id)["status"] in training.ACTIVE:
        raise Conflict(f"training task '{job_id}' is still active; cancel it first")
    training.delete_job(ctx=ctx, job_id=job_id)
    return {"task_id": job_id}
