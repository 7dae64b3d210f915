"""Evaluating YOLO detectors with ultralytics' validator: mAP50, mAP50-95, precision, recall, AP per
class and the confusion matrix on one split of a detection version's data.yaml.

The same call evaluates the registered ``.pt`` (loaded through raysight_yolo.safe_load) and an exported
``.onnx`` (float or int8), which ultralytics runs with onnxruntime: an export's accuracy is measured
exactly as the original's.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from raysight.plugin import ClassMetrics, EvalData, EvalOptions, EvalReport, Invalid, ModelRef, Progress

DEFAULT_CONF = 0.001  # ultralytics' validation default: the whole precision-recall curve counts
MATRIX_CONF = 0.25  # score threshold of the detections the confusion matrix counts (options.conf)
DEFAULT_IOU = 0.7  # NMS IoU of validation
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def open_any(weights: str) -> Any:
    """ultralytics.YOLO for a checkpoint (both safe-load gates) or an ONNX file (no pickle in it)."""
    from ultralytics import YOLO

    from raysight_yolo.safe_load import enforce, open_model

    if weights.endswith(".onnx"):
        enforce()
        return YOLO(weights, task="detect")
    return open_model(weights)


def split_images(data: EvalData) -> int:
    """Number of images of the split, as the version's data.yaml names it."""
    import yaml

    spec = yaml.safe_load(Path(data.data_yaml).read_text()) or {}
    entry = spec.get(data.split)
    if not entry:
        raise Invalid(f"{data.dataset_id} {data.version} has no '{data.split}' split")
    folder = Path(str(spec.get("path") or Path(data.data_yaml).parent)) / str(entry)
    return sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else 0


def _confusion(metrics: Any, names: list[str]) -> tuple[list[list[int]], list[str]]:
    """ultralytics counts [predicted, true]; the report shows [true, predicted], with "background" last
    (missed objects in its column, detections of nothing in its row)."""
    matrix = getattr(getattr(metrics, "confusion_matrix", None), "matrix", None)
    if matrix is None:
        return [], []
    return [[int(v) for v in row] for row in matrix.T.tolist()], [*names, "background"]


def _matrix_threshold(threshold: float) -> Any:
    """A validator callback: the confusion matrix counts detections scoring at least `conf`, while mAP
    keeps ultralytics' low validation threshold (the whole precision-recall curve)."""
    conf = threshold  # the default of the replacement's `conf`, which it ignores

    def patch(validator: Any) -> None:
        matrix = getattr(validator, "confusion_matrix", None)
        if matrix is None or getattr(matrix, "raysight_conf", None) == threshold:
            return
        original = matrix.process_batch

        def process_batch(detections: Any, batch: Any, conf: float = conf, iou_thres: float = 0.45) -> Any:
            return original(detections, batch, conf=threshold, iou_thres=iou_thres)

        matrix.process_batch = process_batch
        matrix.raysight_conf = threshold

    return patch


def report_of(metrics: Any, names: list[str], n_images: int) -> dict[str, Any]:
    """Headline metrics, per-class rows and the confusion matrix of ultralytics' DetMetrics."""
    box = metrics.box
    headline = {"mAP50": float(box.map50), "mAP50-95": float(box.map), "precision": float(box.mp),
                "recall": float(box.mr)}
    counts = getattr(metrics, "nt_per_class", None)  # ground-truth boxes per class
    support = [int(v) for v in counts] if counts is not None else []
    rows: list[ClassMetrics] = []
    measured = {int(c): i for i, c in enumerate(metrics.ap_class_index)}
    for c, name in enumerate(names):
        values = {"precision": 0.0, "recall": 0.0, "ap50": 0.0, "ap50_95": 0.0}
        if c in measured:
            i = measured[c]
            values = {"precision": float(box.p[i]), "recall": float(box.r[i]), "ap50": float(box.ap50[i]),
                      "ap50_95": float(box.ap[i])}
        rows.append(ClassMetrics(name=name, values=values, support=support[c] if c < len(support) else 0))
    confusion, labels = _confusion(metrics, names)
    return {"metrics": headline, "per_class": rows, "confusion": confusion, "labels": labels}


def thresholds(options: EvalOptions) -> tuple[float, float]:
    """(confusion-matrix confidence, NMS IoU) of an evaluation: the options' or the defaults."""
    return (MATRIX_CONF if options.conf is None else float(options.conf),
            DEFAULT_IOU if options.iou is None else float(options.iou))


def validate(model: Any, *, data: EvalData, options: EvalOptions, imgsz: int, plots: bool = True) -> Any:
    """ultralytics' DetMetrics of `model` (an ultralytics.YOLO) on the split, at `imgsz`."""
    matrix_conf, iou = thresholds(options)
    model.add_callback("on_val_batch_start", _matrix_threshold(matrix_conf))
    scratch = Path(tempfile.mkdtemp(prefix="raysight_val_"))
    try:  # plots=True: ultralytics fills the confusion matrix only then (the plots go to a scratch folder)
        return model.val(data=data.data_yaml, split=data.split, imgsz=imgsz, batch=max(1, options.batch),
                         conf=DEFAULT_CONF, iou=iou, device=options.device, plots=plots, verbose=False,
                         save_json=False,
                         project=str(scratch), name="val", exist_ok=True, workers=0, half=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def evaluate(ref: ModelRef, *, data: EvalData, options: EvalOptions, progress: Progress | None = None) -> EvalReport:
    """Backend.evaluate for YOLO weights (.pt) and exported YOLO ONNX files."""
    started = time.monotonic()
    weights = str(ref.weights_path or "")
    if not weights or not Path(weights).is_file():
        raise Invalid(f"weights of model '{ref.model_id}' not found")
    n_images = split_images(data)
    if n_images == 0:
        raise Invalid(f"the '{data.split}' split of {data.dataset_id} {data.version} has no images")
    model = open_any(weights)
    names = [str(v) for _k, v in sorted((model.names or {}).items())]
    if len(names) != len(data.classes):
        raise Invalid(f"the model has {len(names)} classes but the dataset has {len(data.classes)}")
    names = list(data.classes)  # the version's names (its label files index them)
    imgsz = int(options.imgsz or ref.params.get("imgsz") or (model.overrides or {}).get("imgsz") or 640)
    matrix_conf, iou = thresholds(options)
    metrics = validate(model, data=data, options=options, imgsz=imgsz)
    if progress is not None:
        progress(1.0)
    found = report_of(metrics, names, n_images)
    return EvalReport(
        task="detect", model_id=ref.model_id, split=data.split, n_images=n_images, metrics=found["metrics"],
        per_class=found["per_class"], confusion=found["confusion"], confusion_labels=found["labels"],
        dataset_id=data.dataset_id, version=data.version, weights=Path(weights).name,
        options={"imgsz": imgsz, "conf": matrix_conf, "iou": iou, "map_conf": DEFAULT_CONF},
        seconds=round(time.monotonic() - started, 3),
    )
