"""The YOLO backend. Serving lives in predict.py, training in train.py (imported lazily so that
loading the plugin stays cheap in every process)."""

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

SIZES = ("n", "s", "m", "l", "x")
MODEL_NAMES = [f"{family}{size}.pt" for family in ("yolov8", "yolo11") for size in SIZES] + [
    f"{family}{size}.yaml" for family in ("yolov8", "yolo11") for size in SIZES
]


class YoloBackend(Backend):
    name: ClassVar[str] = "yolo"
    task: ClassVar[TaskType] = TaskType.DETECT
    operations: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.PREDICT, Operation.TRAIN, Operation.EVALUATE, Operation.EXPORT})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.DETECT, Capability.TRAIN, Capability.EVALUATE, Capability.EXPORT})
    default_model_name: ClassVar[str] = "yolov8n.pt"
    dataset_formats: ClassVar[tuple[str, ...]] = ("yolo", "coco", "voc")
    default_params: ClassVar[dict[str, Any]] = {"epochs": 10, "imgsz": 640, "batch": -1, "conf": 0.25, "iou": 0.7}
    weights_suffixes: ClassVar[tuple[str, ...]] = (".pt",)
    train_imports: ClassVar[tuple[str, ...]] = ("ultralytics", "raysight_yolo.train")

    def check_weights(self, path: Path, *, arch: str | None = None) -> WeightsInfo:
        """An ultralytics detection checkpoint, loaded through an allow-list of the classes such files
        contain (raysight_yolo.safe_load), checked against the architecture its config describes."""
        from raysight_yolo import weights

        return weights.check(Path(path), family=self.name, arch=arch)

    def weights_names(self) -> dict[str, str]:
        return {name: name.removesuffix(".pt") for name in MODEL_NAMES if name.endswith(".pt")}

    def load(self, ref: ModelRef, *, device: str) -> Any:
        from raysight_yolo import predict

        return predict.load(ref, device=device)

    def predict(self, model: Any, images: list[np.ndarray], options: PredictOptions) -> list[list[Detection]]:
        from raysight_yolo import predict

        return predict.predict(model, images, options)

    def input_side(self, model: Any, options: PredictOptions) -> int | None:
        """The letterbox size: an image's long side becomes imgsz (the request's, else the model's)."""
        return int(options.imgsz or model.imgsz)

    def train_loop(self) -> Callable[[dict[str, Any]], Any]:
        from raysight_yolo import train

        return train.train_loop

    def scaling_workers(self, requested: int) -> int:
        return 1  # ultralytics runs its own DDP inside one worker

    # -- model operations (raysight.model_ops) ---------------------------------------------------------
    def evaluate(self, ref: ModelRef, *, data: EvalData, options: EvalOptions,
                 progress: Progress | None = None) -> EvalReport:
        """mAP50, mAP50-95, precision, recall, AP per class, confusion matrix (ultralytics' validator),
        for the .pt or an exported .onnx."""
        from raysight_yolo import evaluate

        return evaluate.evaluate(ref, data=data, options=options, progress=progress)

    def export(self, ref: ModelRef, *, fmt: ExportFormat, output_dir: Path, calibration: EvalData | None = None,
               progress: Progress | None = None) -> ExportResult:
        """ONNX (parity checked with onnxruntime) or int8 ONNX (static on convolutions, else dynamic)."""
        from raysight_yolo import export

        return export.export(ref, fmt=fmt, output_dir=output_dir, calibration=calibration, progress=progress)

    def prune_groups(self) -> list[str]:
        """backbone / neck / head (raysight_yolo.prune)."""
        from raysight_yolo.prune import GROUPS

        return list(GROUPS)

    def sensitivity(self, ref: ModelRef, *, data: EvalData, ratios: list[float], groups: list[str] | None = None,
                    options: EvalOptions | None = None, progress: Progress | None = None) -> Sensitivity:
        """mAP50-95 lost per group per pruning ratio, without fine-tuning."""
        from raysight_yolo import prune

        return prune.sensitivity(ref, data=data, ratios=ratios, groups=groups, options=options, progress=progress)

    def prune(self, ref: ModelRef, *, ratio: float, output: Path, groups: list[str] | None = None) -> PruneResult:
        """A channel-pruned copy of the detector as an ultralytics checkpoint (.pt beside `output`)."""
        from raysight_yolo import prune

        return prune.prune(ref, ratio=ratio, output=output, groups=groups)


SEG_MODEL_NAMES = [f"{family}{size}-seg.{ext}" for family in ("yolov8", "yolo11") for size in SIZES
                   for ext in ("pt", "yaml")]


class YoloSegBackend(YoloBackend):
    """Instance segmentation with ultralytics' YOLO segmentation models (yolov8n-seg...): the same
    training, serving and safe loading as detection, with ultralytics' segment task; each detection
    carries its mask outline (``polygon``) and ``mask_area``."""

    name: ClassVar[str] = "yolo_seg"
    task: ClassVar[TaskType] = TaskType.INSTANCE_SEGMENT
    operations: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.PREDICT, Operation.TRAIN, Operation.EVALUATE, Operation.EXPORT})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.INSTANCE_SEGMENT, Capability.TRAIN, Capability.EVALUATE, Capability.EXPORT})
    default_model_name: ClassVar[str] = "yolov8n-seg.pt"
    dataset_formats: ClassVar[tuple[str, ...]] = ("yolo-seg", "coco")
    # no channel pruning for the mask head (yet): None makes this family fail the Prunable protocol check
    prune_groups = sensitivity = prune = None  # type: ignore[assignment]

    def check_weights(self, path: Path, *, arch: str | None = None) -> WeightsInfo:
        """An ultralytics segmentation checkpoint (SegmentationModel), through the same gates."""
        from raysight_yolo import weights

        return weights.check(Path(path), family=self.name, arch=arch, task="segment")

    def weights_names(self) -> dict[str, str]:
        return {name: name.removesuffix(".pt") for name in SEG_MODEL_NAMES if name.endswith(".pt")}

    def load(self, ref: ModelRef, *, device: str) -> Any:
        from raysight_yolo import predict

        return predict.load(ref, device=device, task="segment")

    def evaluate(self, ref: ModelRef, *, data: EvalData, options: EvalOptions,
                 progress: Progress | None = None) -> EvalReport:
        """Mask mAP50 / mAP50-95, precision, recall and per-class mask AP (raysight_yolo.seg_ops)."""
        from raysight_yolo import seg_ops

        return seg_ops.evaluate(ref, data=data, options=options, progress=progress)

    def export(self, ref: ModelRef, *, fmt: ExportFormat, output_dir: Path, calibration: EvalData | None = None,
               progress: Progress | None = None) -> ExportResult:
        """Float ONNX checked against the PyTorch model with onnxruntime, or int8 ONNX (the detection
        export's quantization: static on convolutions, calibrated on dataset images) (raysight_yolo.seg_ops)."""
        from raysight_yolo import seg_ops

        return seg_ops.export(ref, fmt=fmt, output_dir=Path(output_dir), calibration=calibration, progress=progress)
