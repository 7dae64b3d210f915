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

from raysight.backend import ModelRef
from raysight.model_ops import EvalData, ExportFormat, ExportResult, Progress

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


class _Calibration:
    """onnxruntime's CalibrationDataReader over preprocessed images, one per call."""

    def __init__(self, x: np.ndarray, input_name: str) -> None:
        self.rows = iter([{input_name: x[i:i + 1]} for i in range(len(x))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.rows, None)


def quantize(float_path: Path, out: Path, calibration: np.ndarray | None) -> dict[str, Any]:
    """int8 `out` from `float_path`: static with `calibration` images where possible, else dynamic."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = out.with_suffix(".pre.onnx")
    try:
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
    except Exception:
        prepared = float_path
    reason = "no calibration images"
    if calibration is not None and len(calibration):
        try:
            quantize_static(str(prepared), str(out), _Calibration(calibration, "images"),
                            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8)
            return {"mode": "static", "calibration_images": int(len(calibration)), "format": "QDQ",
                    "weights": "int8 per channel", "activations": "uint8"}
        except Exception as exc:  # an op static quantization cannot handle: fall back, and say why
            reason = f"static quantization failed: {str(exc)[:200]}"
        finally:
            if prepared != float_path:
                prepared.unlink(missing_ok=True)
    quantize_dynamic(str(float_path), str(out), weight_type=QuantType.QInt8)
    return {"mode": "dynamic", "weights": "int8", "reason": reason}


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
    how = quantize(float_path, out, images)
    float_path.unlink(missing_ok=True)
    if progress:
        progress(0.9)
    return ExportResult(path=str(out), format=str(fmt), size_bytes=out.stat().st_size, source_size_bytes=source,
                        parity={"float_onnx": check}, quantization=how,
                        input_shape=[-1, 3, loaded.imgsz, loaded.imgsz], opset=OPSET)
