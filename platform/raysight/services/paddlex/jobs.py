"""PaddleX tasks (T0001...): a training (or prune) task of a project, mapped onto one core training job
(`ref`), with its parameters, status (TaskStatus), start / stop / resume and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound
from raysight.services import training
from raysight.services.paddlex import datasets, op_state, records, train_params
from raysight.services.paddlex.enums import TaskStatus

KIND = "task"
TRAIN_KEYS = ("loss", "lr")  # metric names containing these are training metrics, the rest evaluation


def folder(ctx: Platform, tid: str) -> Path:
    path = ctx.workspace.dialect_dir("paddlex") / "tasks" / tid
    path.mkdir(parents=True, exist_ok=True)
    return path


def _job(ctx: Platform, rec: dict[str, Any]) -> dict[str, Any] | None:
    if not rec["ref"] and rec["attrs"].get("prune_run"):  # a prune task's job is known once its run ends
        _status, job_id = op_state.prune_run_job(ctx, rec)
        if job_id:
            rec = records.update(ctx=ctx, kind=KIND, code=rec["id"], ref=job_id)
    if not rec["ref"]:
        return None
    try:
        return training.get_job(ctx=ctx, job_id=rec["ref"])
    except NotFound:
        return None


def status_of(ctx: Platform, rec: dict[str, Any], job: dict[str, Any] | None = None) -> TaskStatus:
    """The task's TaskStatus, from its job's state and the latest post-training operation."""
    job = job if job is not None else _job(ctx, rec)
    if job is None and rec["attrs"].get("prune_run"):
        run_status, _job_id = op_state.prune_run_job(ctx, rec)
        return TaskStatus.XPRUNETRAIN if run_status in op_state.RUNNING else TaskStatus.XTRAINFAIL
    if job is None:
        return TaskStatus.XINIT if rec["attrs"].get("train") else TaskStatus.XUNINIT
    if job["status"] in training.ACTIVE:
        return TaskStatus.XPRUNETRAIN if rec["attrs"].get("parent_id") else TaskStatus.XTRAINING
    if job["status"] == training.STOPPED:
        return TaskStatus.XTRAINEXIT
    if job["status"] == training.FAILED:
        return TaskStatus.XTRAINFAIL
    stage = op_state.stage_of(ctx, rec)
    return stage if stage is not None else TaskStatus.XTRAINDONE


def attr_of(ctx: Platform, rec: dict[str, Any]) -> dict[str, Any]:
    return {"id": rec["id"], "name": rec["name"], "desc": rec["desc"], "pid": rec["parent"],
            "path": str(folder(ctx, rec["id"])), "create_time": rec["create_time"],
            "status": int(status_of(ctx, rec)), "type": rec["type"],
            "parent_id": rec["attrs"].get("parent_id"), "job_id": rec["ref"]}


def check_epoch(ctx: Platform, rec: dict[str, Any], epoch: object) -> None:
    """A task keeps the model of its final epoch only: evaluating, predicting with or exporting any other
    `epoch` is refused (None means that one)."""
    if epoch is None:
        return
    try:
        asked = float(str(epoch).strip())
    except ValueError:
        raise Invalid(f"epoch must be a number, got {epoch!r}") from None
    job = training.get_job(ctx=ctx, job_id=rec["ref"])
    if asked not in (job["epochs"], job["epoch"]):
        raise Invalid(f"task '{rec['id']}' keeps the model of its final epoch ({job['epoch']}) only")


def get_record(ctx: Platform, tid: object) -> dict[str, Any]:
    return records.get(ctx=ctx, kind=KIND, code=tid)


def create(*, ctx: Platform, pid: object, train: object = None, desc: object = "", parent_id: object = None,
           name: object = None) -> dict[str, Any]:
    """A task of a project; `parent_id` makes it a prune task of that (trained) training task."""
    project = records.get(ctx=ctx, kind="project", code=pid)
    if parent_id is not None:
        parent = get_record(ctx, parent_id)
        if parent["parent"] != project["id"]:
            raise Invalid(f"task '{parent['id']}' does not belong to project '{project['id']}'")
    checked = train_params.check(ctx=ctx, project_type=project["type"], train=train) if train is not None else None
    rec = records.create(ctx=ctx, kind=KIND, name=str(name or ""), desc=str(desc or ""), type=project["type"],
                         parent=project["id"], attrs={"train": checked, "parent_id": parent_id})
    records.update(ctx=ctx, kind=KIND, code=rec["id"], name=rec["name"] or rec["id"])
    folder(ctx, rec["id"])
    return {"tid": rec["id"]}


def get(*, ctx: Platform, tid: object, resume: bool = False) -> dict[str, Any]:
    """A task's status and attributes; with `resume` (the argument was sent, whatever its value) also
    whether it can resume and from which saved epoch."""
    rec = get_record(ctx, tid)
    job = _job(ctx, rec)
    status = status_of(ctx, rec, job)
    message = (job or {}).get("error") or (f"training job {job['status']}" if job else status.name)
    out: dict[str, Any] = {"task_status": int(status), "message": message, "type": rec["type"],
                           "attr": attr_of(ctx, rec)}
    if resume:
        saved = (job or {}).get("checkpoint_epoch")
        if job is not None and saved is None and job["status"] in (training.STOPPED, training.FAILED):
            saved = training.sync_checkpoint(ctx=ctx, job_id=job["job_id"])
        out["resumable"] = bool(job and job["status"] in (training.STOPPED, training.FAILED))
        out["max_saved_epochs"] = int(saved or 0)
    return out


def list_all(*, ctx: Platform, pid: object = None) -> dict[str, Any]:
    if pid is not None:
        records.get(ctx=ctx, kind="project", code=pid)
    rows = records.list_of(ctx=ctx, kind=KIND, parent=str(pid) if pid is not None else None)
    return {"tasks": [attr_of(ctx, r) for r in rows]}


def delete(*, ctx: Platform, tid: object, force: bool = False) -> None:
    """Remove the task and its job (checkpoints, log); registered models stay. A training task cannot be
    deleted unless `force` (its project is being deleted: the job is stopped first)."""
    rec = get_record(ctx, tid)
    job = _job(ctx, rec)
    if job is not None and job["status"] in training.ACTIVE and not force:
        raise Conflict(f"task '{rec['id']}' is training; stop it first")
    if job is not None:
        training.delete_job(ctx=ctx, job_id=job["job_id"])
    records.delete(ctx=ctx, kind=KIND, code=rec["id"])
    ctx.workspace.remove(folder(ctx, rec["id"]))


# -- parameters ------------------------------------------------------------------------------------------------


def get_params(*, ctx: Platform, tid: object = None, pid: object = None, model_type: object = None,
               gpu_list: object = None) -> dict[str, Any]:
    if tid is not None:
        rec = get_record(ctx, tid)
        train = rec["attrs"].get("train")
        if train is None:
            project = records.get(ctx=ctx, kind="project", code=rec["parent"])
            train = train_params.recommended(ctx=ctx, project_type=project["type"])
        return {"train": train}
    if pid is None:
        raise Invalid("tid or pid is required")
    project = records.get(ctx=ctx, kind="project", code=pid)
    return {"train": train_params.recommended(ctx=ctx, project_type=project["type"], model_type=model_type,
                                              gpu_list=gpu_list)}


def set_params(*, ctx: Platform, tid: object, train: object) -> None:
    rec = get_record(ctx, tid)
    job = _job(ctx, rec)
    if job is not None and job["status"] in training.ACTIVE:
        raise Conflict(f"task '{rec['id']}' is training; its parameters cannot change now")
    checked = train_params.check(ctx=ctx, project_type=rec["type"], train=train)
    records.update(ctx=ctx, kind=KIND, code=rec["id"], attrs={"train": checked})
    train_params.save_pickle(folder(ctx, rec["id"]), checked)


# -- train, stop, resume -------------------------------------------------------------------------------------


def train(*, ctx: Platform, tid: object, base_model_id: str | None = None) -> dict[str, Any]:
    """Start the task's training job on its project's dataset (a new job each start)."""
    rec = get_record(ctx, tid)
    train_dict = rec["attrs"].get("train")
    if not train_dict:
        raise Conflict(f"task '{rec['id']}' has no training parameters (POST /project/task/params first)")
    job = _job(ctx, rec)
    if job is not None and job["status"] in training.ACTIVE:
        raise Conflict(f"task '{rec['id']}' is already training")
    project = records.get(ctx=ctx, kind="project", code=rec["parent"])
    if not project["attrs"].get("did"):
        raise Conflict(f"project '{project['id']}' has no dataset (PUT /workspace with attr_dict.did first)")
    dataset_id, version = datasets.version_of(ctx, project["attrs"]["did"])
    created = training.create_job(ctx=ctx, dataset_id=dataset_id, version=version, base_model_id=base_model_id,
                                  **train_params.job_arguments(train_dict))
    if job is not None:
        training.delete_job(ctx=ctx, job_id=job["job_id"])
    records.update(ctx=ctx, kind=KIND, code=rec["id"], ref=created["job_id"], attrs={"latest_op": None})
    return created


def change(*, ctx: Platform, tid: object, act: object, epoch: object = None) -> dict[str, Any]:
    """act 'stop' ends the training (checkpoints kept); 'resume' continues from the saved epoch."""
    rec = get_record(ctx, tid)
    job = _job(ctx, rec)
    if job is None:
        raise Conflict(f"task '{rec['id']}' has not been trained")
    if act == "stop":
        return training.stop_job(ctx=ctx, job_id=job["job_id"])
    if act != "resume":
        raise Invalid("act must be 'stop' or 'resume'")
    saved = job.get("checkpoint_epoch")
    if saved is None:
        saved = training.sync_checkpoint(ctx=ctx, job_id=job["job_id"])
    if epoch is not None:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise Invalid("epoch must be a non-negative integer")
        if epoch != (saved or 0):
            raise Invalid(f"task '{rec['id']}' can resume from epoch {saved or 0} (its saved checkpoint), "
                          f"not from epoch {epoch}")
    return training.resume_job(ctx=ctx, job_id=job["job_id"])


# -- metrics ---------------------------------------------------------------------------------------------------------


def train_log(ctx: Platform, rec: dict[str, Any]) -> dict[str, Any]:
    """The document's train_log: eta, the last epoch's training and evaluation metrics, and more."""
    job = _job(ctx, rec)
    if job is None:
        raise Conflict(f"task '{rec['id']}' has not been trained")
    last = dict(job["history"][-1]) if job["history"] else {}
    epoch = last.pop("epoch", job["epoch"])
    train_m = {k: v for k, v in last.items() if any(t in k.lower() for t in TRAIN_KEYS)}
    eval_m = {k: v for k, v in last.items() if k not in train_m}
    return {"eta": job["eta_s"], "train_metrics": train_m, "eval_metrics": eval_m, "eval_metircs": eval_m,
            "download_status": "done" if job["pretrained"] else "no pretrained weights",
            "eval_done": job["checkpoint_epoch"] is not None or job["status"] == training.COMPLETED,
            "train_error": job["error"], "epoch": epoch, "total_epochs": job["epochs"],
            "status": job["status"], "history": job["history"], "model_id": job["model_id"]}


def trained_model(ctx: Platform, tid: object) -> tuple[dict[str, Any], str]:
    """(task record, registered model id) of a task whose training has completed."""
    rec = get_record(ctx, tid)
    job = _job(ctx, rec)
    if job is None or job["status"] != training.COMPLETED or not job["model_id"]:
        raise Conflict(f"task '{rec['id']}' has no trained model yet (train it to the end first)")
    return rec, str(job["model_id"])
