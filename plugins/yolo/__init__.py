"""raysight_yolo: object detection with ultralytics YOLO (v8, 11...)."""

from __future__ import annotations

from raysight.hookspecs import hookimpl
from raysight_yolo.backend import MODEL_NAMES, YoloBackend


@hookimpl
def raysight_backends() -> list[YoloBackend]:
    return [YoloBackend()]


@hookimpl
def raysight_model_names() -> dict[str, str]:
    return {name: YoloBackend.name for name in MODEL_NAMES}
