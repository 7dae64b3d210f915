"""The ResNet classification backend. Serving lives in predict.py, training in train.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from raysight.backend import Backend, Detection, ModelRef, Operation, PredictOptions, TaskType

ARCHS = ("resnet18", "resnet34", "resnet50")
MODEL_NAMES = [*ARCHS, *(f"{a}.pth" for a in ARCHS), *(f"{a}.pt" for a in ARCHS)]


class ResnetBackend(Backend):
    name: ClassVar[str] = "resnet"
    task: ClassVar[TaskType] = TaskType.CLASSIFY
    operations: ClassVar[frozenset[Operation]] = frozenset({Operation.PREDICT, Operation.TRAIN})
    dataset_formats: ClassVar[tuple[str, ...]] = ("classify",)
    default_params: ClassVar[dict[str, Any]] = {
        "model_name": "resnet18", "epochs": 10, "imgsz": 224, "batch": 32, "lr": 0.001,
    }

    def load(self, ref: ModelRef, *, device: str) -> Any:
        from raysight_resnet import predict

        return predict.load(ref, device=device)

    def predict(self, model: Any, images: list[np.ndarray], options: PredictOptions) -> list[list[Detection]]:
        from raysight_resnet import predict

        return predict.predict(model, images, options)

    def train_loop(self) -> Callable[[dict[str, Any]], None]:
        from raysight_resnet import train

        return train.train_loop
