"""Serving for ResNet classifiers: load a saved checkpoint, classify a batch of RGB images.

Checkpoint format (written by training): a dict {"arch", "classes", "state_dict", "imgsz"}.
Classification answers in the detection shape: each result is a class with its confidence and the
whole image as bbox. The best class is always returned; with ``extra={"topk": k}`` up to k classes,
the ones after the first only if their confidence >= conf.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raysight.backend import Detection, ModelRef, PredictOptions
from raysight.errors import Invalid, NotFound

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


@dataclass
class LoadedResnet:
    net: Any  # torch.nn.Module in eval mode on `device`
    classes: list[str]
    imgsz: int
    device: str


def build(arch: str, num_classes: int) -> Any:
    try:  # the training side's builder, so that serving and training agree on the head
        from raysight_resnet.model import build_resnet
    except ImportError:
        build_resnet = None
    if build_resnet is not None:
        return build_resnet(arch, num_classes)
    import torchvision

    if arch not in ARCHS:
        raise Invalid(f"unknown ResNet architecture '{arch}'")
    return getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)


def load(ref: ModelRef, *, device: str) -> LoadedResnet:
    """Read the checkpoint safely (weights_only, keys and shapes checked) and build the net for it."""
    from raysight_resnet.model import read_weights

    if not ref.weights_path or not Path(ref.weights_path).is_file():
        raise NotFound(f"weights of model '{ref.model_id}' not found")
    weights = read_weights(ref.weights_path)
    classes = weights.classes or [str(c) for c in ref.classes]
    if len(classes) != weights.num_classes:
        classes = [str(i) for i in range(weights.num_classes)]
    imgsz = int(weights.imgsz or ref.params.get("imgsz") or 224)
    net = weights.build() if weights.channels else build(weights.arch, weights.num_classes)
    net.load_state_dict(weights.state_dict)
    net.eval().to(device)
    return LoadedResnet(net=net, classes=classes, imgsz=imgsz, device=device)


def preprocess(images: list[np.ndarray], imgsz: int) -> np.ndarray:
    """Resize to imgsz x imgsz (whole image, no crop), scale to [0, 1], ImageNet-normalise; NCHW."""
    import cv2

    batch = np.empty((len(images), 3, imgsz, imgsz), dtype=np.float32)
    for i, im in enumerate(images):
        x = cv2.resize(im, (imgsz, imgsz), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        batch[i] = ((x - MEAN) / STD).transpose(2, 0, 1)
    return batch


def predict(model: LoadedResnet, images: list[np.ndarray], options: PredictOptions) -> list[list[Detection]]:
    import torch

    if not images:
        return []
    imgsz = int(options.imgsz or model.imgsz)
    x = torch.from_numpy(preprocess(images, imgsz)).to(model.device)
    with torch.inference_mode():
        probs = torch.softmax(model.net(x).float(), dim=1).cpu().numpy()
    topk = max(1, int(options.extra.get("topk", 1)))
    out: list[list[Detection]] = []
    for im, p in zip(images, probs, strict=True):
        h, w = im.shape[:2]
        order = np.argsort(-p)[:topk]
        dets = []
        for rank, c in enumerate(order):
            if rank and p[c] < options.conf:
                break
            name = model.classes[c] if c < len(model.classes) else str(int(c))
            dets.append(Detection(int(c), name, float(p[c]), 0.0, 0.0, float(w), float(h)))
        out.append(dets)
    return out
