"""The model registry: records of servable weights (trained here, uploaded, or fine-tuned)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from raysight.backend import ModelRef
from raysight.context import Platform
from raysight.errors import NotFound
from raysight.store.models import Model
from raysight.store.models.base import iso
from raysight.workspace import check_id


def new_model_id() -> str:
    return f"model_{datetime.now(UTC):%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"


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
            id=model_id or new_model_id(),
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


def serving_key(*, ctx: Platform, model_id: str) -> tuple[str, str]:
    """(backend name, multiplexed key) for a registry model. The key changes whenever the record
    changes, so replicas never serve stale weights after an update."""
    with ctx.db.session() as s:
        model = _load(s, model_id)
        return model.plugin, f"{model.id}@{int(model.updated_at.timestamp() * 1000)}"


def latest(*, ctx: Platform, plugin: str, tag: str | None = None) -> dict[str, Any] | None:
    """The newest model of a family (optionally carrying `tag`)."""
    with ctx.db.session() as s:
        rows = s.scalars(select(Model).where(Model.plugin == plugin).order_by(Model.created_at.desc())).all()
        for model in rows:
            if tag is None or tag in (model.tags or []):
                return as_dict(model)
    return None
