"""Serving for semantic segmentation: load a saved checkpoint, label every pixel of a batch of images.

Each image answers one detection per class present in the prediction (a class named ``background`` /
``_background_`` is left out): its bbox is the box around that class's pixels, its confidence the mean
softmax score of those pixels, and its extra holds ``mask_area`` (pixels), ``area_ratio`` (of the
image) and ``polygons`` (outer contours of the class's regions, [[x, y], ...] in image pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raysight.backend import Detection, ModelRef, PredictOptions
from raysight.errors import NotFound
from raysight_semseg.data import preprocess

BACKGROUND = {"background", "_background_", "__background__"}
MAX_POLYGONS = 50  # per class and image


@dataclass
class LoadedSemseg:
    net: Any  # returns (N, C, H, W) logits
    classes: list[str]
    imgsz: int
    device: str
    arch: str = ""


def load(ref: ModelRef, *, device: str) -> LoadedSemseg:
    """Read the checkpoint safely (weights_only, keys and shapes checked) and build the net for it."""
    from raysight_semseg.model import Logits, build, read_weights

    if not ref.weights_path or not Path(ref.weights_path).is_file():
        raise NotFound(f"weights of model '{ref.model_id}' not found")
    w = read_weights(ref.weights_path)
    classes = w.classes or [str(c) for c in ref.classes]
    if len(classes) != w.num_classes:
        classes = [str(i) for i in range(w.num_classes)]
    net = build(w.arch, w.num_classes)
    net.load_state_dict(w.state_dict)
    imgsz = int(w.imgsz or ref.params.get("imgsz") or 512)
    return LoadedSemseg(net=Logits.wrap(net).eval().to(device), classes=classes, imgsz=imgsz, device=device,
                        arch=w.arch)


def label_maps(model: LoadedSemseg, images: list[np.ndarray], imgsz: int | None = None
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image: (class id per pixel, its softmax score), at the image's own size."""
    import cv2
    import torch

    size = int(imgsz or model.imgsz)
    x = torch.from_numpy(preprocess(images, size)).to(model.device)
    with torch.inference_mode():
        probs = torch.softmax(model.net(x).float(), dim=1)
        score, label = probs.max(dim=1)
    out = []
    for im, lab, sc in zip(images, label.cpu().numpy(), score.cpu().numpy(), strict=True):
        h, w = im.shape[:2]
        out.append((cv2.resize(lab.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST),
                    cv2.resize(sc.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)))
    return out


def _polygons(mask: np.ndarray) -> list[list[list[float]]]:
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = sorted(contours, key=cv2.contourArea, reverse=True)[:MAX_POLYGONS]
    return [[[float(x), float(y)] for x, y in c.reshape(-1, 2)] for c in contours if len(c) >= 3]


def predict(model: LoadedSemseg, images: list[np.ndarray], options: PredictOptions) -> list[list[Detection]]:
    if not images:
        return []
    out: list[list[Detection]] = []
    for label, score in label_maps(model, images, options.imgsz):
        h, w = label.shape
        dets = []
        for c in np.unique(label):
            name = model.classes[c] if c < len(model.classes) else str(int(c))
            if name.lower() in BACKGROUND:
                continue
            mask = label == c
            conf = float(score[mask].mean())
            if conf < options.conf:
                continue
            ys, xs = np.nonzero(mask)
            area = int(mask.sum())
            dets.append(Detection(int(c), name, conf, float(xs.min()), float(ys.min()), float(xs.max() + 1),
                                  float(ys.max() + 1), extra={"mask_area": area, "area_ratio": round(area / (h * w), 6),
                                                               "polygons": _polygons(mask)}))
        out.append(sorted(dets, key=lambda d: -d.extra["mask_area"]))
    return out
