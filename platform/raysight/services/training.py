"""Training jobs: create (validated), list, describe, stop, resume, delete; and the record updates the
job supervisor makes while a job runs.

The job record (DB) is the source of truth for status: queued / running / completed / failed /
stopped. Running work lives on Ray (raysight.training); this module reaches it only through the
JobRunner port (``ctx.job_runner``), so it imports no Ray and works without a cluster: jobs then stay
queued, their `queue_reason` and log saying that no runner is attached (NO_TRAINER).

Crash recovery: a job that was 'running' when the platform went down is marked ``stopped`` with
``error = "interrupted: server restarted"`` (see INTERRUPTED) and can be resumed from its last checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

from raysight import defaults, joblog, train_storage
from raysight.backend import Operation, TrainContext
from raysight.capabilities import Capability
from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound, Unavailable, Unprocessable
from raysight.ids import timestamped_id
from raysight.ports import (  # noqa: F401 (the job states, also read as services.training.QUEUED ...)
    ACTIVE,
    COMPLETED,
    FAILED,
    INTERRUPTED,
    QUEUED,
    RUNNING,
    STOPPED,
    JobRunner,
)
from raysight.services import models
from raysight.services.capabilities import provider
from raysight.services.training_limits import check_queue, check_worker_params
from raysight.store.models import TrainJob
from raysight.store.models.base import iso, utcnow
from raysight.workspace import check_id

LIMITS = {"epochs": (1, 10_000), "imgsz": (32, 8192), "batch": (1, 4096)}


def as_dict(job: TrainJob) -> dict[str, Any]:
    """The documented job object plus the platform's extra fields."""
    return {
        "job_id": job.id,
        "dataset_id": job.dataset_id,
        "version": job.version,
        "model_name": job.model_name,
        "base_model_id": job.base_model_id,
        "epochs": job.epochs,
        "imgsz": job.imgsz,
        "batch": job.batch,
        "status": job.status,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "model_id": job.model_id,
        "log_file": job.log_file,
        "plugin": job.plugin,
        "task_type": job.task_type,
        "params": dict(job.params or {}),
        "epoch": job.epoch or 0,
        "history": list(job.history or []),
        "eta_s": job.eta_s,
        "pretrained": bool(job.pretrained),
        "error": job.error,
        "checkpoint_epoch": job.checkpoint_epoch,
        "attempt": job.attempt or 0,
        "resumed_from_epoch": job.resumed_from_epoch,
    }


def _load(session: Any, job_id: str) -> TrainJob:
    check_id(job_id, "job")
    job = session.get(TrainJob, job_id)
    if job is None:
        raise NotFound(f"training job '{job_id}' not found")
    return job


def _trainer(ctx: Platform) -> JobRunner | None:
    return ctx.job_runner


def log(ctx: Platform, job_id: str, message: str) -> None:
    joblog.write(ctx.workspace.job_log(job_id), message)


# -- validation --------------------------------------------------------------------------------------------


def _check_ranges(*, epochs: int, imgsz: int, batch: int) -> None:
    for name, value in (("epochs", epochs), ("imgsz", imgsz)):
        lo, hi = LIMITS[name]
        if not isinstance(value, int) or not lo <= value <= hi:
            raise Unprocessable(f"{name} must be an integer in [{lo}, {hi}]")
    lo, hi = LIMITS["batch"]
    if not isinstance(batch, int) or not (batch == -1 or lo <= batch <= hi):
        raise Unprocessable(f"batch must be -1 (auto) or an integer in [{lo}, {hi}]")


def _check_params(params: dict[str, Any] | None, ctx: Platform) -> dict[str, Any]:
    params = dict(params or {})
    for key, value in params.items():
        if not isinstance(key, str) or not isinstance(value, (str, int, float, bool, type(None))):
            raise Unprocessable(f"params.{key}: only scalar values are allowed")
    check_worker_params(ctx, params)
    return params


def _default_model_name(ctx: Platform, task_type: str) -> str:
    """The default model of the family that trains `task_type` models here (the `detect` / `classify`
    capability's provider that also trains, chosen as services.capabilities chooses)."""
    try:
        backend = provider(ctx, Capability(task_type), requires=(Capability.TRAIN,))
    except (Unavailable, ValueError):
        raise Invalid(f"no installed plugin trains '{task_type}' models") from None
    return backend.default_model_name or backend.name


def _resolve_model(
    ctx: Platform, *, model_name: str | None, base_model_id: str | None, task_type: str
) -> tuple[Any, str, dict[str, Any] | None]:
    """(backend, model name to record, base model record or None)."""
    base = models.get(ctx=ctx, model_id=base_model_id) if base_model_id else None
    backend = None
    if model_name:
        backend = ctx.plugins.backend_for_model_name(model_name)
        if backend is None:  # maybe the id of a registered model
            try:
                named = models.get(ctx=ctx, model_id=model_name)
            except NotFound:
                raise NotFound(f"model '{model_name}' not found (neither a known model name nor a model id)") from None
            if base is not None and base["model_id"] != named["model_id"]:
                raise Invalid("model_name and base_model_id name two different models")
            base = named
    if base is not None:
        base_backend = ctx.plugins.backend(base["plugin"])
        if backend is not None and backend.name != base_backend.name:
            raise Invalid(f"model '{model_name}' is a {backend.name} model but base model "
                          f"'{base['model_id']}' is a {base_backend.name} model")
        backend = base_backend
        if not model_name or ctx.plugins.backend_for_model_name(model_name) is None:
            model_name = model_name or str(base.get("params", {}).get("model_name") or base["model_id"])
    if backend is None:
        model_name = model_name or _default_model_name(ctx, task_type)
        backend = ctx.plugins.backend_for_model_name(model_name)
        if backend is None:
            raise NotFound(f"model '{model_name}' not found")
    if not backend.supports(Operation.TRAIN):
        raise Invalid(f"the '{backend.name}' model family cannot be trained")
    if str(backend.task) != task_type:
        raise Invalid(f"model '{model_name}' is a {backend.task} model but the dataset is a {task_type} dataset")
    return backend, str(model_name), base


def _arch(job: TrainJob, base: dict[str, Any] | None) -> str:
    """The architecture name a fresh build or a weights lookup uses (yolov8n.pt, resnet18...)."""
    if base is not None:
        return str(base.get("params", {}).get("model_name") or job.model_name)
    return job.model_name


def _start_weights(ctx: Platform, arch: str, base: dict[str, Any] | None) -> Path | None:
    """Weights to start from: the base model's, else a named file in the weights folder, else None
    (the plugin builds the architecture with fresh weights; nothing is ever downloaded)."""
    if base is not None:
        return Path(base["weights_path"])
    names = [arch] if Path(arch).suffix else [f"{arch}.pth", f"{arch}.pt"]
    for name in names:
        path = ctx.workspace.weights_file(name)
        if path.is_file():
            return path
    return None


# -- public API --------------------------------------------------------------------------------------------


def create_job(
    *,
    ctx: Platform,
    dataset_id: str,
    version: str = "v1",
    model_name: str | None = None,
    epochs: int = defaults.TRAIN_EPOCHS,
    imgsz: int = defaults.TRAIN_IMGSZ,
    batch: int = defaults.TRAIN_BATCH,
    base_model_id: str | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate and record a job, then hand it to the trainer. Returns {"job_id", "status"}."""
    from raysight.services import datasets

    _check_ranges(epochs=epochs, imgsz=imgsz, batch=batch)
    params = _check_params(params, ctx)
    check_queue(ctx, QUEUED)
    info = datasets.get_version(ctx=ctx, dataset_id=dataset_id, version=version or "v1")
    if not info.classes:  # unlabelled images prepared without classes: nothing to learn (a worker would fail)
        raise Invalid(f"{info.dataset_id} {info.version} has no classes: label it first (an annotation task "
                      "with classes, then its export) or prepare it with classes")
    backend, model_name, base = _resolve_model(
        ctx, model_name=model_name, base_model_id=base_model_id, task_type=info.task_type
    )
    job_id = timestamped_id("job")
    with ctx.db.session() as s:
        job = TrainJob(
            id=job_id, dataset_id=info.dataset_id, version=info.version, model_name=model_name,
            plugin=backend.name, task_type=info.task_type, base_model_id=base["model_id"] if base else None,
            epochs=epochs, imgsz=imgsz, batch=batch, params=params, status=QUEUED,
            log_file=str(ctx.workspace.job_log(job_id)), storage_path=str(ctx.workspace.jobs), run_name=job_id,
            epoch=0, history=[], attempt=0,
        )
        weights = _start_weights(ctx, _arch(job, base), base)
        if weights is not None:  # refused here (400) rather than in a worker: nothing from the file is run
            backend.check_weights(weights, arch=None if base is not None else _arch(job, base))
        job.pretrained = weights is not None
        s.add(job)
    start = f"weights {weights}" if weights else "fresh weights (no pretrained file in the weights folder)"
    log(ctx, job_id, f"Job {job_id} created: {model_name} ({backend.name}) on {info.dataset_id} {info.version}, "
                     f"{epochs} epochs, imgsz {imgsz}, batch {batch}; starting from {start}")
    status = QUEUED
    trainer = _trainer(ctx)
    if trainer is not None:
        status = trainer.submit(job_id)
    else:
        log(ctx, job_id, f"Queued: {NO_TRAINER}")
    return {"job_id": job_id, "status": status}


NO_TRAINER = "no training supervisor is attached to this process yet"


def _with_queue_reasons(ctx: Platform, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add `queue_reason` (what a queued job waits for, from the supervisor; None unless queued)."""
    queued = [r for r in records if r["status"] == QUEUED]
    reasons: dict[str, str] = {}
    trainer = _trainer(ctx)
    if queued and trainer is not None:
        try:
            reasons = trainer.queue_reasons()
        except Exception:  # the record is still worth answering without the reason
            reasons = {}
    for record in records:
        reason = None
        if record["status"] == QUEUED:
            reason = reasons.get(record["job_id"]) if trainer is not None else NO_TRAINER
            reason = reason or "waiting for the training supervisor to pick it up"
        record["queue_reason"] = reason
    return records


def list_jobs(*, ctx: Platform) -> dict[str, Any]:
    with ctx.db.session() as s:
        rows = s.scalars(select(TrainJob).order_by(TrainJob.created_at.desc())).all()
        records = [as_dict(j) for j in rows]
    return {"jobs": _with_queue_reasons(ctx, records)}


def get_job(*, ctx: Platform, job_id: str) -> dict[str, Any]:
    with ctx.db.session() as s:
        record = as_dict(_load(s, job_id))
    return _with_queue_reasons(ctx, [record])[0]


def stop_job(*, ctx: Platform, job_id: str) -> dict[str, Any]:
    """End a queued or running job within seconds; its checkpoints are kept for resume. 409 otherwise."""
    with ctx.db.session() as s:
        job = _load(s, job_id)
        if job.status not in ACTIVE:
            raise Conflict(f"training job '{job_id}' is {job.status}; only queued or running jobs can be stopped")
    log(ctx, job_id, "Stop requested")
    trainer = _trainer(ctx)
    if trainer is not None and trainer.stop(job_id) == COMPLETED:
        # it registered its model from its final report before the stop reached it: nothing was stopped
        raise Conflict(f"training job '{job_id}' is completed; only queued or running jobs can be stopped")
    mark_stopped(ctx=ctx, job_id=job_id, only_active=True)
    return {"ok": True, "message": "Training job stopped successfully"}


def resume_job(*, ctx: Platform, job_id: str) -> dict[str, Any]:
    """Continue a stopped or failed job (also one interrupted by a restart) from its last checkpoint; a job
    that ended before its first checkpoint starts again from epoch 0 (the record's `resumed_from_epoch`
    and the job log say so)."""
    check_queue(ctx, QUEUED)
    with ctx.db.session() as s:
        job = _load(s, job_id)
        if job.status in ACTIVE:
            raise Conflict(f"training job '{job_id}' is already {job.status}")
        if job.status == COMPLETED:
            raise Conflict(f"training job '{job_id}' has completed; start a new job to train further")
        epoch = job.checkpoint_epoch
    if epoch is None:  # the run's storage may hold one the record missed
        epoch = sync_checkpoint(ctx=ctx, job_id=job_id)
    with ctx.db.session() as s:
        job = _load(s, job_id)
        if job.status in ACTIVE or job.status == COMPLETED:  # a concurrent resume got there first
            raise Conflict(f"training job '{job_id}' is already {job.status}")
        job.status, job.error, job.completed_at, job.eta_s = QUEUED, None, None, None
        job.attempt = (job.attempt or 0) + 1
        job.resumed_from_epoch = epoch or 0
        if epoch is None:  # nothing saved: the run starts over, its record too
            job.epoch, job.history = 0, []
    if epoch is None:
        log(ctx, job_id, "Resume requested: the job has no checkpoint (it ended before its first one); "
                         "restarting from epoch 0")
    else:
        log(ctx, job_id, f"Resume requested: continuing from the checkpoint of epoch {epoch}")
    status = QUEUED
    trainer = _trainer(ctx)
    if trainer is not None:
        status = trainer.submit(job_id)
    message = "Training job resumed successfully" if epoch is not None else \
        "Training job restarted from epoch 0 (it had no checkpoint)"
    return {"ok": True, "message": message, "job_id": job_id, "status": status}


def delete_job(*, ctx: Platform, job_id: str) -> dict[str, Any]:
    """Stop the job if it runs, then remove its record, checkpoints and log. Registered models stay."""
    with ctx.db.session() as s:
        status = _load(s, job_id).status
    trainer = _trainer(ctx) if status in ACTIVE or status == COMPLETED else None
    if trainer is not None:
        # a job completes once its final checkpoint is stored, and Ray Train then takes about a second to end
        # the run (it writes into the job's folder meanwhile): stop waits for that end (at once if none)
        trainer.stop(job_id)
    with ctx.db.session() as s:
        s.delete(_load(s, job_id))
    ctx.workspace.remove(ctx.workspace.job_dir(job_id))
    ctx.workspace.remove(ctx.workspace.job_log(job_id))
    return {"ok": True, "message": "Training job deleted successfully"}


# -- what the supervisor calls while a job runs ----------------------------------------------------------------


def job_spec(*, ctx: Platform, job_id: str) -> dict[str, Any]:
    """Everything needed to start (or restart) a job's run: the TrainContext and the worker count."""
    from raysight.services import datasets

    with ctx.db.session() as s:
        job = _load(s, job_id)
        base = models.get(ctx=ctx, model_id=job.base_model_id) if job.base_model_id else None
        info = datasets.get_version(ctx=ctx, dataset_id=job.dataset_id, version=job.version)
        backend = ctx.plugins.backend(job.plugin)
        arch = _arch(job, base)
        weights = _start_weights(ctx, arch, base)
        requested = int((job.params or {}).get("num_workers") or ctx.settings.train_num_workers)
        train_ctx = TrainContext(
            job_id=job.id,
            data=info.data_yaml if info.task_type == "detect" else info.root,
            task_type=info.task_type,
            model_name=arch,
            classes=list(info.classes),
            epochs=job.epochs,
            imgsz=job.imgsz,
            batch=job.batch,
            weights=str(weights) if weights else None,
            log_file=str(ctx.workspace.job_log(job.id)),
            output_dir=str(ctx.workspace.job_dir(job.id) / "work"),
            params={"seed": ctx.settings.seed, **(job.params or {})},
            plugin=job.plugin,
            pretrained=weights is not None,
            base_model_id=job.base_model_id,
            use_gpu=ctx.settings.train_use_gpu,
        )
        return {"job_id": job.id, "plugin": job.plugin, "ctx": asdict(train_ctx),
                "num_workers": backend.scaling_workers(requested),
                "resumed": job.resumed_from_epoch is not None}


def _update(ctx: Platform, job_id: str, **fields: Any) -> dict[str, Any] | None:
    with ctx.db.session() as s:
        job = s.get(TrainJob, job_id)
        if job is None:
            return None
        for key, value in fields.items():
            setattr(job, key, value)
        return as_dict(job)


def mark_running(*, ctx: Platform, job_id: str) -> None:
    _update(ctx, job_id, status=RUNNING, started_at=utcnow(), error=None)


def mark_stopped(*, ctx: Platform, job_id: str, error: str | None = None, only_active: bool = False) -> None:
    with ctx.db.session() as s:
        job = s.get(TrainJob, job_id)
        if job is None or (only_active and job.status not in ACTIVE):
            return
        job.status, job.eta_s = STOPPED, None
        if error:
            job.error = error
    sync_checkpoint(ctx=ctx, job_id=job_id)


def sync_checkpoint(*, ctx: Platform, job_id: str) -> int | None:
    """Set checkpoint_epoch from the run's storage after a run ended early (see raysight.train_storage)."""
    run_dir = ctx.workspace.job_dir(job_id)
    if not run_dir.is_dir():
        return None
    epoch = train_storage.latest_epoch(run_dir)
    _update(ctx, job_id, checkpoint_epoch=epoch)
    return epoch


def fail_job(*, ctx: Platform, job_id: str, error: str) -> None:
    _update(ctx, job_id, status=FAILED, error=error[:4000], eta_s=None, completed_at=utcnow())
    sync_checkpoint(ctx=ctx, job_id=job_id)
    log(ctx, job_id, f"Training failed: {error}")


def record_epoch(
    *, ctx: Platform, job_id: str, epoch: int, metrics: dict[str, Any], checkpointed: bool, eta_s: float | None
) -> None:
    """One finished epoch: `epoch` is the count of finished epochs; history keeps one entry per epoch."""
    with ctx.db.session() as s:
        job = s.get(TrainJob, job_id)
        if job is None:
            return
        history = [h for h in (job.history or []) if int(h.get("epoch", 0)) < epoch]
        history.append({"epoch": epoch, **metrics})
        job.history, job.epoch, job.eta_s = history, epoch, eta_s
        if checkpointed:
            job.checkpoint_epoch = epoch


def record_resumed(*, ctx: Platform, job_id: str, epoch: int, metrics: dict[str, Any] | None = None) -> None:
    """The run restored the checkpoint of `epoch`: later epochs in the record will be redone. `metrics` are
    the checkpoint's own: a server killed between the checkpoint and its progress report never recorded
    that epoch, which the run will not repeat."""
    with ctx.db.session() as s:
        job = s.get(TrainJob, job_id)
        if job is None:
            return
        history = [h for h in (job.history or []) if int(h.get("epoch", 0)) <= epoch]
        if metrics and epoch > 0 and all(int(h.get("epoch", 0)) != epoch for h in history):
            history.append({"epoch": epoch, **metrics})
        job.history = history
        job.epoch, job.checkpoint_epoch = epoch, epoch


def complete_job(*, ctx: Platform, job_id: str, artifacts: Path | str) -> dict[str, Any]:
    """Register the model a finished run left in `artifacts` and mark the job completed."""
    job = get_job(ctx=ctx, job_id=job_id)
    model = models.install_trained(ctx=ctx, job=job, artifacts=Path(artifacts))
    _update(ctx, job_id, status=COMPLETED, model_id=model["model_id"], completed_at=utcnow(), eta_s=0.0,
            error=None)
    log(ctx, job_id, f"Training completed: model {model['model_id']} registered "
                     f"(metrics {model['metrics']})")
    return model


def active_jobs(*, ctx: Platform) -> list[tuple[str, str]]:
    """(job id, status) of every queued or running job, oldest first."""
    with ctx.db.session() as s:
        rows = s.execute(select(TrainJob.id, TrainJob.status).where(TrainJob.status.in_(ACTIVE))
                         .order_by(TrainJob.created_at)).all()
        return [(r[0], r[1]) for r in rows]
