"""Evaluation and ONNX export of semantic segmentation models.

Evaluation labels every image of the split (preprocessed as serving does, at the model's imgsz) and
compares it with the label PNG at the same size: mIoU, IoU of each class, pixel accuracy and the
pixel confusion matrix. An exported ``.onnx`` evaluates the same way through onnxruntime.

Export writes the logits graph (N, C, H, W) with ``torch.onnx.export`` (dynamic batch) and checks that
onnxruntime's logits match PyTorch's within tolerance on sample inputs; int8 quantizes that file with
onnxruntime (static QDQ on the convolutions, calibrated on the split's images; dynamic without them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from raysight.plugin import (
    ClassMetrics,
    EvalData,
    EvalOptions,
    EvalReport,
    ExportFormat,
    ExportResult,
    Invalid,
    ModelRef,
    NotFound,
    Progress,
    quantize_int8,
)
from raysight_semseg.data import confusion, pairs, preprocess, read_pair, resize_mask, scores

TOLERANCE = 1e-3
OPSET = 17
CALIBRATION_IMAGES = 32


class _Onnx:
    """An exported model as a logits function (onnxruntime on the CPU)."""

    def __init__(self, path: str) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        self.imgsz = int(shape[-1]) if isinstance(shape[-1], int) else None
        channels = self.session.get_outputs()[0].shape[1]
        if not isinstance(channels, int):  # a symbolic dimension: ask the graph
            size = self.imgsz or 64
            channels = self(np.zeros((1, 3, size, size), dtype=np.float32)).shape[1]
        self.classes = int(channels)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.session.get_inputs()[0].name: batch})[0]


def _logits_fn(ref: ModelRef, device: str) -> tuple[Any, int, list[str]]:
    """(batch -> logits numpy, imgsz, classes) for a .pth checkpoint or an exported .onnx."""
    path = ref.weights_path
    if not path or not Path(path).is_file():
        raise NotFound(f"weights of model '{ref.model_id}' not found")
    if path.endswith(".onnx"):
        onnx = _Onnx(path)
        classes = [str(c) for c in ref.classes] if len(ref.classes) == onnx.classes else \
            [str(i) for i in range(onnx.classes)]
        return onnx, int(onnx.imgsz or ref.params.get("imgsz") or 512), classes
    import torch

    from raysight_semseg.predict import load

    loaded = load(ref, device=device)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return loaded.net(torch.from_numpy(batch).to(device)).float().cpu().numpy()

    return run, loaded.imgsz, loaded.classes


def evaluate(ref: ModelRef, *, data: EvalData, options: EvalOptions, progress: Progress | None = None) -> EvalReport:
    started = time.monotonic()
    if data.task_type != "semantic_segment":
        raise Invalid(f"a semantic segmentation model evaluates semantic_segment data, not {data.task_type}")
    run, imgsz, classes = _logits_fn(ref, options.device)
    imgsz = int(options.imgsz or imgsz)
    items = pairs(Path(data.root), data.split)
    if not items:
        raise Invalid(f"no images with label PNGs in the '{data.split}' split of {data.dataset_id or data.root}")
    n = len(classes)
    matrix = np.zeros((n, n), dtype=np.int64)
    step = max(1, int(options.batch))
    for start in range(0, len(items), step):
        chunk = [read_pair(*pair) for pair in items[start:start + step]]
        logits = run(preprocess([rgb for rgb, _m in chunk], imgsz))
        for pred, (_rgb, label) in zip(logits.argmax(1), chunk, strict=True):
            matrix += confusion(pred, resize_mask(label, imgsz), n)
        if progress:
            progress(min(1.0, (start + step) / len(items)))
    s = scores(matrix)
    support = matrix.sum(1)
    per_class = [ClassMetrics(name=name, support=int(support[i]),
                              values={} if np.isnan(s["iou"][i]) else {
                                  "iou": float(s["iou"][i]),
                                  "accuracy": float(matrix[i, i] / support[i]) if support[i] else 0.0})
                 for i, name in enumerate(classes)]
    return EvalReport(
        task="semantic_segment", model_id=ref.model_id, split=data.split, n_images=len(items),
        metrics={"mIoU": s["mIoU"], "pixel_accuracy": s["pixel_accuracy"], "mean_accuracy": s["mean_accuracy"]},
        per_class=per_class, confusion=matrix.tolist(), confusion_labels=list(classes),
        dataset_id=data.dataset_id, version=data.version, weights=str(ref.weights_path),
        options={"imgsz": imgsz, "batch": step}, seconds=round(time.monotonic() - started, 3),
    )


def export(ref: ModelRef, *, fmt: ExportFormat, output_dir: Path, calibration: EvalData | None = None,
           progress: Progress | None = None) -> ExportResult:
    """Float ONNX of the logits graph, checked against PyTorch with onnxruntime."""
    import torch

    from raysight_semseg.predict import load

    fmt = ExportFormat(fmt)
    loaded = load(ref, device="cpu")
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / "model.onnx"
    x = torch.from_numpy(np.random.default_rng(0).random((1, 3, loaded.imgsz, loaded.imgsz), dtype=np.float32))
    if progress:
        progress(0.1)
    torch.onnx.export(loaded.net, (x,), str(target), input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=OPSET,
                      dynamo=False)
    if progress:
        progress(0.7)
    onnx = _Onnx(str(target))
    worst = 0.0
    batch = np.random.default_rng(1).standard_normal((2, 3, loaded.imgsz, loaded.imgsz)).astype(np.float32)
    with torch.inference_mode():
        expected = loaded.net(torch.from_numpy(batch)).float().numpy()
    got = onnx(batch)
    worst = float(np.abs(expected - got).max()) / max(1.0, float(np.abs(expected).max()))
    parity = {"images": 2, "max_rel_diff": worst, "tolerance": TOLERANCE, "ok": worst <= TOLERANCE,
              "same_labels": float((expected.argmax(1) == got.argmax(1)).mean())}
    if not parity["ok"]:
        raise Invalid(f"the ONNX export differs from the PyTorch model by {worst:.2e} (tolerance {TOLERANCE:g})")
    source = Path(str(ref.weights_path))
    shape = [-1, 3, loaded.imgsz, loaded.imgsz]
    if fmt == ExportFormat.ONNX:
        return ExportResult(path=str(target), format=str(fmt), size_bytes=target.stat().st_size,
                            source_size_bytes=source.stat().st_size, parity=parity, input_shape=shape, opset=OPSET)
    out = output_dir / "model_int8.onnx"
    how = quantize_int8(target, out, calibration_batch(calibration, loaded.imgsz), op_types=("Conv",))
    target.unlink(missing_ok=True)
    if progress:
        progress(1.0)
    return ExportResult(path=str(out), format=str(fmt), size_bytes=out.stat().st_size,
                        source_size_bytes=source.stat().st_size, parity={"float_onnx": parity}, quantization=how,
                        input_shape=shape, opset=OPSET)


def calibration_batch(data: EvalData | None, imgsz: int, limit: int = CALIBRATION_IMAGES) -> np.ndarray | None:
    """Up to `limit` preprocessed images of the calibration split (else of train)."""
    if data is None:
        return None
    items = pairs(Path(data.root), data.split) or pairs(Path(data.root), "train")
    if not items:
        return None
    step = max(1, len(items) // limit)
    return preprocess([read_pair(*pair)[0] for pair in items[::step][:limit]], imgsz)


