"""Typed results of the model operations a family offers beyond predict and train: evaluation, export
and channel pruning. Part of the plugin contract (``Backend.evaluate`` / ``Backend.export``, and the
optional `Prunable` protocol); services and every API dialect read these types, never a family's dicts.

Everything here is plain data (dataclasses of str / int / float / lists / dicts) so that it pickles to
Ray workers and round-trips through JSON (``as_dict`` / ``from_dict``) for task records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from raysight.errors import Invalid

Progress = Callable[[float], None]  # called with 0..1 while an operation runs (may be a no-op)


class ExportFormat(StrEnum):
    ONNX = "onnx"  # float32 ONNX graph, same outputs as the PyTorch model within tolerance
    ONNX_INT8 = "onnx_int8"  # int8-quantized ONNX (onnxruntime.quantization)


@dataclass(frozen=True)
class EvalData:
    """The images a model is evaluated (or calibrated) on: one split of a prepared dataset version."""

    task_type: str  # detect / classify / segment...
    root: str  # the version folder (classification: <root>/<split>/<class>/*.jpg)
    data_yaml: str  # detection: the version's data.yaml (ultralytics reads `split` from it)
    split: str  # "val" or "test" (or "train" when a version has no held-out images)
    classes: list[str] = field(default_factory=list)
    dataset_id: str = ""
    version: str = ""


@dataclass(frozen=True)
class EvalOptions:
    """What an evaluation may be tuned with (None = the family's default)."""

    imgsz: int | None = None
    batch: int = 16
    topk: int = 5  # classification: top-k accuracy
    conf: float | None = None  # detection: score threshold of the confusion matrix / counted predictions
    iou: float | None = None  # detection / instance segmentation: IoU threshold of a match
    device: str = "cpu"


@dataclass
class ClassMetrics:
    """One row of the per-class table: the class, its metric values (names depend on the task, e.g.
    precision / recall / ap50 / ap50_95 for detection, precision / recall / f1 for classification) and
    how many ground-truth items it has in the split."""

    name: str
    values: dict[str, float] = field(default_factory=dict)
    support: int = 0


@dataclass
class EvalReport:
    """What an evaluation found on one split. `metrics` are the headline numbers (detection: mAP50,
    mAP50-95, precision, recall; classification: top1, top5 ...). `confusion[i][j]` counts items of
    true class `confusion_labels[i]` predicted as `confusion_labels[j]` (detection adds a "background"
    label for missed objects / false detections)."""

    task: str
    model_id: str
    split: str
    n_images: int
    metrics: dict[str, float] = field(default_factory=dict)
    per_class: list[ClassMetrics] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    confusion_labels: list[str] = field(default_factory=list)
    dataset_id: str = ""
    version: str = ""
    weights: str = ""  # the file evaluated (a .pt/.pth or an exported .onnx)
    options: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["per_class"] = [ClassMetrics(**row) for row in data.get("per_class") or []]
        return cls(**values)


@dataclass
class ExportResult:
    """An exported file. `parity` compares the export with the PyTorch model on sample images
    (e.g. {"images": 4, "max_abs_diff": 1e-5, "tolerance": 1e-3}); `quantization` says how an int8 file
    was made ({"mode": "static", "calibration_images": 16} or {"mode": "dynamic", "reason": ...})."""

    path: str
    format: str
    size_bytes: int
    source_size_bytes: int = 0
    parity: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] = field(default_factory=dict)
    input_shape: list[int] = field(default_factory=list)
    opset: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Sensitivity:
    """Sensitivity analysis: `loss[group][str(ratio)]` is the metric lost (baseline - pruned, no
    fine-tuning) when `ratio` of the group's prunable channels are removed."""

    metric: str
    baseline: float
    ratios: list[float]
    groups: list[str]
    loss: dict[str, dict[str, float]] = field(default_factory=dict)
    params: dict[str, dict[str, int]] = field(default_factory=dict)  # group -> {ratio: parameters left}
    n_images: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PruneResult:
    """A pruned (not yet fine-tuned) weights file and what pruning took away."""

    path: str
    ratio: float
    groups: list[str]
    params_before: int
    params_after: int
    size_before: int = 0
    size_after: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Prunable(Protocol):
    """A family that can channel-prune its models implements these (next to its Backend methods)."""

    def prune_groups(self) -> list[str]:
        """The layer groups a sensitivity analysis and a prune address (ResNet: layer1..layer4)."""
        ...

    def sensitivity(self, ref: Any, *, data: EvalData, ratios: list[float], groups: list[str] | None = None,
                    options: EvalOptions | None = None, progress: Progress | None = None) -> Sensitivity:
        """Metric lost per pruning ratio per group, without fine-tuning."""
        ...

    def prune(self, ref: Any, *, ratio: float, output: Path, groups: list[str] | None = None) -> PruneResult:
        """Write a pruned copy of the model to `output` in a form the family rebuilds without unpickling
        objects (e.g. kept channel counts + state_dict)."""
        ...


# -- helpers a Prunable family shares -------------------------------------------------------------------------


def prune_groups_of(groups: list[str] | None, known: list[str], family: str) -> list[str]:
    """`groups` checked against the family's `known` ones (None or empty: all of them)."""
    chosen = list(groups or known)
    unknown = [g for g in chosen if g not in known]
    if unknown:
        raise Invalid(f"unknown layer group(s) {unknown}; {family} groups are {', '.join(known)}")
    return chosen


def prune_ratio(ratio: float) -> float:
    """A pruning ratio: a number strictly between 0 and 1."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) < 1.0:
        raise Invalid("a pruning ratio must be a number between 0 and 1 (exclusive)")
    return float(ratio)


def count_params(net: Any) -> int:
    """Parameters of a torch module."""
    return int(sum(p.numel() for p in net.parameters()))


def sweep_sensitivity(*, metric: str, groups: list[str], ratios: list[float], n_images: int, baseline: float,
                      pruned: Callable[[float, str], Any], measure: Callable[[Any], float],
                      progress: Progress | None = None) -> Sensitivity:
    """The sensitivity table: each group pruned alone at each ratio (`pruned(ratio, group)`, a pruned
    copy of the model), the metric lost against `baseline` (`measure(net)`), and the parameters left."""
    steps = sorted({prune_ratio(r) for r in ratios})
    if not steps:
        raise Invalid("give at least one pruning ratio")
    loss: dict[str, dict[str, float]] = {}
    params: dict[str, dict[str, int]] = {}
    total, done = len(groups) * len(steps), 0
    for group in groups:
        loss[group], params[group] = {}, {}
        for ratio in steps:
            net = pruned(ratio, group)
            params[group][f"{ratio:g}"] = count_params(net)
            loss[group][f"{ratio:g}"] = round(baseline - measure(net), 6)
            done += 1
            if progress is not None:
                progress(done / total)
    return Sensitivity(metric=metric, baseline=baseline, ratios=steps, groups=groups, loss=loss, params=params,
                       n_images=n_images)
