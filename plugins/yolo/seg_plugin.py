"""The yolo_seg plugin (its own entry point, in the yolo family's package): instance segmentation with
ultralytics YOLO segmentation models (yolov8n-seg...). A separate entry point so that the plugin
allow-list (RAYSIGHT_PLUGINS) turns it on and off apart from detection."""

from __future__ import annotations

from raysight.hookspecs import hookimpl
from raysight_yolo.backend import SEG_MODEL_NAMES, YoloSegBackend


@hookimpl
def raysight_backends() -> list[YoloSegBackend]:
    return [YoloSegBackend()]


@hookimpl
def raysight_model_names() -> dict[str, str]:
    return {name: YoloSegBackend.name for name in SEG_MODEL_NAMES}
