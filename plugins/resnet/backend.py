"""The ResNet classification backend. Serving lives in predict.py, training in train.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from raysight.plugin import (
    Backend,
    Capability,
    Detection,
    EvalData,
    EvalOptions,
    EvalReport,
    ExportFormat,
    ExportResult,
    ModelRef,
    Operation,
    PredictOptions,
    Progress,
    PruneResult,
    Sensitivity,
    TaskType,
    WeightsInfo,
)

ARCHS = ("resnet18", "resnet34", "resnet50")
MODEL_NAMES = [*ARCHS, *(f"{a}.pth" for a in ARCHS), *(f"{a}.pt" for a in ARCHS)]


class ResnetBackend(Backend):
    name: ClassVar[str] = "resnet"
    task: ClassVar[TaskType] = TaskType.CLASSIFY
    operations: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.PREDICT, Operation.TRAIN, Operation.EVALUATE, Operation.EXPORT})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.CLASSIFY, Capability.CLASSIFY_COMPONENTS, Capability.TRAIN, Capability.EVALUATE,
         Capability.EXPORT})
    default_model_name: ClassVar[str] = "resnet18"
    dataset_formats: ClassVar[tuple[str, ...]] = ("classify",)
    default_params: ClassVar[dict[str, Any]] = {"epochs": 10, "imgsz": 224, "batch": 32, "lr": 0.001}
    train_imports: ClassVar[tuple[str, ...]] = ("torchvision", "raysight_resnet.train")

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

    # -- model operations (raysight.model_ops) ---------------------------------------------------------
    def evaluate(self, ref: ModelRef, *, data: EvalData, options: EvalOptions,
                 progress: Progress | None = None) -> EvalReport:
        """Top-1 / top-k, per-class precision / recall / F1 and the confusion matrix (.pth or .onnx)."""
        from raysight_resnet import evaluate

        return evaluate.evaluate(ref, data=data, options=options, progress=progress)

    def export(self, ref: ModelRef, *, fmt: ExportFormat, output_dir: Path, calibration: EvalData | None = None,
               progress: Progress | None = None) -> ExportResult:
        """ONNX (parity checked with onnxruntime) or int8 ONNX (static with calibration images, else dynamic)."""
        from raysight_resnet import export

        return export.export(ref, fmt=fmt, output_dir=output_dir, calibration=calibration, progress=progress)

    def prune_groups(self) -> list[str]:
        from raysight_resnet.prune import GROUPS

        return list(GROUPS)

    def sensitivity(self, ref: ModelRef, *, data: EvalData, ratios: list[float], groups: list[str] | None = None,
                    options: EvalOptions | None = None, progress: Progress | None = None) -> Sensitivity:
        from raysight_resnet import prune

        return prune.sensitivity(ref, data=data, ratios=ratios, groups=groups, options=options, progress=progress)

    def prune(self, ref: ModelRef, *, ratio: float, output: Path, groups: list[str] | None = None) -> PruneResult:
        from raysight_resnet import prune

        return prune.prune(ref, ratio=ratio, output=output, groups=groups)
