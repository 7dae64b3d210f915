"""ONNX Runtime for YOLO detectors served on a CPU.

On a CPU, onnxruntime runs a YOLOv8n 1.3x (640 px) to 2.7x (128 px, pre- and post-processing included)
faster than PyTorch on one thread (bench/serving.py measures the serving side). A CPU replica therefore
exports the weights it loads to a dynamic-shape ONNX file (ultralytics' exporter, opset 17, no NMS in the
graph), checks the two runtimes' raw head output on probe inputs at two sizes (export.parity, same
tolerance as an ONNX export), and predicts through ultralytics' own ONNX backend (same letterbox, NMS
and box scaling). The session gets the replica's thread share (torch's thread count), one inter-op
thread and no spinning: idle ORT threads that spin steal the cores the other replica, the ingress and
Serve's proxy need.

Detection only (segmentation keeps PyTorch) and CPU only (CUDA stays with PyTorch). When the export or
the check fails, the model keeps PyTorch and the reason is logged; ``RAYSIGHT_YOLO_CPU_RUNTIME=torch``
turns the twin off.

The exported file lives in a folder of its own under ``<tmp>/raysight_yolo_ort-<uid>/``, named after the
replica's process id. It goes when the twin is garbage-collected or the process exits normally; a replica
that is killed (Serve's shutdown, SIGKILL, a crash) cannot remove it, so each new twin first removes the
folders of processes that are gone.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

RUNTIME_ENV = "RAYSIGHT_YOLO_CPU_RUNTIME"
ONNXRUNTIME, TORCH = "onnxruntime", "torch"
PROBE_SIZES = (256,)  # checked besides the model's own image size: the graph's shapes are dynamic
# torch's ONNX exporter keeps module-level state while it traces: a replica loading two models at once
# exports them one after the other
_EXPORTING = threading.Lock()


def wanted() -> str:
    """The CPU runtime the environment asks for: onnxruntime (default) or torch."""
    value = os.environ.get(RUNTIME_ENV, ONNXRUNTIME).strip().lower()
    return TORCH if value in {"torch", "pytorch", "off", "0", "false"} else ONNXRUNTIME


@dataclass
class OnnxTwin:
    """A YOLO predicting through onnxruntime, with the session options it must keep."""

    model: Any  # ultralytics.YOLO over the exported .onnx
    path: Path
    threads: int
    session: Any = None

    def ready(self) -> Any:
        """The YOLO, its predictor on this twin's session (ultralytics builds a new predictor, and a new
        default session, when setup arguments change; this puts ours back)."""
        predictor = getattr(self.model, "predictor", None)
        backend = getattr(getattr(predictor, "model", None), "backend", None)
        if backend is not None and getattr(backend, "session", None) is not self.session:
            self.session = self.session or new_session(self.path, self.threads)
            backend.session = self.session
        return self.model


def new_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def probe_inputs(size: int) -> np.ndarray:
    """Deterministic letterboxed-looking input (N=1, 3, size, size): smooth shapes plus noise, 0..1."""
    rng = np.random.default_rng(size)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(6 * xx) * 0.5 + 0.5, np.cos(5 * yy) * 0.5 + 0.5, (xx + yy) / 2])
    return np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1).astype(np.float32)[None]


def twin_for(weights: str, *, device: str, task: str, imgsz: int) -> tuple[OnnxTwin | None, dict[str, Any]]:
    """The one decision for a loaded model: a twin on a CPU for a weights file when the environment does
    not turn it off (its threads: the replica's torch share), else (None, {"runtime": "torch"})."""
    if device != "cpu" or wanted() != ONNXRUNTIME or weights.endswith((".yaml", ".yml")):
        return None, {"runtime": TORCH}
    import torch

    return onnx_twin(Path(weights), task=task, imgsz=imgsz, threads=torch.get_num_threads())


def onnx_twin(weights: Path, *, task: str, imgsz: int, threads: int) -> tuple[OnnxTwin | None, dict[str, Any]]:
    """(twin, info) for a detector's weights file, or (None, info with the reason it stays on PyTorch).
    The .onnx lives in a temporary folder removed when the twin is garbage-collected."""
    if task != "detect":
        return None, {"runtime": TORCH, "reason": f"{task} models run on PyTorch"}
    folder = twin_folder()
    try:
        with _EXPORTING:
            twin, info = _export_and_check(weights, folder, task=task, imgsz=imgsz, threads=threads)
    except Exception as exc:  # the exporter or onnxruntime refused this model: PyTorch serves it
        twin, info = None, {"runtime": TORCH, "reason": f"ONNX export failed: {type(exc).__name__}: {exc}"}
    if twin is None:
        shutil.rmtree(folder, ignore_errors=True)
        log.warning("YOLO weights %s stay on PyTorch: %s", weights.name, info["reason"])
        return None, info
    weakref.finalize(twin, shutil.rmtree, folder, True)
    return twin, info


def twin_folder() -> Path:
    """A new folder for this process's exported file, after removing those of processes that are gone."""
    root = Path(tempfile.gettempdir()) / f"raysight_yolo_ort-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    sweep_orphans(root)
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}_", dir=root))


def sweep_orphans(root: Path) -> list[Path]:
    """Remove the folders under `root` whose process (the number their name starts with) is gone."""
    removed = []
    for folder in root.iterdir():
        pid = folder.name.split("_", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _export_and_check(weights: Path, folder: Path, *, task: str, imgsz: int,
                      threads: int) -> tuple[OnnxTwin | None, dict[str, Any]]:
    from ultralytics import YOLO

    from raysight_yolo.export import OPSET, parity
    from raysight_yolo.safe_load import open_model

    copy = folder / "source.pt"  # ultralytics writes the .onnx beside the weights it loaded
    shutil.copy2(weights, copy)
    source = open_model(copy, task)
    path = Path(source.export(format="onnx", imgsz=imgsz, opset=OPSET, dynamic=True, simplify=False,
                              half=False, device="cpu", verbose=False))
    copy.unlink(missing_ok=True)
    checks = [parity(source, path, probe_inputs(size)) for size in (imgsz, *PROBE_SIZES)]
    worst = max(checks, key=lambda c: c["max_rel_diff"])
    if not all(c["ok"] for c in checks):
        return None, {"runtime": TORCH, "reason": f"ONNX output differs from PyTorch: {worst}"}
    twin = OnnxTwin(model=YOLO(str(path), task=task), path=path, threads=threads)
    return twin, {"runtime": ONNXRUNTIME, "threads": threads, "max_rel_diff": worst["max_rel_diff"]}
