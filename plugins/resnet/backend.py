from __future__ import annotations

from typing import Any, ClassVar

from raysight.backend import Backend, Operation, TaskType

ARCHS = ("resnet18", "resnet34", "resnet50")
MODEL_NAMES = [*ARCHS, *(f"{a}.pth" for a in ARCHS), *(f"{a}.pt" for a in ARCHS)]


class ResnetBackend(Backend):
    name: ClassVar[str] = "resnet"
    task: ClassVar[TaskType] = TaskType.CLASSIFY
    operations: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.PREDICT, Operation.TRAIN, Operation.EVALUATE, Operation.EXPORT}
    )
    dataset_formats: ClassVar[tuple[str, ...]] = ("classify",)
    default_params: ClassVar[dict[str, Any]] = {
        "model_name": "resnet18", "epochs": 10, "imgsz": 224, "batch": 32, "lr": 0.001,
    }
