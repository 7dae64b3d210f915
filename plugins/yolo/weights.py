"""Checking an ultralytics detection checkpoint against the architecture its own config describes."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from raysight.plugin import InvalidWeights, WeightsInfo, meta_shapes, mismatches, require_fit


def arch_name(cfg: dict[str, Any]) -> str:
    """yolov8n / yolo11s... from a model config (its yaml_file and scale)."""
    stem = Path(str(cfg.get("yaml_file") or "custom")).stem
    scale = str(cfg.get("scale") or "")
    match = re.fullmatch(r"(yolo(?:v)?\d+)(-seg)?", stem)
    if scale and match:  # yolov8-seg + n -> yolov8n-seg
        stem = match.group(1) + scale + (match.group(2) or "")
    return stem


def _layers(cfg: dict[str, Any]) -> list[str]:
    return [str(layer[2]) for part in ("backbone", "head") for layer in cfg.get(part) or [] if len(layer) > 2]


def check(path: Path, *, family: str, arch: str | None = None, task: str = "detect") -> WeightsInfo:
    """Load the checkpoint through raysight_yolo.safe_load, rebuild the architecture from its config (on
    the meta device) and compare every key and shape; `arch` (yolov8n / yolov8n.pt) must match if given.
    `task` "segment" expects a SegmentationModel (yolov8n-seg...), "detect" a DetectionModel."""
    from ultralytics.nn.tasks import DetectionModel, SegmentationModel

    from raysight_yolo.pruned_model import check_pruned, is_pruned
    from raysight_yolo.safe_load import load_checkpoint

    model_class = SegmentationModel if task == "segment" else DetectionModel
    what = "segmentation" if task == "segment" else "detection"
    ckpt = load_checkpoint(path, task)
    model = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    if type(model) is not model_class or not isinstance(getattr(model, "yaml", None), dict):
        raise InvalidWeights(f"'{path.name}' holds no ultralytics {what} model")
    cfg = copy.deepcopy(model.yaml)
    if "TorchVision" in _layers(cfg):
        raise InvalidWeights(f"'{path.name}': its model config uses TorchVision layers, which are not accepted")
    found = arch_name(cfg)
    if arch and Path(arch).stem != found:
        raise InvalidWeights(f"'{path.name}' holds a {found}, not a {Path(arch).stem}")
    names = getattr(model, "names", None) or {}
    classes = [str(names[k]) for k in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]
    nc = int(getattr(model, "nc", 0) or cfg.get("nc") or len(classes))
    expected = meta_shapes(lambda: model_class(cfg=cfg, ch=int(cfg.get("channels", 3)), nc=nc, verbose=False))
    pruned = task == "detect" and bool(mismatches(model.state_dict(), expected)) and is_pruned(model, expected)
    if pruned:  # a channel-pruned copy of the config's architecture (raysight_yolo.prune): it must run
        check_pruned(model, path.name, expected)
    else:
        require_fit(model.state_dict(), expected, what=f"'{path.name}' does not fit its {found} config")
    if classes and len(classes) != nc:
        classes = []
    train_args = ckpt.get("train_args") if isinstance(ckpt.get("train_args"), dict) else {}
    imgsz = train_args.get("imgsz")
    return WeightsInfo(family=family, arch=found, model_name=f"{found}.pt", classes=classes, num_classes=nc,
                       params={"imgsz": imgsz} if isinstance(imgsz, int) and imgsz > 0 else {},
                       format="ultralytics checkpoint (channel-pruned)" if pruned else "ultralytics checkpoint")
