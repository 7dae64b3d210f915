"""The ResNet classification backend. Serving lives in predict.py, training in train.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from raysight.plugin import Backend, Capability, Detection, ModelRef, Operation, PredictOptions, TaskType, WeightsInfo

ARCHS = ("resnet18", "resnet34", "resnet50")
MODEL_NAMES = [*ARCHS, *(f"{a}.pth" for a in ARCHS), *(f"{a}.pt" for a in ARCHS)]


class ResnetBackend(Backend):
    name: ClassVar[str] = "resnet"
    task: ClassVar[TaskType] = TaskType.CLASSIFY
    operations: ClassVar[frozenset[Operation]] = frozenset({Operation.PREDICT, Operation.TRAIN})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.CLASSIFY, Capability.CLASSIFY_COMPONENTS, Capability.TRAIN})
    default_model_name: ClassVar[str] = "resnet18"
    dataset_formats: ClassVar[tuple[str, ...]] = ("classify",)
    default_params: ClassVar[dict[str, Any]] = {"epochs": 10, "imgsz": 224, "batch": 32, "lr": 0.001}

    def load(self, ref: ModelRef, *, device: str) -> Any:
        from raysight_resnet import predict

        return predict.load(ref, device=device)

    def predict(self, model: Any, images: list[np.ndarray], options: PredictOptions) -> list[list[Detection]]:
        from raysight_resnet import predict

        return predict.predict(model, images, options)

    def check_weights(self, path: Path, *, arch: str | None = None) -> WeightsInfo:
        """A raysight ResNet checkpoint ({"arch", "classes", "state_dict", "imgsz"}) or a bare torchvision
        state dict, read with weights_only=True; every key and shape checked against the architecture."""
        from raysight_resnet.model import read_weights

        w = read_weights(path, arch=arch)
        return WeightsInfo(
            family=self.name, arch=w.arch, model_name=w.arch, classes=list(w.classes), num_classes=w.num_classes,
            params={"imgsz": w.imgsz} if w.imgsz else {},
            format="raysight ResNet checkpoint" if w.meta else "torchvision state dict",
        )

    def weights_names(self) -> dict[str, str]:
        return {f"{arch}{suffix}": arch for arch in ARCHS for suffix in (".pth", ".pt")}

    def train_loop(self) -> Callable[[dict[str, Any]], Any]:
        from raysight_resnet import train

        return train.train_loop
