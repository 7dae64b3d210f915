"""int8 quantization of an exported ONNX model with onnxruntime.quantization, the one implementation
every family's ``Backend.export(fmt=onnx_int8)`` uses (through raysight.plugin).

Static QDQ quantization (int8 per-channel weights, uint8 activations) calibrated on preprocessed images
where there are any and it succeeds; otherwise dynamic (weights only). The answer says which, and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class _Calibration:
    """onnxruntime's CalibrationDataReader over a batch of preprocessed images, one image per call."""

    def __init__(self, x: np.ndarray, input_name: str) -> None:
        self.rows = iter([{input_name: x[i:i + 1]} for i in range(len(x))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.rows, None)


def _copy_metadata(source: Path, target: Path) -> None:
    """Carry the float model's metadata_props (class names, stride, imgsz...) over to the int8 file."""
    import onnx

    src = onnx.load(str(source), load_external_data=False)
    dst = onnx.load(str(target))
    del dst.metadata_props[:]
    for prop in src.metadata_props:
        dst.metadata_props.add(key=prop.key, value=prop.value)
    onnx.save(dst, str(target))


def quantize_int8(float_path: Path, out: Path, calibration: np.ndarray | None, *,
                  op_types: Sequence[str] | None = None, pre_process: bool = False,
                  keep_metadata: bool = False) -> dict[str, Any]:
    """Write the int8 model of `float_path` to `out`; `calibration` is an NCHW float batch in the model's
    input layout (None or empty: dynamic). `op_types` limits static quantization to those ops (None: all);
    `pre_process` runs onnxruntime's shape-inference pre-processing first; `keep_metadata` copies the
    float model's metadata_props. Returns how it was quantized."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reason = "no calibration images"
    if calibration is not None and len(calibration):
        source = float_path
        if pre_process:
            source = out.with_suffix(".pre.onnx")
            try:
                quant_pre_process(str(float_path), str(source), skip_symbolic_shape=True)
            except Exception:  # pre-processing is an optimisation: quantize the model as it is
                source = float_path
        name = onnx.load(str(source), load_external_data=False).graph.input[0].name
        extra = {"op_types_to_quantize": list(op_types)} if op_types else {}
        try:
            quantize_static(str(source), str(out), _Calibration(calibration, name), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            **extra)
            if keep_metadata:
                _copy_metadata(float_path, out)
            how: dict[str, Any] = {"mode": "static", "calibration_images": int(len(calibration)), "format": "QDQ",
                                   "weights": "int8 per channel", "activations": "uint8"}
            if op_types:
                how["quantized_ops"] = list(op_types)
            return how
        except Exception as exc:  # an op static quantization cannot handle: fall back, and say why
            reason = f"static quantization failed: {str(exc)[:200]}"
        finally:
            if source != float_path:
                source.unlink(missing_ok=True)
    quantize_dynamic(str(float_path), str(out), weight_type=QuantType.QInt8)
    if keep_metadata:
        _copy_metadata(float_path, out)
    return {"mode": "dynamic", "weights": "int8", "reason": reason}
