"""Exporting YOLO detectors to ONNX (ultralytics' exporter) and int8 ONNX (onnxruntime.quantization).

- onnx: ``YOLO.export(format="onnx")`` at the model's image size (static shape, no NMS in the graph,
  ultralytics' metadata kept so that ultralytics can validate and predict with the file). `parity` runs
  the PyTorch model and onnxruntime on the same letterboxed dataset images and compares the raw head
  output (boxes in input pixels and class scores).
- onnx_int8: static QDQ quantization of the convolutions only (the box decoding, concatenations and
  sigmoid of the head stay float, where int8 would collapse coordinates), calibrated on letterboxed
  images of the dataset; dynamic (weights only) when no calibration images are given or static fails.
  The ultralytics metadata is copied over, so the int8 file is evaluated by the same validator.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from raysight.plugin import EvalData, ExportFormat, ExportResult, ModelRef, Progress, quantize_int8

OPSET = 17
TOLERANCE = 1e-3  # max |difference| of the raw head output, relative to its largest magnitude
CALIBRATION_IMAGES = 32
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def letterbox(rgb: np.ndarray, size: int) -> np.ndarray:
    """ultralytics' preprocessing for a square input: resize keeping the aspect, pad with 114, CHW 0..1."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(size / h, size / w)
    nh, nw = round(h * scale), round(w * scale)
    canvas = np.full((size, size, 3), 114, dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top:top + nh, left:left + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas.transpose(2, 0, 1).astype(np.float32) / 255.0


def sample_images(data: EvalData | None, size: int, limit: int) -> np.ndarray | None:
    """Up to `limit` letterboxed images of the calibration split (its folder from data.yaml)."""
    import yaml
    from PIL import Image

    if data is None:
        return None
    spec = yaml.safe_load(Path(data.data_yaml).read_text()) or {}
    base = Path(str(spec.get("path") or Path(data.data_yaml).parent))
    files: list[Path] = []
    for split in (data.split, "train"):
        if spec.get(split):
            files = sorted(p for p in (base / str(spec[split])).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            break
    if not files:
        return None
    step = max(1, len(files) // limit)
    batch = []
    for path in files[::step][:limit]:
        with Image.open(path) as im:
            batch.append(letterbox(np.asarray(im.convert("RGB")), size))
    return np.stack(batch)


def parity(model: Any, path: Path, x: np.ndarray) -> dict[str, Any]:
    """The PyTorch model's raw output against onnxruntime's on `x` (N, 3, S, S)."""
    import onnxruntime as ort
    import torch

    net = model.model.float().eval()
    with torch.inference_mode():
        out = net(torch.from_numpy(x))
    expected = (out[0] if isinstance(out, (list, tuple)) else out).float().numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    got = np.concatenate([session.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])
    diff = float(np.abs(expected - got).max())
    scale = float(np.abs(expected).max()) or 1.0
    return {"images": int(len(x)), "max_abs_diff": diff, "max_rel_diff": diff / scale, "tolerance": TOLERANCE,
            "ok": diff / scale <= TOLERANCE}


def export(ref: ModelRef, *, fmt: ExportFormat, output_dir: Path, calibration: EvalData | None = None,
           progress: Progress | None = None) -> ExportResult:
    """Backend.export for YOLO: `model.onnx` or `model_int8.onnx` under `output_dir`."""
    from raysight_yolo.safe_load import open_model

    weights = Path(str(ref.weights_path))
    output_dir.mkdir(parents=True, exist_ok=True)
    copy = output_dir / "source.pt"  # ultralytics writes the .onnx beside the weights: not in the registry
    shutil.copy2(weights, copy)
    model = open_model(copy)
    imgsz = int(ref.params.get("imgsz") or (model.overrides or {}).get("imgsz") or 640)
    made = Path(model.export(format="onnx", imgsz=imgsz, opset=OPSET, dynamic=False, simplify=False,
                             half=False, device="cpu", verbose=False))
    float_path = output_dir / "model.onnx"
    shutil.move(str(made), float_path)
    if progress:
        progress(0.4)
    x = sample_images(calibration, imgsz, CALIBRATION_IMAGES)
    check = parity(open_model(copy), float_path, x[:4] if x is not None else
                   np.random.default_rng(0).random((2, 3, imgsz, imgsz), dtype=np.float32))
    copy.unlink(missing_ok=True)
    source = weights.stat().st_size
    if fmt == ExportFormat.ONNX:
        return ExportResult(path=str(float_path), format=str(fmt), size_bytes=float_path.stat().st_size,
                            source_size_bytes=source, parity=check, input_shape=[1, 3, imgsz, imgsz], opset=OPSET)
    out = output_dir / "model_int8.onnx"
    how = quantize(float_path, out, x)
    float_path.unlink(missing_ok=True)
    if progress:
        progress(0.9)
    return ExportResult(path=str(out), format=str(fmt), size_bytes=out.stat().st_size, source_size_bytes=source,
                        parity={"float_onnx": check}, quantization=how, input_shape=[1, 3, imgsz, imgsz],
                        opset=OPSET)


def quantize(float_path: Path, out: Path, calibration: np.ndarray | None) -> dict[str, Any]:
    """int8 `out`: static on the convolutions (ultralytics' metadata kept), else dynamic."""
    return quantize_int8(float_path, out, calibration, op_types=("Conv",), keep_metadata=True)
