"""AutoSele training tasks on the core's Ray Train jobs (services.training).

/create_train records a task naming a network (an architecture template) and a generated data version;
/starttask validates the parameters and submits a core training job; its record (status, epochs,
checkpoints, model) is the truth every read here reports. Configs, the label map and the log read and
write through this module; nothing here talks to Ray.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound
from raysight.ids import timestamped_id
from raysight.services import datasets, logs, models, training
from raysight.services.autosele import data as data_service
from raysight.services.autosele.common import check_date, check_name, network_row, now_text, stamp, train_row
from raysight.store.models import AutoseleData, AutoseleNetwork, AutoseleTrain

CREATED = "created"  # recorded, no job submitted yet
CORE_FIELDS = ("model_name", "epochs", "imgsz", "batch")


def create(*, ctx: Platform, train_name: str, network: str | None, data: str | None, task_desc: str = "") -> str:
    """Record a training task; `network` and `data` (names) may also be chosen later. Returns task_id."""
    name = check_name(train_name, "train_name")
    with ctx.db.session() as s:
        if network:
            network_row(s, network)
    if data:
        data_service.version_of(ctx=ctx, name=data)  # NotFound / Conflict while generating
    task_id = timestamped_id("train")
    with ctx.db.session() as s:
        # a task's name keys its models in /model, /starteva and /release (`dicts`): one task per name
        if s.query(AutoseleTrain).filter(AutoseleTrain.task_name == name).first() is not None:
            raise Conflict(f"a training task named '{name}' already exists")
        s.add(AutoseleTrain(task_id=task_id, task_name=name, task_desc=task_desc or "", network=network or None,
                            data=data or None, train_config={}, data_config={}))
    return task_id


@dataclass
class StartRequest:
    """/starttask's parameters, already typed by the route."""

    num_classes: int | None = None
    num_epoch: int | None = None
    batch_size: int | None = None
    gpus: list[str] = field(default_factory=list)
    model: str | None = None
    steps: list[int] = field(default_factory=list)
    base_lr: float | None = None
    start_date: str | None = None
    train_con: dict[str, Any] | None = None
    data_con: dict[str, Any] | None = None
    weights: str | None = None
    data_type: str | None = None
    network: str | None = None
    data: str | None = None


def _network(ctx: Platform, row: AutoseleTrain) -> tuple[str, Any]:
    """(template model name, backend) of the task's network."""
    if not row.network:
        raise Invalid(f"training task '{row.task_id}' names no network (create it with `network`)")
    with ctx.db.session() as s:
        net = network_row(s, row.network)
        template = net.src_net
    backend = ctx.plugins.backend_for_model_name(template)
    if backend is None:
        raise Conflict(f"network '{row.network}' uses template '{template}', which no installed plugin offers")
    return template, backend


def _data(ctx: Platform, row: AutoseleTrain) -> datasets.VersionInfo:
    if not row.data:
        raise Invalid(f"training task '{row.task_id}' names no data (create it with `data`)")
    dataset_id, version, _ = data_service.version_of(ctx=ctx, name=row.data)
    return datasets.get_version(ctx=ctx, dataset_id=dataset_id, version=version)


def _base_model(ctx: Platform, weights: str | None) -> str | None:
    """The model id that `weights` names: a model id, or a file name /weights or /model lists."""
    if not weights:
        return None
    try:
        return models.get(ctx=ctx, model_id=weights)["model_id"]
    except (NotFound, Invalid):
        pass
    for entry in generated(ctx=ctx):
        for item in entry["items"]:
            if item["file"] == weights:
                return item["model_id"]
    raise NotFound(f"weights '{weights}' not found (a model id, or a file name from /weights or /model)")


WHOLE_NUMBERS = ("epochs", "imgsz", "batch")  # train config values the job takes as integers


def checked_train_config(update: dict[str, Any]) -> dict[str, Any]:
    """A client's train config values (/train_config, /starttask's train_con), checked before they are
    saved: model_name comes from the task's network; epochs, imgsz and batch are whole numbers (sent as
    numbers or text)."""
    if "model_name" in update:
        raise Invalid("train config: model_name comes from the task's network and cannot be changed here")
    checked = dict(update)
    for key in WHOLE_NUMBERS:
        value = checked.get(key)
        if value is None:
            continue
        try:
            number = float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not number.is_integer():
            raise Invalid(f"train config: {key} must be a whole number, got {value!r}")
        checked[key] = int(number)
    return checked


def default_train_config(ctx: Platform, row: AutoseleTrain) -> dict[str, Any]:
    """The template family's defaults overlaid with the task's own values and its saved config."""
    template, backend = _network(ctx, row)
    config: dict[str, Any] = {k: v for k, v in backend.default_params.items() if k not in ("conf", "iou")}
    config["model_name"] = template
    if row.num_epoch:
        config["epochs"] = row.num_epoch
    if row.batch_size:
        config["batch"] = row.batch_size
    if row.learning_rate is not None:
        config["lr"] = config["lr0"] = row.learning_rate
    config.update(row.train_config or {})
    return config


def default_data_config(ctx: Platform, row: AutoseleTrain) -> dict[str, Any]:
    """What the task trains on (data version, classes, split counts) and its saved data config."""
    info = _data(ctx, row)
    config: dict[str, Any] = {"data": row.data, "dataset_id": info.dataset_id, "version": info.version,
                              "format": info.format, "task_type": info.task_type, "classes": list(info.classes),
                              "train_count": info.train_count, "val_count": info.val_count,
                              "test_count": info.test_count}
    config.update(row.data_config or {})
    return config


def start(*, ctx: Platform, task_id: str, req: StartRequest) -> dict[str, Any]:
    """Validate /starttask's parameters against the task's network and data and submit the core job."""
    with ctx.db.session() as s:
        row = train_row(s, task_id)
        if req.network:
            network_row(s, req.network)
            row.network = req.network
        if req.data:
            row.data = req.data
        job_id = row.job_id
    if job_id and training.get_job(ctx=ctx, job_id=job_id)["status"] in training.ACTIVE:
        raise Conflict(f"training task '{task_id}' is already running (job {job_id}); end it first")
    with ctx.db.session() as s:
        row = train_row(s, task_id)
        s.expunge(row)
    info = _data(ctx, row)
    template, _backend = _network(ctx, row)
    if req.num_classes is not None and req.num_classes != len(info.classes):
        raise Invalid(f"num_classes is {req.num_classes} but data '{row.data}' has {len(info.classes)} classes "
                      f"({', '.join(info.classes)})")
    base_model_id = _base_model(ctx, req.weights)
    row.num_epoch = req.num_epoch or row.num_epoch
    row.batch_size = req.batch_size or row.batch_size
    row.learning_rate = req.base_lr if req.base_lr is not None else row.learning_rate
    if req.train_con:
        row.train_config = {**(row.train_config or {}), **checked_train_config(req.train_con)}
    config = default_train_config(ctx, row)
    params = {k: v for k, v in config.items()
              if k not in CORE_FIELDS and isinstance(v, (str, int, float, bool)) and v is not None}
    if req.steps:
        params["lr_steps"] = ",".join(str(v) for v in req.steps)
    if req.gpus and ctx.settings.train_use_gpu:
        params["num_workers"] = len(req.gpus)  # one Train worker per listed GPU
    job = training.create_job(
        ctx=ctx, dataset_id=info.dataset_id, version=info.version, model_name=template,
        epochs=int(config.get("epochs") or 10), imgsz=int(config.get("imgsz") or 640),
        batch=int(config.get("batch") or -1), base_model_id=base_model_id, params=params)
    with ctx.db.session() as s:
        stored = train_row(s, task_id)
        stored.job_id = job["job_id"]
        stored.category_num = len(info.classes)
        stored.num_epoch, stored.batch_size = int(config.get("epochs") or 10), int(config.get("batch") or -1)
        stored.learning_rate = row.learning_rate
        stored.steps = ",".join(str(v) for v in req.steps) or stored.steps
        stored.gpus = ",".join(req.gpus) or stored.gpus
        stored.model_prefix = req.model or stored.model_prefix
        stored.weights = req.weights or None
        stored.data_type = req.data_type or stored.data_type
        stored.start_date = req.start_date or now_text()
        stored.end_date = None
        stored.train_config = dict(row.train_config or {})
        if req.data_con:
            stored.data_config = {**(stored.data_config or {}), **req.data_con}
    return job


def end(*, ctx: Platform, task_id: str, end_date: str | None) -> dict[str, Any]:
    """Stop the task's running job (its checkpoints are kept) and record the end time."""
    check_date(end_date, "end_date")
    with ctx.db.session() as s:
        job_id = train_row(s, task_id).job_id
    if not job_id:
        raise Conflict(f"training task '{task_id}' was never started")
    result = training.stop_job(ctx=ctx, job_id=job_id)
    with ctx.db.session() as s:
        train_row(s, task_id).end_date = end_date or now_text()
    return result


def _job(ctx: Platform, row: AutoseleTrain) -> dict[str, Any] | None:
    return training.get_job(ctx=ctx, job_id=row.job_id) if row.job_id else None


def iterations_per_epoch(train_count: int, batch_size: int) -> int:
    """ceil(training images / batch size): the steps of one full pass over the training split."""
    return math.ceil(train_count / batch_size) if train_count > 0 else 0


def _record(ctx: Platform, row: AutoseleTrain) -> dict[str, Any]:
    job = _job(ctx, row)
    with ctx.db.session() as s:
        net = s.scalar(select(AutoseleNetwork).where(AutoseleNetwork.net_name == row.network)) if row.network else None
        data = s.scalar(select(AutoseleData).where(AutoseleData.data_name == row.data)) if row.data else None
        net_desc = net.net_describe if net else ""
        data_desc = data.data_describe if data else ""
        data_path = f"{data.dataset_id}/{data.version}" if data and data.version else None
    iters = None
    if job and job["batch"] and job["batch"] > 0:
        try:
            info = datasets.get_version(ctx=ctx, dataset_id=job["dataset_id"], version=job["version"])
            iters = iterations_per_epoch(info.train_count, job["batch"]) * job["epochs"]
        except (NotFound, Conflict):
            iters = None
    end_date = row.end_date
    if job and job.get("completed_at") and not end_date:
        end_date = job["completed_at"].replace("T", " ")
    return {
        "id": row.id, "task_id": row.task_id, "task_name": row.task_name, "network_path": row.network,
        "data_path": data_path, "category_num": row.category_num, "iter_num": iters,
        "learning_rate": row.learning_rate, "steps": row.steps, "batch_size": row.batch_size, "gpus": row.gpus,
        "start_date": row.start_date, "end_date": end_date, "net_desc": net_desc, "task_desc": row.task_desc,
        "data_desc": data_desc, "status": job["status"] if job else CREATED, "data": row.data,
        "num_epoch": row.num_epoch, "model": row.model_prefix, "job_id": row.job_id,
        "epoch": job["epoch"] if job else 0, "error": job["error"] if job else None,
        "model_id": job["model_id"] if job else None, **stamp(row),
    }


def history(*, ctx: Platform, task_id: str | None = None) -> list[dict[str, Any]] | dict[str, Any]:
    """Every training task (no task_id) or one task's details."""
    with ctx.db.session() as s:
        if task_id is not None:
            row = train_row(s, task_id)
            s.expunge(row)
            rows = [row]
        else:
            rows = list(s.scalars(select(AutoseleTrain).order_by(AutoseleTrain.id)).all())
            for r in rows:
                s.expunge(r)
    records = [_record(ctx, r) for r in rows]
    return records[0] if task_id is not None else records


def _row(ctx: Platform, task_id: str) -> AutoseleTrain:
    with ctx.db.session() as s:
        row = train_row(s, task_id)
        s.expunge(row)
        return row


def train_config(*, ctx: Platform, task_id: str, update: dict[str, Any] | None = None) -> dict[str, Any]:
    """The task's training config; `update` (a JSON object) is merged into it and saved first."""
    if update:
        update = checked_train_config(update)
        with ctx.db.session() as s:
            row = train_row(s, task_id)
            row.train_config = {**(row.train_config or {}), **update}
    return default_train_config(ctx, _row(ctx, task_id))


def data_config(*, ctx: Platform, task_id: str, update: dict[str, Any] | None = None) -> dict[str, Any]:
    """The task's data config; `update` is merged into its saved part (the data version's own facts
    - dataset, version, classes, counts - cannot be overridden)."""
    if update:
        fixed = {"data", "dataset_id", "version", "format", "task_type", "classes", "train_count", "val_count",
                 "test_count"} & set(update)
        if fixed:
            raise Invalid(f"data config: {', '.join(sorted(fixed))} come from the data version and cannot be changed")
        with ctx.db.session() as s:
            row = train_row(s, task_id)
            row.data_config = {**(row.data_config or {}), **update}
    return default_data_config(ctx, _row(ctx, task_id))


def calculate(*, ctx: Platform, task_id: str, batch_size: int) -> int:
    """Iterations of one full pass over the task's training split at `batch_size`."""
    if batch_size < 1:
        raise Invalid("batch_val must be a positive integer")
    return iterations_per_epoch(_data(ctx, _row(ctx, task_id)).train_count, batch_size)


def label_map(*, ctx: Platform, task_id: str) -> dict[str, list[str]]:
    """{class id: [value, name, display name]}: the saved map, else one built from the data's classes."""
    row = _row(ctx, task_id)
    if row.label_map:
        return dict(row.label_map)
    classes = _data(ctx, row).classes
    return {str(i): [str(i), name, name] for i, name in enumerate(classes)}


def _entry(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) != 3 or not all(isinstance(v, (str, int)) for v in value):
        raise Invalid(f"map_value['{key}'] must be a list of three strings [value, name, display name]")
    items = [str(v).strip() for v in value]
    if items[0].lstrip("-").isdigit() or not items[2].lstrip("-").isdigit():
        return items
    return [items[2], items[0], items[1]]  # the document's /save_map example order: [name, display, value]


def save_map(*, ctx: Platform, task_id: str, mapping: dict[str, Any]) -> dict[str, list[str]]:
    """Save the task's label map (ids must be the data's class ids 0..n-1)."""
    row = _row(ctx, task_id)
    count = len(_data(ctx, row).classes)
    clean: dict[str, list[str]] = {}
    for key, value in mapping.items():
        if not str(key).isdigit() or not 0 <= int(key) < count:
            raise Invalid(f"map_value key '{key}' is not a class id of the data (0..{count - 1})")
        clean[str(int(key))] = _entry(str(key), value)
    with ctx.db.session() as s:
        train_row(s, task_id).label_map = clean
    return clean


def display_names(*, ctx: Platform, task_id: str) -> dict[str, str]:
    """{class name: display name} from the task's label map."""
    return {v[1]: v[2] for v in label_map(ctx=ctx, task_id=task_id).values()}


def model_file(row: AutoseleTrain, model: dict[str, Any]) -> str:
    """The file name clients see for a task's model: <model prefix or task name>_ep_<epochs><suffix>."""
    prefix = row.model_prefix or row.task_name
    epochs = int(model.get("params", {}).get("epochs") or row.num_epoch or 0)
    return f"{prefix}_ep_{epochs:04d}{Path(model['weights_path']).suffix}"


def generated(*, ctx: Platform) -> list[dict[str, Any]]:
    """[{task_name, task_id, models: [file], items: [{file, model_id}]}] for every task whose job made a model."""
    with ctx.db.session() as s:
        rows = list(s.scalars(select(AutoseleTrain).where(AutoseleTrain.job_id.is_not(None))
                              .order_by(AutoseleTrain.id)).all())
        for r in rows:
            s.expunge(r)
    out = []
    for row in rows:
        job = _job(ctx, row)
        if not job or not job.get("model_id"):
            continue
        try:
            model = models.get(ctx=ctx, model_id=job["model_id"])
        except NotFound:
            continue
        name = model_file(row, model)
        out.append({"task_name": row.task_name, "task_id": row.task_id, "models": [name],
                    "items": [{"file": name, "model_id": model["model_id"], "stage": model.get("stage")}]})
    return out


def weights(*, ctx: Platform, task_id: str) -> list[str]:
    """The task's weights: its model's file (once trained) and the job's checkpoint folders."""
    row = _row(ctx, task_id)
    job = _job(ctx, row)
    if job is None:
        return []
    found = []
    if job.get("model_id"):
        with contextlib.suppress(NotFound):
            found.append(model_file(row, models.get(ctx=ctx, model_id=job["model_id"])))
    run_dir = ctx.workspace.job_dir(job["job_id"])
    if run_dir.is_dir():
        found += sorted(p.name for p in run_dir.iterdir() if p.is_dir() and p.name.startswith("checkpoint"))
    return found


def output_log(*, ctx: Platform, task_id: str) -> list[str]:
    """The task's training log lines (empty before it started)."""
    row = _row(ctx, task_id)
    if not row.job_id:
        return []
    return list(logs.lines(ctx=ctx, job_id=row.job_id, n=0)["lines"])
