"""Exporting ResNet classifiers to ONNX (float32) and int8 ONNX.

- onnx: ``torch.onnx.export`` with a dynamic batch axis, then the ONNX file is run with onnxruntime on
  sample images and its logits compared with the PyTorch model's (`parity`).
- onnx_int8: the float export quantized with ``onnxruntime.quantization``: static (QDQ, per-channel
  weights, activations calibrated on images of the dataset) when calibration images are given and that
  works; dynamic (weights only) otherwise. `quantization` says which and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from raysight.plugin import EvalData, ExportFormat, ExportResult, ModelRef, Progress, quantize_int8

OPSET = 17
TOLERANCE = 1e-3  # max |logit difference| between PyTorch and the float ONNX file
CALIBRATION_IMAGES = 32


def _sample(calibration: EvalData | None, imgsz: int, limit: int) -> np.ndarray:
    """Up to `limit` preprocessed dataset images (the split's, else the train split's), or seeded noise
    when no dataset was given (only for the parity check, never for calibration)."""
    from raysight_resnet.evaluate import batches, split_items

    if calibration is not None:
        items = split_items(calibration)
        if not items and calibration.split != "train":
            items = split_items(EvalData(**{**calibration.__dict__, "split": "train"}))
        if items:
            step = max(1, len(items) // limit)
            return next(batches(items[::step][:limit], imgsz, limit))[0]
    rng = np.random.default_rng(0)
    return rng.standard_normal((4, 3, imgsz, imgsz)).astype(np.float32)


def export_onnx(net: Any, path: Path, imgsz: int) -> None:
    import torch

    dummy = torch.zeros(1, 3, imgsz, imgsz)
    torch.onnx.export(net, (dummy,), str(path), input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=OPSET,
                      dynamo=False)


def parity(net: Any, path: Path, x: np.ndarray) -> dict[str, Any]:
    """Largest logit difference between PyTorch and onnxruntime on `x`, and whether the top class agrees."""
    import torch

    from raysight_resnet.evaluate import onnx_scores

    with torch.inference_mode():
        expected = net(torch.from_numpy(x)).float().numpy()
    got = onnx_scores(path)(x)
    diff = float(np.abs(expected - got).max())
    return {"images": int(len(x)), "max_abs_diff": diff, "tolerance": TOLERANCE, "ok": diff <= TOLERANCE,
            "top1_agreement": float((expected.argmax(1) == got.argmax(1)).mean())}


def export(ref: ModelRef, *, fmt: ExportFormat, output_dir: Path, calibration: EvalData | None = None,
           progress: Progress | None = None) -> ExportResult:
    """Backend.export for ResNet: `model.onnx` or `model_int8.onnx` under `output_dir`."""
    from raysight_resnet.predict import load

    loaded = load(ref, device="cpu")
    output_dir.mkdir(parents=True, exist_ok=True)
    float_path = output_dir / "model.onnx"
    export_onnx(loaded.net, float_path, loaded.imgsz)
    if progress:
        progress(0.4)
    source = Path(str(ref.weights_path)).stat().st_size
    check = parity(loaded.net, float_path, _sample(calibration, loaded.imgsz, 4))
    if fmt == ExportFormat.ONNX:
        return ExportResult(path=str(float_path), format=str(fmt), size_bytes=float_path.stat().st_size,
                            source_size_bytes=source, parity=check, input_shape=[-1, 3, loaded.imgsz, loaded.imgsz],
                            opset=OPSET)
    out = output_dir / "model_int8.onnx"
    images = _sample(calibration, loaded.imgsz, CALIBRATION_IMAGES) if calibration is not None else None
    how = quantize_int8(float_path, out, images, pre_process=True)
    float_path.unlink(missing_ok=True)
    if progress:
        progress(0.9)
    return ExportResult(path=str(out), format=str(fmt), size_bytes=out.stat().st_size, source_size_bytes=source,
                        parity={"float_onnx": check}, quantization=how,
                        input_shape=[-1, 3, loaded.imgsz, loaded.imgsz], opset=OPSET)
