"""raysight_yolo: object detection and instance segmentation with ultralytics YOLO (v8, 11...)."""

from __future__ import annotations

from raysight.hookspecs import hookimpl
from raysight_yolo.backend import MODEL_NAMES, SEG_MODEL_NAMES, YoloBackend, YoloSegBackend


@hookimpl
def raysight_backends() -> list[YoloBackend]:
    return [YoloBackend(), YoloSegBackend()]


@hookimpl
def raysight_model_names() -> dict[str, str]:
    return {**{name: YoloBackend.name for name in MODEL_NAMES},
            **{name: YoloSegBackend.name for name in SEG_MODEL_NAMES}}
