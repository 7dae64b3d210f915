"""Training the ResNet component classifier: the per-user pool of labelled crops (getTrainData),
and train start / progress / skip mapped onto the platform's Ray Train jobs.

Pool layout (workspace): ``imgseg/train_pool/<user_id>/<label>/<key>_<hash>.png``. A train start
zips the user's pool as class folders, uploads and prepares it as a dataset (services.datasets),
and creates a ResNet job (services.training). The imgseg train task id ("Train-imgseg-<uuid>") is a
tracked-task record (kind "imgseg_train") that maps to the job; the job record stays the source of
truth. When the job completes its model is tagged "imgseg-components", which makes it the default
classifier (services.models.latest). The document spells the id both "Train-imgseg-" (training
section) and "Train-imgSeg-" (model ids): the prefix is matched without regard to case, and the id
names the trained model wherever a model id is taken (`model_of_task`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import cv2
from sqlalchemy import select

from raysight.capabilities import Capability
from raysight.context import Platform
from raysight.errors import NotFound, RaysightError
from raysight.ids import uuid_id
from raysight.services import datasets, tasks, training
from raysight.services.capabilities import provider
from raysight.services.imgseg import sources
from raysight.services.imgseg.common import (
    COMPONENT_TAG,
    DEFAULT_LABELS,
    ModelIdError,
    TaskNotFound,
    TrainingBusy,
    UserNotFound,
    with_fields,
)
from raysight.store.models import Task
from raysight.workspace import check_id

KIND = "imgseg_train"
TASK_PREFIX = "Train-imgseg-"
MIN_SIDE, MAX_SIDE = 30, 740
KNOWN_LABELS = (*DEFAULT_LABELS, "Container", "Icon", "Checkbox", "Radio", "Switch", "Select", "Table", "Card",
                "Tab", "Link", "Label")
_KEY = re.compile(r"[^A-Za-z0-9_-]")
# getTrainData statuses
OK, BAD_ENTRY, READ_FAILED, IMAGE_BAD, TYPE_BAD, BOTH_BAD = 900, 901, 902, 601, 602, 603
TASK_STATUS = {"queued": 300, "running": 300, "completed": 200, "failed": 400, "stopped": 500}


def pool_dir(ctx: Platform, user_id: str) -> Path:
    return ctx.workspace.root / "imgseg" / "train_pool" / check_id(user_id, "user")


def labels_of(ctx: Platform, user_id: str) -> dict[str, int]:
    root = pool_dir(ctx, user_id)
    if not root.is_dir():
        return {}
    return {d.name: sum(1 for _ in d.glob("*.png")) for d in sorted(root.iterdir()) if d.is_dir()}


def check_training_image(image: Any) -> bool:
    h, w = image.shape[:2]
    return MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE


async def _add_one(ctx: Platform, user_id: str, key: str, entry: Any, own_hosts: set[str] | None) -> int:
    if not isinstance(entry, dict):
        return BAD_ENTRY
    url, label = entry.get("url"), entry.get("component_type")
    if not isinstance(url, str) or not url.strip() or not isinstance(label, str):
        return BAD_ENTRY
    type_ok = label in KNOWN_LABELS
    try:
        src = await sources.read_url(ctx=ctx, url=url, own_hosts=own_hosts)
    except RaysightError as exc:
        if exc.code == "url_refused":
            return BAD_ENTRY
        return BOTH_BAD if not type_ok else READ_FAILED
    image_ok = check_training_image(src.image)
    if not image_ok and not type_ok:
        return BOTH_BAD
    if not type_ok:
        return TYPE_BAD
    if not image_ok:
        return IMAGE_BAD
    folder = pool_dir(ctx, user_id) / label
    name = f"{_KEY.sub('_', key)[:48]}_{hashlib.blake2b(src.data, digest_size=6).hexdigest()}.png"

    def save() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".png", cv2.cvtColor(src.image, cv2.COLOR_RGB2BGR))
        if ok:
            (folder / name).write_bytes(buf.tobytes())

    await asyncio.to_thread(save)
    return OK


async def add_training_data(*, ctx: Platform, user_id: str, dataset: dict[str, Any],
                            own_hosts: set[str] | None = None) -> dict[str, int]:
    """getTrainData: {key: status} (900 added, 901 bad entry/URL, 902 unreadable, 601 size outside
    30-740 px, 602 unknown type, 603 both)."""
    check_id(user_id, "user")
    sources.check_url_count(ctx, len(dataset))
    sem = asyncio.Semaphore(4)

    async def one(key: str, entry: Any) -> tuple[str, int]:
        async with sem:
            return key, await _add_one(ctx, user_id, key, entry, own_hosts)

    results = await asyncio.gather(*(one(str(k), v) for k, v in dataset.items()))
    return dict(results)


# -- jobs --------------------------------------------------------------------------------------------
def _train_tasks(ctx: Platform) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        return [tasks.as_dict(t) for t in s.scalars(select(Task).where(Task.kind == KIND)).all()]


def _busy(ctx: Platform) -> str | None:
    active = {job_id for job_id, _ in training.active_jobs(ctx=ctx)}
    for t in _train_tasks(ctx):
        if (t["params"] or {}).get("job_id") in active:
            return t["task_id"]
    return None


def _zip_pool(ctx: Platform, user_id: str) -> bytes:
    root = pool_dir(ctx, user_id)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for img in sorted(label_dir.glob("*.png")):
                zf.write(img, f"{label_dir.name}/{img.name}")
    return buf.getvalue()


async def start(*, ctx: Platform, user_id: str, epochs: int = 10, batch_size: int = 8,
                learning_rate: float = 0.001, model_name: str | None = None, imgsz: int = 224) -> dict[str, Any]:
    """resnetTrainStart: 800 when an imgseg training runs, 804 when the user has no training data.
    `model_name` None: the component classifier's default model (resnet18 with the built-in provider)."""
    counts = labels_of(ctx, user_id)
    if not any(counts.values()):
        raise UserNotFound(f"user '{user_id}' has no training data (add some with getTrainData)")
    busy = _busy(ctx)
    if busy:
        raise with_fields(TrainingBusy(f"training task {busy} is still running"), running_task_id=busy)
    data = await asyncio.to_thread(_zip_pool, ctx, user_id)
    chunks = [data]

    async def read(_n: int) -> bytes:
        return chunks.pop() if chunks else b""

    ds = await datasets.upload(ctx=ctx, filename=f"imgseg_{user_id}.zip", read=read)
    labels = sorted(k for k, v in counts.items() if v)
    await asyncio.to_thread(datasets.prepare, ctx=ctx, dataset_id=ds["dataset_id"],
                            split_ratio={"train": 0.8, "val": 0.2})
    model_name = model_name or provider(ctx, Capability.CLASSIFY_COMPONENTS).default_model_name
    job = training.create_job(ctx=ctx, dataset_id=ds["dataset_id"], version="v1", model_name=model_name,
                              epochs=int(epochs), imgsz=int(imgsz), batch=int(batch_size),
                              params={"lr": float(learning_rate), "tags": COMPONENT_TAG})
    task_id = uuid_id(TASK_PREFIX.rstrip("-"), sep="-")
    tasks.create(ctx=ctx, kind=KIND, owner=user_id, task_id=task_id,
                 params={"job_id": job["job_id"], "user_id": user_id, "labels": labels,
                         "dataset_id": ds["dataset_id"], "dataset_num": sum(counts.values())})
    tasks.update(ctx=ctx, task_id=task_id, status="running")
    return {"train_task_id": task_id, "task_status": 300, "job_id": job["job_id"]}


def is_train_task_id(value: str) -> bool:
    """Whether `value` has the form of a training's id (either spelling of the prefix)."""
    return str(value).strip().lower().startswith(TASK_PREFIX.lower())


def canonical_id(value: str) -> str:
    """The stored spelling of a training's id ("Train-imgSeg-<uuid>" -> "Train-imgseg-<uuid>")."""
    value = str(value).strip()
    return TASK_PREFIX + value[len(TASK_PREFIX):] if is_train_task_id(value) else value


def model_of_task(*, ctx: Platform, train_task_id: str) -> str:
    """The registry model a training produced; ModelIdError (805) for an unknown id or a training
    that has not produced its model (yet)."""
    try:
        task = tasks.get(ctx=ctx, task_id=canonical_id(train_task_id), kind=KIND)
    except NotFound as exc:
        raise ModelIdError(f"model '{train_task_id}' does not exist (no such training)") from exc
    job = training.get_job(ctx=ctx, job_id=(task["params"] or {})["job_id"])
    if not job.get("model_id"):
        raise ModelIdError(f"training '{train_task_id}' has produced no model (its job is {job['status']})")
    return str(job["model_id"])


def _task(ctx: Platform, task_id: str) -> dict[str, Any]:
    try:
        return tasks.get(ctx=ctx, task_id=canonical_id(task_id), kind=KIND)
    except NotFound as exc:
        raise with_fields(TaskNotFound(f"training task '{task_id}' does not exist"),
                          train_task_id=task_id) from exc


def _metric(entry: dict[str, Any], *names: str) -> float | None:
    for name in names:
        if name in entry and isinstance(entry[name], (int, float)):
            return float(entry[name])
    for key, value in entry.items():  # e.g. "metrics/accuracy_top1", "val/loss"
        if isinstance(value, (int, float)) and any(key.endswith(n) for n in names):
            return float(value)
    return None


ACC_KEYS = ("val_acc", "accuracy_top1", "acc", "accuracy", "top1")
LOSS_KEYS = ("val_loss", "loss")


CLASS_ACC = "class_acc/"  # per-class validation accuracy in an epoch's metrics (the resnet plugin's)


def progress(*, ctx: Platform, train_task_id: str) -> dict[str, Any]:
    """resnetTrainProgress from the job record, with every field of the document's example always
    present and typed as there: acc/loss (float) and modelEpoch (int) of the saved model (the
    first epoch with the best validation accuracy, as the trainer keeps it; 0.0/0.0/0 before one
    is saved), epoch (int, epochs finished), labels, singleAcc (per label, in labels' order; null
    for a label without validation images), dataset_num, valAccList/valLossList (one per epoch)."""
    task = _task(ctx, train_task_id)
    params = task["params"] or {}
    job = training.get_job(ctx=ctx, job_id=params["job_id"])
    history = job.get("history") or []
    accs = [_metric(h, *ACC_KEYS) for h in history]
    losses = [_metric(h, *LOSS_KEYS) for h in history]
    scored = [a for a in accs if a is not None]
    best = accs.index(max(scored)) if scored else None
    labels = list(params.get("labels") or [])
    out: dict[str, Any] = {
        "train_task_id": task["task_id"], "user_id": params.get("user_id") or task.get("owner"),
        "task_status": TASK_STATUS.get(job["status"], 300),
        "acc": 0.0, "loss": 0.0, "epoch": int(job.get("epoch") or 0), "modelEpoch": 0,
        "labels": labels, "singleAcc": [], "dataset_num": int(params.get("dataset_num") or 0),
        "valAccList": [float(a) for a in accs if a is not None],
        "valLossList": [float(v) for v in losses if v is not None],
        "epochs": int(job.get("epochs") or 0), "job_id": job["job_id"],
    }
    if best is not None:
        entry = history[best]
        out.update(acc=float(accs[best] or 0.0), loss=float(losses[best] or 0.0),
                   modelEpoch=int(entry.get("epoch", best + 1)))
        single = [entry.get(f"{CLASS_ACC}{label}") for label in labels]
        out["singleAcc"] = [float(v) if isinstance(v, (int, float)) else None for v in single]
    if job.get("model_id"):
        out["model_id"] = job["model_id"]
    if job.get("error"):
        out["error"] = job["error"]
    return out


def skip(*, ctx: Platform, train_task_id: str) -> dict[str, Any]:
    """resnetTrainSkip: stop the job (a job already over is left as it is)."""
    task = _task(ctx, train_task_id)
    job_id = (task["params"] or {})["job_id"]
    job = training.get_job(ctx=ctx, job_id=job_id)
    if job["status"] in ("queued", "running"):
        training.stop_job(ctx=ctx, job_id=job_id)
    tasks.update(ctx=ctx, task_id=task["task_id"], status="cancelled")
    job = training.get_job(ctx=ctx, job_id=job_id)
    return {"train_task_id": task["task_id"], "user_id": (task["params"] or {}).get("user_id"),
            "task_status": TASK_STATUS.get(job["status"], 500) if job["status"] != "stopped" else 500,
            "job_id": job_id}
