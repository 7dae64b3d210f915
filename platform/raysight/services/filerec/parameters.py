"""The recognizer and training parameters that clients set at run time (`set_parameters`).

They live in one JSON file of the workspace (dialects/filerec/parameters.json), written atomically,
so that every ingress replica and every restart sees the same choice.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from raysight import defaults
from raysight.context import Platform
from raysight.errors import Invalid
from raysight.services import datasets, inference

OCR = "ocr"  # the default recognizer: the OCR plugin's built-in model
DEFAULTS: dict[str, Any] = {
    "recognizer": {"model_id": OCR, "conf": defaults.CONF, "iou": defaults.IOU},
    "training": {"dataset_id": None, "version": "v1", "model_name": None, "base_model_id": None,
                 "epochs": defaults.TRAIN_EPOCHS, "imgsz": defaults.TRAIN_IMGSZ, "batch": defaults.TRAIN_BATCH,
                 "learning_rate": None},
}
RECOGNIZER_KEYS = ("model_id", "conf", "iou")
TRAINING_KEYS = tuple(DEFAULTS["training"])
_lock = threading.Lock()


def _path(ctx: Platform) -> Any:
    return ctx.workspace.dialect_dir("filerec") / "parameters.json"


def load(*, ctx: Platform) -> dict[str, Any]:
    """The current parameters (the defaults where nothing was set)."""
    path = _path(ctx)
    stored: dict[str, Any] = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {}
    return {part: {**DEFAULTS[part], **(stored.get(part) or {})} for part in DEFAULTS}


def _save(ctx: Platform, params: dict[str, Any]) -> None:
    path = _path(ctx)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(params, indent=2, ensure_ascii=False))
    tmp.replace(path)


def check_recognizer(*, ctx: Platform, model_id: str) -> str:
    """'ocr' or a registered model that can predict (NotFound / Invalid otherwise)."""
    model_id = str(model_id).strip()
    if model_id.lower() in (OCR, "builtin:ocr"):
        return OCR
    inference.resolve(ctx=ctx, model_id=model_id)
    return model_id


def update(*, ctx: Platform, values: dict[str, Any]) -> dict[str, Any]:
    """Merge already type-checked `values` into the stored parameters after checking what refers to
    other records (the recognizer model, the training dataset and base model). Returns all of them."""
    unknown = sorted(set(values) - set(RECOGNIZER_KEYS) - set(TRAINING_KEYS))
    if unknown:
        raise Invalid(f"unknown parameter(s) {', '.join(unknown)}")
    if not values:
        raise Invalid("no parameter given: set any of " + ", ".join(RECOGNIZER_KEYS + TRAINING_KEYS))
    if values.get("model_id") is not None:
        values["model_id"] = check_recognizer(ctx=ctx, model_id=values["model_id"])
    if values.get("dataset_id"):
        datasets.get_dataset(ctx=ctx, dataset_id=str(values["dataset_id"]))
    if values.get("base_model_id"):
        from raysight.services import models

        models.get(ctx=ctx, model_id=str(values["base_model_id"]))
    with _lock:
        params = load(ctx=ctx)
        for key, value in values.items():
            part = "recognizer" if key in RECOGNIZER_KEYS else "training"
            if value is not None:
                params[part][key] = value
            elif part == "training":  # cleared: back to its default (none for dataset, base model, lr)
                params[part][key] = DEFAULTS[part][key]
        _save(ctx, params)
    return params


def recognizer(*, ctx: Platform) -> dict[str, Any]:
    return dict(load(ctx=ctx)["recognizer"])
