"""The semantic segmentation backend (torchvision LR-ASPP / DeepLabV3). Serving lives in predict.py,
training in train.py, evaluation and export in ops.py (all imported lazily)."""

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
    TaskType,
    WeightsInfo,
)

ARCHS = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50")
MODEL_NAMES = [*ARCHS, *(f"{a}.pth" for a in ARCHS), *(f"{a}.pt" for a in ARCHS)]


class SemsegBackend(Backend):
    name: ClassVar[str] = "semseg"
    task: ClassVar[TaskType] = TaskType.SEMANTIC_SEGMENT
    operations: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.PREDICT, Operation.TRAIN, Operation.EVALUATE, Operation.EXPORT})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.SEMANTIC_SEGMENT, Capability.TRAIN, Capability.EVALUATE, Capability.EXPORT})
    default_model_name: ClassVar[str] = "lraspp_mobilenet_v3_large"
    dataset_formats: ClassVar[tuple[str, ...]] = ("paddlex-seg",)
    default_params: ClassVar[dict[str, Any]] = {"epochs": 20, "imgsz": 512, "batch": 8, "lr": 0.003}
    train_imports: ClassVar[tuple[str, ...]] = ("torchvision", "raysight_semseg.train")

    def load(self, ref: ModelRef, *, device: str) -> Any:
        from raysight_semseg import predict

        return predict.load(ref, device=device)

    def predict(self, model: Any, images: list[np.ndarray], options: PredictOptions) -> list[list[Detection]]:
        """One detection per class present (background left out) with its mask's area and outline."""
        from raysight_semseg import predict

        return predict.predict(model, images, options)

    def check_weights(self, path: Path, *, arch: str | None = None) -> WeightsInfo:
        """A raysight segmentation checkpoint ({"arch", "classes", "state_dict", "imgsz"}) or a bare
        torchvision state dict, read with weights_only=True; every key and shape checked."""
        from raysight_semseg.model import read_weights

        w = read_weights(path, arch=arch)
        return WeightsInfo(family=self.name, arch=w.arch, model_name=w.arch, classes=list(w.classes),
                           num_classes=w.num_classes, params={"imgsz": w.imgsz} if w.imgsz else {},
                           format="raysight segmentation checkpoint" if w.meta else "torchvision state dict")

    def weights_names(self) -> dict[str, str]:
        return {f"{arch}{suffix}": arch for arch in ARCHS for suffix in (".pth", ".pt")}

    def train_loop(self) -> Callable[[dict[str, Any]], None]:
        from raysight_semseg import train

        return train.train_loop

    def evaluate(self, ref: ModelRef, *, data: EvalData, options: EvalOptions,
                 progress: Progress | None = None) -> EvalReport:
        """mIoU, per-class IoU and pixel accuracy on `data.split` (raysight_semseg.ops)."""
        from raysight_semseg import ops

        return ops.evaluate(ref, data=data, options=options, progress=progress)

    def export(self, ref: ModelRef, *, fmt: ExportFormat, output_dir: Path, calibration: EvalData | None = None,
               progress: Progress | None = None) -> ExportResult:
        """Float ONNX of the logits, checked against PyTorch with onnxruntime, or int8 ONNX (raysight_semseg.ops)."""
        from raysight_semseg import ops

        return ops.export(ref, fmt=fmt, output_dir=Path(output_dir), calibration=calibration, progress=progress)
