"""The base class every model family implements, and the registry of task types.

A backend is stateless and picklable: Ray ships it to Serve replicas and Train workers. Loaded
weights live in the object returned by ``load`` (the replica's multiplexed cache holds that).

Model keys a replica is asked for (a plugin sees only the ModelRef built from one): ``builtin:<name>``
or ``builtin:<name>:<variant>`` for a model the family serves without a registry record
(``Backend.builtin_ref``), and ``<model id>@<version>`` for a registry model (the core builds its
ModelRef from the record; the version changes with the record, so an update is never served stale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from raysight import defaults
from raysight.capabilities import Capability
from raysight.model_ops import EvalData, EvalOptions, EvalReport, ExportFormat, ExportResult, Progress


class TaskType(StrEnum):
    DETECT = "detect"
    SEGMENT = "segment"  # SAM: segmentation prompted by points and boxes
    CLASSIFY = "classify"
    OCR = "ocr"
    INSTANCE_SEGMENT = "instance_segment"  # a mask per object (YOLO segmentation models)
    SEMANTIC_SEGMENT = "semantic_segment"  # a class per pixel (torchvision segmentation models)


class Operation(StrEnum):
    PREDICT = "predict"
    TRAIN = "train"
    EVALUATE = "evaluate"
    EXPORT = "export"


@dataclass(frozen=True)
class ModelRef:
    """What a replica needs to load a registered model (built from the registry record)."""

    model_id: str
    weights_path: str | None
    classes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # the record's params (TrainResult.params ...)
    weights_dir: str | None = None  # the workspace's weights folder, where named files (mobile_sam.pt) lie


@dataclass(frozen=True)
class WeightsInfo:
    """What `Backend.check_weights` found: the architecture a weights file fits (keys and shapes checked)."""

    family: str  # the backend's name: yolo, resnet, sam
    arch: str  # the architecture it fits: yolov8n, yolo11s, resnet18, vit_b, vit_t
    model_name: str  # the name training and the registry use for it: yolov8n.pt, resnet18, vit_b
    classes: list[str] = field(default_factory=list)  # class names stored in the file ([] if none)
    num_classes: int | None = None  # outputs of its head (None where the family has no classes)
    params: dict[str, Any] = field(default_factory=dict)  # for a registry record: imgsz, model_type...
    format: str = ""  # what kind of file it is, for people (e.g. "ultralytics checkpoint")


@dataclass(frozen=True)
class PredictOptions:
    conf: float = defaults.CONF
    iou: float = defaults.IOU
    imgsz: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Detection:
    """One result in the native API's shape; classification fills bbox with the whole image."""

    class_id: int
    class_name: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "class_id": int(self.class_id),
            "class_name": self.class_name,
            "confidence": round(float(self.confidence), 6),
            "bbox": {"x1": float(self.x1), "y1": float(self.y1), "x2": float(self.x2), "y2": float(self.y2)},
        }
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class TrainContext:
    """Everything a per-worker train function gets (passed as TorchTrainer's train_loop_config)."""

    job_id: str
    data: str  # data.yaml (detect) or the dataset version folder (classify)
    task_type: str
    model_name: str
    classes: list[str]
    epochs: int
    imgsz: int
    batch: int
    weights: str | None  # starting weights, None = fresh architecture
    log_file: str
    output_dir: str  # the worker's scratch folder for this job (framework runs, temporary checkpoints)
    params: dict[str, Any] = field(default_factory=dict)
    plugin: str = ""
    pretrained: bool = False  # `weights` are pretrained or a registered model (fine-tuning)
    base_model_id: str | None = None
    supervisor: str | None = None  # name of the job supervisor actor that takes log lines and progress
    namespace: str | None = None  # its Ray namespace
    use_gpu: bool = False


class Backend:
    """Base of every model family. Subclasses set the class attributes and override what they support.

    `name` is unique across all plugins (a second backend of the same name is refused at discovery);
    it is also the name of the Serve deployment that hosts the family and the key of its entry under
    ``models:`` in serve_config.yaml. `capabilities` is what services may ask this family for.
    `default_model_name` is the model name a training job uses when it names none (a name this
    family's ``raysight_model_names`` hook maps to it).
    """

    name: ClassVar[str] = ""
    task: ClassVar[TaskType] = TaskType.DETECT
    operations: ClassVar[frozenset[Operation]] = frozenset()
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    default_model_name: ClassVar[str] = ""
    dataset_formats: ClassVar[tuple[str, ...]] = ()
    default_params: ClassVar[dict[str, Any]] = {}
    weights_suffixes: ClassVar[tuple[str, ...]] = (".pt", ".pth")
    # modules its train loop imports, which a Train worker's process imports ahead while it waits idle for
    # the next run (training.warm_processes): its library and its train module
    train_imports: ClassVar[tuple[str, ...]] = ()

    def describe(self) -> dict[str, Any]:
        params = {"model_name": self.default_model_name} if self.default_model_name else {}
        return {
            "name": self.name,
            "task": str(self.task),
            "operations": sorted(str(o) for o in self.operations),
            "capabilities": sorted(str(c) for c in self.capabilities),
            "dataset_formats": list(self.dataset_formats),
            "default_params": {**params, **self.default_params},
        }

    def supports(self, operation: Operation | str) -> bool:
        return Operation(operation) in self.operations

    def provides(self, capability: Capability | str) -> bool:
        return Capability(capability) in self.capabilities

    def builtin_key(self, variant: str | None = None) -> str:
        """The key of this family's built-in model (``builtin:<name>`` or ``builtin:<name>:<variant>``),
        what services send when they ask a capability's provider without naming a model."""
        return f"builtin:{self.name}" + (f":{variant}" if variant else "")

    # -- serving ------------------------------------------------------------
    def load(self, ref: ModelRef, *, device: str) -> Any:
        """Load weights for serving; the returned object is cached per replica by model id."""
        raise NotImplementedError(f"{self.name} cannot load models")

    def predict(self, model: Any, images: list[np.ndarray], options: PredictOptions) -> list[list[Detection]]:
        """Run one batch of RGB uint8 HxWx3 images; one list of detections per image."""
        raise NotImplementedError(f"{self.name} has no predict")

    def input_side(self, model: Any, options: PredictOptions) -> int | None:
        """The long side, in pixels, this family resizes an image to before `model` sees it with
        `options` (YOLO's imgsz), or None where it looks at the image's full resolution (the default).
        A replica then decodes a large JPEG upload at 1/2, 1/4 or 1/8 of its size where at least this
        many pixels remain on its long side; predict still gets RGB images and the answer's boxes (and
        a segmentation's polygons) are scaled back to the upload's own pixels."""
        return None

    def run(self, model: Any, op: str, payload: dict[str, Any]) -> Any:
        """Family-specific operations beyond batched predict (SAM prompts, full OCR...)."""
        raise NotImplementedError(f"{self.name} has no operation '{op}'")

    def builtin_ref(self, key: str) -> ModelRef | None:
        """A model this family serves without a registry record (e.g. ``builtin:ocr``,
        ``builtin:sam:vit_t``), or None if `key` names none."""
        return None

    # -- weights files --------------------------------------------------------
    def check_weights(self, path: Path, *, arch: str | None = None) -> WeightsInfo:
        """Check that the file at `path` loads into one of this family's architectures (keys and tensor
        shapes) WITHOUT running anything from it (no unpickling of arbitrary objects), and say which.

        `arch` (an architecture or model name of this family: ``yolov8n.pt``, ``resnet50``, ``vit_b``)
        requires that one. Raises ``raysight.errors.InvalidWeights`` naming what does not fit. Every
        place a family loads weights (serving, training, uploads, ``raysight weights``) relies on it.
        """
        from raysight.errors import InvalidWeights

        raise InvalidWeights(f"the {self.name} model family takes no weights files")

    def weights_names(self) -> dict[str, str]:
        """File names this family looks up in the workspace's weights folder, each with the
        architecture it must fit (``{"yolov8n.pt": "yolov8n"}``)."""
        return {}

    # -- training -----------------------------------------------------------
    def train_loop(self) -> Callable[[dict[str, Any]], Any]:
        """The per-worker function each Ray Train worker runs. It gets the job's config (open it with
        ``raysight.plugin.TrainSession.for_config(config)``: TrainContext, logs, epoch reports,
        checkpoints) and returns a ``TrainResult`` on the chief worker (None on the others)."""
        raise NotImplementedError(f"{self.name} cannot train")

    def scaling_workers(self, requested: int) -> int:
        """How many Ray Train workers this family can use for a job (override to cap)."""
        return max(1, requested)

    # -- the rest -------------------------------------------------------------
    def evaluate(self, ref: ModelRef, *, data: EvalData, options: EvalOptions,
                 progress: Progress | None = None) -> EvalReport:
        """Real metrics of the model on `data` (one split of a prepared dataset version). `ref.weights_path`
        may also be a file this family exported (.onnx), so that an export's accuracy can be measured."""
        raise NotImplementedError(f"{self.name} has no evaluate")

    def export(self, ref: ModelRef, *, fmt: ExportFormat, output_dir: Path, calibration: EvalData | None = None,
               progress: Progress | None = None) -> ExportResult:
        """Write the model in `fmt` under `output_dir` and check it (float ONNX: outputs against the
        PyTorch model; int8: quantized with images of `calibration` where static quantization works)."""
        raise NotImplementedError(f"{self.name} has no export")
