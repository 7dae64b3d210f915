from __future__ import annotations

from typing import Any, ClassVar

from raysight.backend import Backend, Operation, TaskType

SIZES = ("n", "s", "m", "l", "x")
MODEL_NAMES = [f"{family}{size}.pt" for family in ("yolov8", "yolo11") for size in SIZES] + [
    f"{family}{size}.yaml" for family in ("yolov8", "yolo11") for size in SIZES
]


class YoloBackend(Backend):
    name: ClassVar[str] = "yolo"
    task: ClassVar[TaskType] = TaskType.DETECT
    operations: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.PREDICT, Operation.TRAIN, Operation.EVALUATE, Operation.EXPORT}
    )
    dataset_formats: ClassVar[tuple[str, ...]] = ("yolo", "coco", "voc")
    default_params: ClassVar[dict[str, Any]] = {
        "model_name": "yolov8n.pt", "epochs": 10, "imgsz": 640, "batch": -1, "conf": 0.25, "iou": 0.7,
    }
