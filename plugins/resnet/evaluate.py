"""Evaluating ResNet classifiers: top-1 / top-k accuracy, per-class precision / recall / F1 and the
confusion matrix on one split of a classification version (<root>/<split>/<class>/*.jpg).

The same code evaluates the PyTorch weights and an exported ONNX file (float or int8, run with
onnxruntime): both see exactly the images serving sees (raysight_resnet.predict.preprocess).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from raysight.backend import ModelRef
from raysight.errors import Invalid
from raysight.model_ops import ClassMetrics, EvalData, EvalOptions, EvalReport, Progress

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
Scores = Callable[[np.ndarray], np.ndarray]  # NCHW float32 batch -> (N, classes) logits


def split_items(data: EvalData) -> list[tuple[Path, int]]:
    """(image, class index) of every image of the split, in the version's class order."""
    root = Path(data.root) / data.split
    items: list[tuple[Path, int]] = []
    for index, name in enumerate(data.classes):
        folder = root / name
        if folder.is_dir():
            items += [(p, index) for p in sorted(folder.iterdir()) if p.suffix.lower() in SUFFIXES]
    return items


def batches(items: list[tuple[Path, int]], imgsz: int, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Preprocessed NCHW batches with their labels."""
    from PIL import Image

    from raysight_resnet.predict import preprocess

    for start in range(0, len(items), max(1, size)):
        chunk = items[start:start + size]
        images = []
        for path, _label in chunk:
            with Image.open(path) as im:
                images.append(np.asarray(im.convert("RGB")))
        yield preprocess(images, imgsz), np.array([label for _p, label in chunk], dtype=np.int64)


def torch_scores(net: Any, device: str = "cpu") -> Scores:
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(x).to(device)).float().cpu().numpy()

    return run


def onnx_scores(path: str | Path) -> Scores:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: np.asarray(session.run(None, {name: x})[0], dtype=np.float32)


def scores_for(ref: ModelRef, device: str) -> tuple[Scores, list[str], int]:
    """(scoring function, class names, imgsz) of a registered model: its .pth or an exported .onnx."""
    from raysight_resnet.predict import load

    weights = str(ref.weights_path or "")
    if weights.endswith(".onnx"):
        imgsz = int(ref.params.get("imgsz") or 224)
        return onnx_scores(weights), list(ref.classes), imgsz
    loaded = load(ref, device=device)
    return torch_scores(loaded.net, device), loaded.classes, loaded.imgsz


def classification_report(truth: np.ndarray, logits: np.ndarray, classes: list[str], topk: int) -> dict[str, Any]:
    """Headline metrics, per-class rows and the confusion matrix of `logits` against `truth`."""
    n_classes = len(classes)
    predicted = logits.argmax(1) if len(logits) else np.zeros(0, dtype=np.int64)
    k = max(1, min(int(topk), n_classes))
    top = np.argsort(-logits, axis=1)[:, :k] if len(logits) else np.zeros((0, k), dtype=np.int64)
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    rows, f1s = [], []
    for i, name in enumerate(classes):
        tp, support, guessed = int(matrix[i, i]), int(matrix[i].sum()), int(matrix[:, i].sum())
        precision = tp / guessed if guessed else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if support:
            f1s.append(f1)
        rows.append(ClassMetrics(name=name, support=support,
                                 values={"precision": precision, "recall": recall, "f1": f1}))
    n = max(1, len(truth))
    metrics = {"top1": float((predicted == truth).sum()) / n,
               f"top{k}": float((top == truth[:, None]).any(axis=1).sum()) / n,
               "macro_f1": float(np.mean(f1s)) if f1s else 0.0}
    metrics["accuracy"] = metrics["top1"]
    return {"metrics": metrics, "per_class": rows, "confusion": matrix.tolist()}


def run_scores(scores: Scores, items: list[tuple[Path, int]], imgsz: int, batch: int,
               progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(labels, logits) over `items`."""
    truth, outputs = [], []
    for done, (x, y) in enumerate(batches(items, imgsz, batch), start=1):
        outputs.append(scores(x))
        truth.append(y)
        if progress is not None:
            progress(min(1.0, done * batch / max(1, len(items))))
    if not outputs:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(truth), np.concatenate(outputs)


def evaluate(ref: ModelRef, *, data: EvalData, options: EvalOptions, progress: Progress | None = None) -> EvalReport:
    """Backend.evaluate for ResNet weights (.pth) and exported ResNet ONNX files."""
    started = time.monotonic()
    items = split_items(data)
    if not items:
        raise Invalid(f"the '{data.split}' split of {data.dataset_id} {data.version} has no images")
    scores, classes, imgsz = scores_for(ref, options.device)
    if classes != list(data.classes):
        if len(classes) != len(data.classes):
            raise Invalid(f"the model has {len(classes)} classes but the dataset has {len(data.classes)}")
        if sorted(classes) != sorted(data.classes):
            raise Invalid("the model's classes are not the dataset's classes")
    imgsz = int(options.imgsz or imgsz)
    truth, logits = run_scores(scores, items, imgsz, options.batch, progress)
    if classes != list(data.classes):  # same names in another order: score in the dataset's order
        logits = logits[:, [classes.index(c) for c in data.classes]]
    found = classification_report(truth, logits, list(data.classes), options.topk)
    return EvalReport(
        task="classify", model_id=ref.model_id, split=data.split, n_images=len(items),
        metrics=found["metrics"], per_class=found["per_class"], confusion=found["confusion"],
        confusion_labels=list(data.classes), dataset_id=data.dataset_id, version=data.version,
        weights=Path(str(ref.weights_path)).name, options={"imgsz": imgsz, "topk": options.topk},
        seconds=round(time.monotonic() - started, 3),
    )
