"""Evaluation and ONNX export of YOLO segmentation models (the yolo_seg backend).

Evaluation is ultralytics' own segment validator on the split's images (mask mAP50 / mAP50-95,
precision, recall, per-class mask AP; box metrics beside them as box_*), so the numbers are those
training reported. An exported ``.onnx`` is evaluated the same way (ultralytics runs it with
onnxruntime), so that an export's accuracy can be measured.

Export writes the float ONNX graph with ultralytics' exporter (no download, no simplifier) from a copy
of the weights in `output_dir`, then checks parity: the PyTorch model and onnxruntime get the same
input and every ONNX output (detections + mask coefficients, mask prototypes) must match the PyTorch
tensor of the same shape within tolerance.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from raysight.backend import ModelRef
from raysight.errors import Invalid, NotFound
from raysight.model_ops import ClassMetrics, EvalData, EvalOptions, EvalReport, ExportFormat, ExportResult, Progress

TOLERANCE = 1e-3  # relative to the output's scale (boxes are in pixels)
OPSET = 17


def _open(ref: ModelRef) -> Any:
    from ultralytics import YOLO

    from raysight_yolo.safe_load import enforce, open_model

    path = ref.weights_path
    if not path or not Path(path).is_file():
        raise NotFound(f"weights of model '{ref.model_id}' not found")
    if path.endswith(".onnx"):
        enforce()
        return YOLO(path, task="segment")
    return open_model(path, "segment")


def evaluate(ref: ModelRef, *, data: EvalData, options: EvalOptions, progress: Progress | None = None) -> EvalReport:
    """Mask (and box) metrics of a segmentation model on `data.split`."""
    started = time.monotonic()
    if data.task_type != "instance_segment":
        raise Invalid(f"a YOLO segmentation model evaluates instance_segment data, not {data.task_type}")
    model = _open(ref)
    imgsz = int(options.imgsz or ref.params.get("imgsz") or (model.overrides or {}).get("imgsz") or 640)
    kwargs: dict[str, Any] = {"data": data.data_yaml, "split": data.split, "imgsz": imgsz, "batch": options.batch,
                              "device": options.device, "verbose": False, "workers": 0}
    if options.conf is not None:
        kwargs["conf"] = float(options.conf)
    if options.iou is not None:
        kwargs["iou"] = float(options.iou)
    if progress:
        progress(0.05)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="yolo_seg_val_") as scratch:
        # plots=True: ultralytics fills the confusion matrix only when it plots (into the scratch folder)
        m = model.val(**kwargs, plots=True, project=scratch, name="val", exist_ok=True)
    names = data.classes or [str(v) for _k, v in sorted((model.names or {}).items())]
    support = np.asarray(getattr(m, "nt_per_class", None) if getattr(m, "nt_per_class", None) is not None
                         else np.zeros(len(names)), dtype=int)
    per_class: list[ClassMetrics] = []
    index = {int(c): i for i, c in enumerate(m.seg.ap_class_index)} if len(m.seg.ap_class_index) else {}
    for c, name in enumerate(names):
        i = index.get(c)
        values = {} if i is None else {
            "precision": float(m.seg.p[i]), "recall": float(m.seg.r[i]),
            "ap50": float(m.seg.ap50[i]), "ap50_95": float(m.seg.ap[i]), "box_ap50": float(m.box.ap50[i]),
        }
        per_class.append(ClassMetrics(name=name, values=values, support=int(support[c]) if c < len(support) else 0))
    matrix = np.asarray(m.confusion_matrix.matrix).T.astype(int)  # ultralytics: [pred][true]; ours [true][pred]
    if progress:
        progress(1.0)
    return EvalReport(
        task="instance_segment", model_id=ref.model_id, split=data.split,
        n_images=int(getattr(m, "seen", 0) or _count_images(data)),
        metrics={"mAP50": float(m.seg.map50), "mAP50-95": float(m.seg.map), "precision": float(m.seg.mp),
                 "recall": float(m.seg.mr), "box_mAP50": float(m.box.map50), "box_mAP50-95": float(m.box.map),
                 "box_precision": float(m.box.mp), "box_recall": float(m.box.mr)},
        per_class=per_class, confusion=matrix.tolist(), confusion_labels=[*names, "background"],
        dataset_id=data.dataset_id, version=data.version, weights=str(ref.weights_path),
        options={"imgsz": imgsz, "batch": options.batch, "conf": options.conf, "iou": options.iou},
        seconds=round(time.monotonic() - started, 3),
    )


def _count_images(data: EvalData) -> int:
    folder = Path(data.root) / "images" / data.split
    return sum(1 for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


def _flat(out: Any) -> list[np.ndarray]:
    import torch

    if isinstance(out, torch.Tensor):
        return [out.detach().float().cpu().numpy()]
    if isinstance(out, (list, tuple)):
        return [a for item in out for a in _flat(item)]
    return []


def parity(torch_model: Any, onnx_path: Path, imgsz: int, images: int = 2, seed: int = 0) -> dict[str, Any]:
    """Largest difference between each ONNX output and the PyTorch output of the same shape, scaled by
    that output's largest magnitude, on `images` random inputs."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(images):
        x = rng.random((1, 3, imgsz, imgsz), dtype=np.float32)
        with torch.inference_mode():
            expected = _flat(torch_model(torch.from_numpy(x)))
        for got in session.run(None, {input_name: x}):
            same = [e for e in expected if e.shape == got.shape]
            if not same:
                raise Invalid(f"the ONNX output of shape {list(got.shape)} has no PyTorch counterpart")
            scale = max(1.0, float(np.abs(same[0]).max()))
            worst = max(worst, min(float(np.abs(e - got).max()) / scale for e in same))
    return {"images": images, "max_rel_diff": worst, "tolerance": TOLERANCE, "ok": worst <= TOLERANCE}


def export(ref: ModelRef, *, fmt: ExportFormat, output_dir: Path, calibration: EvalData | None = None,
           progress: Progress | None = None) -> ExportResult:
    """Float ONNX of a segmentation model, its outputs checked against PyTorch."""
    if ExportFormat(fmt) != ExportFormat.ONNX:
        raise Invalid(f"YOLO segmentation models export to {ExportFormat.ONNX} only, not {fmt}")
    model = _open(ref)
    source = Path(str(ref.weights_path))
    output_dir.mkdir(parents=True, exist_ok=True)
    local = output_dir / "model.pt"
    shutil.copy2(source, local)
    imgsz = int(ref.params.get("imgsz") or (model.overrides or {}).get("imgsz") or 640)
    from raysight_yolo.safe_load import open_model

    exporter = open_model(local, "segment")
    if progress:
        progress(0.1)
    written = Path(exporter.export(format="onnx", imgsz=imgsz, opset=OPSET, simplify=False, dynamic=False,
                                   device="cpu", verbose=False))
    target = output_dir / "model.onnx"
    if written != target:
        written.replace(target)
    local.unlink(missing_ok=True)
    if progress:
        progress(0.7)
    net = _open(ref).model.float().eval()
    check = parity(net, target, imgsz)
    if not check["ok"]:
        raise Invalid(f"the ONNX export differs from the PyTorch model by {check['max_rel_diff']:.2e} "
                      f"(tolerance {TOLERANCE:g})")
    if progress:
        progress(1.0)
    return ExportResult(path=str(target), format=str(ExportFormat.ONNX), size_bytes=target.stat().st_size,
                        source_size_bytes=source.stat().st_size, parity=check,
                        input_shape=[1, 3, imgsz, imgsz], opset=OPSET)
