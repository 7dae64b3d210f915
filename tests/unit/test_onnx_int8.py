"""raysight.plugin.quantize_int8 on a small real network: static with calibration images (the outputs stay
close to the float model's), dynamic without, and the float model's metadata carried over when asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raysight.plugin import quantize_int8


@pytest.fixture
def float_model(tmp_path: Path) -> Path:
    import onnx
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 8, 3),
                              torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4))
    path = tmp_path / "model.onnx"
    torch.onnx.export(net.eval(), torch.rand(1, 3, 32, 32), str(path), input_names=["images"], output_names=["out"],
                      dynamic_axes={"images": {0: "n"}}, dynamo=False)
    model = onnx.load(str(path))
    model.metadata_props.add(key="names", value="{0: 'a'}")
    onnx.save(model, str(path))
    return path


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x})[0]


def test_static_with_calibration_stays_close(float_model: Path, tmp_path: Path) -> None:
    import onnx

    x = np.random.default_rng(0).random((8, 3, 32, 32), dtype=np.float32)
    out = tmp_path / "int8.onnx"
    how = quantize_int8(float_model, out, x, op_types=("Conv",), keep_metadata=True)
    assert how["mode"] == "static" and how["calibration_images"] == 8 and how["quantized_ops"] == ["Conv"]
    quantized = onnx.load(str(out))
    assert any(node.op_type == "QuantizeLinear" for node in quantized.graph.node)
    assert {p.key: p.value for p in quantized.metadata_props} == {"names": "{0: 'a'}"}
    expected, got = _run(float_model, x), _run(out, x)
    assert np.abs(expected - got).max() <= 0.1 * (np.abs(expected).max() + 1e-6)


def test_dynamic_without_calibration(float_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "int8.onnx"
    how = quantize_int8(float_model, out, None, pre_process=True)
    assert how == {"mode": "dynamic", "weights": "int8", "reason": "no calibration images"}
    assert out.is_file() and not list(tmp_path.glob("*.pre.onnx"))
