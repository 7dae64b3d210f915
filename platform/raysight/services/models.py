"""The model registry: records of servable weights (trained here, uploaded, or fine-tuned).

Files of a model live under workspace.model_dir(id): ``weights/best.pt`` (YOLO) or ``weights/best.pth``
(ResNet: a dict {"arch", "classes", "state_dict", "imgsz"}), and the plots training wrote
(results.png, confusion_matrix.png, BoxPR_curve.png...), served at /models/<id>/files/<name>.
Uploaded files are checked by their family's ``Backend.check_weights`` (nothing in them is run; keys and
shapes must fit the architecture) before anything is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select

from raysight.backend import Backend, ModelRef, WeightsInfo
from raysight.context import Platform
from raysight.errors import Invalid, InvalidWeights, NotFound
from raysight.ids import timestamped_id
from raysight.store.models import Model
from raysight.store.models.base import iso, utcnow
from raysight.train_result import read_final
from raysight.workspace import check_id, clean_filename, save_stream


def as_dict(model: Model) -> dict[str, Any]:
    """The documented model object plus the platform's extra fields."""
    return {
        "model_id": model.id,
        "name": model.name,
        "description": model.description,
        "weights_path": model.weights_path,
        "file_size": model.file_size,
        "file_size_mb": round(model.file_size / (1024 * 1024), 2),
        "created_at": iso(model.created_at),
        "updated_at": iso(model.updated_at),
        "job_id": model.job_id,
        "dataset_id": model.dataset_id,
        "tags": list(model.tags or []),
        "plugin": model.plugin,
        "task_type": model.task_type,
        "classes": list(model.classes or []),
        "metrics": dict(model.metrics or {}),
        "training_metrics": dict(model.metrics or {}),
        "pretrained": model.pretrained,
        "plots": list(model.plots or []),
        "stage": model.stage,
    }


def _load(session: Any, model_id: str) -> Model:
    check_id(model_id, "model")
    model = session.get(Model, model_id)
    if model is None:
        raise NotFound(f"model '{model_id}' not found")
    return model


def register(
    *,
    ctx: Platform,
    plugin: str,
    task_type: str,
    weights_path: Path | str,
    classes: list[str],
    name: str,
    metrics: dict[str, Any] | None = None,
    job_id: str | None = None,
    dataset_id: str | None = None,
    params: dict[str, Any] | None = None,
    pretrained: bool = False,
    tags: list[str] | None = None,
    plots: list[str] | None = None,
    description: str = "",
    model_id: str | None = None,
) -> dict[str, Any]:
    """Record weights that already lie in the workspace (normally under models/<id>/)."""
    weights = Path(weights_path)
    with ctx.db.session() as s:
        model = Model(
            id=model_id or timestamped_id("model"),
            name=name,
            description=description,
            plugin=plugin,
            task_type=task_type,
            weights_path=str(weights),
            file_size=weights.stat().st_size if weights.is_file() else 0,
            classes=list(classes),
            metrics=metrics or {},
            tags=tags or [],
            plots=plots or [],
            params=params or {},
            job_id=job_id,
            dataset_id=dataset_id,
            pretrained=pretrained,
        )
        s.add(model)
        s.flush()
        return as_dict(model)


def get(*, ctx: Platform, model_id: str) -> dict[str, Any]:
    with ctx.db.session() as s:
        return as_dict(_load(s, model_id))


def model_ref(*, ctx: Platform, model_id: str) -> ModelRef:
    """What a serving replica needs to load the model."""
    with ctx.db.session() as s:
        model = _load(s, model_id)
        return ModelRef(
            model_id=model.id,
            weights_path=model.weights_path,
            classes=list(model.classes or []),
            params={**(model.params or {}), "task_type": model.task_type, "plugin": model.plugin},
        )


_SERVING_KEY = select(Model.plugin, Model.updated_at).where(Model.id == bindparam("model_id"))


def serving_key(*, ctx: Platform, model_id: str) -> tuple[str, str]:
    """(backend name, multiplexed key) for a registry model. The key changes whenever the record
    changes, so replicas never serve stale weights after an update. Read on every inference request (and
    by every replica's reconcile): two columns on a plain connection, without an ORM session, which cost
    five times as much CPU (~0.13 ms against ~0.03 ms)."""
    check_id(model_id, "model")
    with ctx.db.engine.connect() as conn:
        row = conn.execute(_SERVING_KEY, {"model_id": model_id}).one_or_none()
    if row is None:
        raise NotFound(f"model '{model_id}' not found")
    return row.plugin, f"{model_id}@{int(row.updated_at.timestamp() * 1000)}"


class RegistryCatalog:
    """The ModelCatalog port (raysight.ports) over this registry: what a serving replica reads."""

    def __init__(self, ctx: Platform) -> None:
        self.ctx = ctx

    def model_ref(self, model_id: str) -> ModelRef:
        return model_ref(ctx=self.ctx, model_id=model_id)

    def serving_key(self, model_id: str) -> tuple[str, str]:
        return serving_key(ctx=self.ctx, model_id=model_id)


async def evict(*, ctx: Platform, model_id: str) -> None:
    """Drop `model_id` from the serving replicas after a registry delete or update.

    Now, best effort, through the Predictor port (ServePredictor.evict: every key this process sent
    for the model, and each deployment once); reliably within ModelDeploymentOptions.reconcile_interval_s:
    every replica checks its loaded registry models against the registry and drops deleted or outdated
    ones. Correctness never depends on either: an updated model has a new key, a deleted one fails to
    resolve before any replica is asked."""
    if ctx.predictor is None:
        return
    current = None
    with contextlib.suppress(NotFound):
        current = serving_key(ctx=ctx, model_id=model_id)
    await ctx.predictor.evict(model_id, current=current)


def latest(*, ctx: Platform, plugin: str, tag: str | None = None) -> dict[str, Any] | None:
    """The newest model of a family (optionally carrying `tag`)."""
    with ctx.db.session() as s:
        rows = s.scalars(select(Model).where(Model.plugin == plugin).order_by(Model.created_at.desc())).all()
        for model in rows:
            if tag is None or tag in (model.tags or []):
                return as_dict(model)
    return None


# -- list / update / delete -------------------------------------------------------------------------------


def list_models(*, ctx: Platform, stage: str | None = None) -> dict[str, Any]:
    """Every model, newest first; only those at registry `stage` (e.g. "released") when given."""
    with ctx.db.session() as s:
        query = select(Model).order_by(Model.created_at.desc())
        if stage is not None:
            query = query.where(Model.stage == stage)
        rows = s.scalars(query).all()
        return {"models": [as_dict(m) for m in rows]}


def set_stage(*, ctx: Platform, model_id: str, stage: str | None) -> dict[str, Any]:
    """Move a model to a registry stage (None: no stage)."""
    with ctx.db.session() as s:
        model = _load(s, model_id)
        model.stage = stage
        s.flush()
        return as_dict(model)


def update(
    *, ctx: Platform, model_id: str, name: str | None = None, description: str | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """Change name, description and/or tags (fields left None stay as they are)."""
    if name is not None and not name.strip():
        raise Invalid("name must not be empty")
    with ctx.db.session() as s:
        model = _load(s, model_id)
        if name is not None:
            model.name = name.strip()
        if description is not None:
            model.description = description
        if tags is not None:
            model.tags = [str(t) for t in tags]
        s.flush()
        return as_dict(model)


async def delete(*, ctx: Platform, model_id: str) -> dict[str, Any]:
    """Remove the record and files, and evict the model from the serving replicas."""
    get(ctx=ctx, model_id=model_id)  # 404 first
    # Evict while the record still exists, so that the serving key can be computed.
    await evict(ctx=ctx, model_id=model_id)
    with ctx.db.session() as s:
        s.delete(_load(s, model_id))
    ctx.workspace.remove(ctx.workspace.model_dir(model_id))
    return {"ok": True, "message": "Model deleted successfully"}


# -- bringing weights in -----------------------------------------------------------------------------------


def plot_urls(model_id: str, names: list[str]) -> list[str]:
    return [f"/models/{model_id}/files/{n}" for n in names]


def install_trained(*, ctx: Platform, job: dict[str, Any], artifacts: Path) -> dict[str, Any]:
    """Register what a finished run left in `artifacts` (its final checkpoint folder): the TrainResult
    the plugin's train loop returned (raysight.train_result)."""
    result = read_final(artifacts)
    src = result.weights
    if not src.is_file():
        raise NotFound(f"the run left no weights file ({src.name})")
    model_id = timestamped_id("model")
    folder = ctx.workspace.model_dir(model_id)
    weights = folder / "weights" / f"best{src.suffix}"
    weights.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copy2(src, weights)
        plots = []
        for path in result.plots:
            plot = artifacts / clean_filename(path.name)
            if plot.is_file():
                shutil.copy2(plot, folder / plot.name)
                plots.append(plot.name)
        arch = result.model_name or str(job["model_name"])
        return register(
            ctx=ctx, model_id=model_id, plugin=job["plugin"], task_type=result.task_type or job["task_type"],
            weights_path=weights, classes=result.classes,
            name=f"{Path(arch).stem}_{job['dataset_id']}",
            description=f"trained by job {job['job_id']} on {job['dataset_id']} {job['version']}",
            metrics=result.metrics, job_id=job["job_id"], dataset_id=job["dataset_id"],
            params={**result.params, "model_name": arch, "imgsz": result.params.get("imgsz") or job["imgsz"],
                    "epochs": job["epochs"], "version": job["version"], "base_model_id": job.get("base_model_id")},
            pretrained=bool(job.get("pretrained")), tags=_job_tags(job, result.classes),
            plots=plot_urls(model_id, plots),
        )
    except BaseException:
        ctx.workspace.remove(folder)
        raise


def _job_tags(job: dict[str, Any], classes: list[str]) -> list[str]:
    """The class names (as the spec's example shows) plus any tags the job asked for in
    params["tags"] (a list or a comma-separated string)."""
    asked = (job.get("params") or {}).get("tags") or []
    if isinstance(asked, str):
        asked = [t.strip() for t in asked.split(",")]
    tags = [str(c) for c in classes]
    return tags + [str(t) for t in asked if t and str(t) not in tags]


async def upload(
    *,
    ctx: Platform,
    filename: str,
    read: Callable[[int], Awaitable[bytes]],
    plugin: str,
    name: str | None = None,
    classes: list[str] | None = None,
    description: str = "",
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """Register weights a user brings (extension): `plugin` is a family name (yolo, resnet, sam) or a model
    name that identifies one (yolov8n.pt, resnet18, vit_b). The file is validated before it is recorded:
    it must load into that family's architecture (the named one, if a model name was given) without
    anything in it being run (Backend.check_weights); InvalidWeights (400) otherwise, nothing kept."""
    backend = ctx.plugins.backends.get(plugin) or ctx.plugins.backend_for_model_name(plugin)
    if backend is None:
        raise Invalid(f"unknown model type '{plugin}'")
    suffix = Path(clean_filename(filename, "weights")).suffix.lower()
    if suffix not in backend.weights_suffixes:
        raise Invalid(f"{backend.name} weights must be a {' or '.join(backend.weights_suffixes)} file")
    model_id = timestamped_id("model")
    folder = ctx.workspace.model_dir(model_id)
    weights = folder / "weights" / f"best{suffix}"
    try:
        size = await save_stream(read, weights, max_bytes=ctx.settings.max_upload_bytes)
        if size == 0:
            raise Invalid("the weights file is empty")
        info = await asyncio.to_thread(check_upload, backend, weights, plugin=plugin, filename=filename,
                                       named=plugin not in ctx.plugins.backends)
        names = [c.strip() for c in (classes or []) if c.strip()]
        if names and info.num_classes is not None and len(names) != info.num_classes:
            raise Invalid(f"{len(names)} class names were given but the weights have {info.num_classes} classes")
        return register(
            ctx=ctx, model_id=model_id, plugin=backend.name, task_type=str(backend.task), weights_path=weights,
            classes=names or list(info.classes), name=(name or Path(clean_filename(filename)).stem).strip(),
            description=description, params={**info.params, "model_name": info.model_name, "uploaded": True},
            pretrained=True, tags=list(tags or []),
        )
    except BaseException:
        ctx.workspace.remove(folder)
        raise


def check_upload(backend: Backend, weights: Path, *, plugin: str, filename: str, named: bool) -> WeightsInfo:
    """Backend.check_weights on a saved upload; errors name the client's file name, not the stored path."""
    try:
        return backend.check_weights(weights, arch=plugin if named else None)
    except InvalidWeights as exc:
        shown = clean_filename(filename, "weights")
        raise InvalidWeights(exc.message.replace(f"'{weights.name}'", f"'{shown}'")) from None


# -- artifacts: files made from a model (exports), listed with it and downloadable -------------------------


def add_artifact(*, ctx: Platform, model_id: str, source: Path, name: str, info: dict[str, Any]) -> dict[str, Any]:
    """Move `source` into the model's exports folder as `name` and record it on the model (params
    ``artifacts``, newest last; an artifact of the same name is replaced). Returns the artifact record."""
    name = clean_filename(name)
    dest = ctx.workspace.model_dir(model_id) / "exports" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), dest)
    record = {**info, "name": name, "size_bytes": dest.stat().st_size, "created_at": iso(utcnow()),
              "url": f"/models/{model_id}/artifacts/{name}"}
    with ctx.db.session() as s:
        model = _load(s, model_id)
        params = dict(model.params or {})
        params["artifacts"] = [a for a in params.get("artifacts") or [] if a.get("name") != name] + [record]
        model.params = params
    return record


def artifacts(*, ctx: Platform, model_id: str) -> list[dict[str, Any]]:
    """The files exported from a model (ONNX, int8 ONNX...), oldest first."""
    with ctx.db.session() as s:
        return list((_load(s, model_id).params or {}).get("artifacts") or [])


def artifact_path(*, ctx: Platform, model_id: str, name: str) -> Path:
    """The file of a recorded artifact (NotFound for a name the model does not record)."""
    if not any(a.get("name") == name for a in artifacts(ctx=ctx, model_id=model_id)):
        raise NotFound(f"model '{model_id}' has no artifact '{name}'")
    path = ctx.workspace.model_dir(model_id) / "exports" / clean_filename(name)
    if not path.is_file():
        raise NotFound(f"the file of artifact '{name}' is missing")
    return path
