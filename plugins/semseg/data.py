"""Reading a semantic segmentation version (images/<split>/x.jpg + masks/<split>/x.png) and the
preprocessing training, serving, evaluation and export share: the whole image resized to imgsz x
imgsz, scaled to [0, 1] and ImageNet-normalised; masks resized with nearest neighbour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from raysight_semseg.model import MEAN, STD

IGNORE = 255
SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def preprocess(images: list[np.ndarray], imgsz: int) -> np.ndarray:
    """RGB uint8 HxWx3 images -> float32 NCHW batch."""
    import cv2

    mean, std = np.array(MEAN, np.float32), np.array(STD, np.float32)
    batch = np.empty((len(images), 3, imgsz, imgsz), dtype=np.float32)
    for i, im in enumerate(images):
        x = cv2.resize(np.ascontiguousarray(im), (imgsz, imgsz), interpolation=cv2.INTER_LINEAR)
        batch[i] = ((x.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)
    return batch


def resize_mask(mask: np.ndarray, imgsz: int) -> np.ndarray:
    import cv2

    return cv2.resize(mask, (imgsz, imgsz), interpolation=cv2.INTER_NEAREST)


def pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    """(image, mask) of a split of a version folder."""
    images = root / "images" / split
    if not images.is_dir():
        return []
    out = []
    for image in sorted(images.iterdir()):
        mask = root / "masks" / split / f"{image.stem}.png"
        if image.suffix.lower() in SUFFIXES and mask.is_file():
            out.append((image, mask))
    return out


def read_pair(image: Path, mask: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    with Image.open(image) as im:
        rgb = np.asarray(im.convert("RGB"))
    with Image.open(mask) as m:
        label = np.asarray(m).astype(np.uint8)
    return rgb, label


class SegDataset:
    """(CHW float tensor, HW long tensor of class ids, 255 = ignore) per item, at imgsz x imgsz."""

    def __init__(self, items: list[tuple[Path, Path]], imgsz: int, augment: bool) -> None:
        self.items, self.imgsz, self.augment = items, imgsz, augment

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        import torch

        rgb, label = read_pair(*self.items[i])
        if self.augment and np.random.random() < 0.5:
            rgb, label = rgb[:, ::-1].copy(), label[:, ::-1].copy()
        x = torch.from_numpy(preprocess([rgb], self.imgsz)[0])
        y = torch.from_numpy(resize_mask(label, self.imgsz).astype(np.int64))
        return x, y


def confusion(pred: np.ndarray, label: np.ndarray, n: int) -> np.ndarray:
    """n x n counts of [true][predicted] pixels (ignore pixels and out-of-range labels left out)."""
    keep = label < n
    return np.bincount(n * label[keep].astype(np.int64) + pred[keep].astype(np.int64), minlength=n * n).reshape(n, n)


def scores(matrix: np.ndarray) -> dict[str, Any]:
    """mIoU (over classes present in labels or predictions), per-class IoU, pixel accuracy."""
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    total = matrix.sum()
    return {"iou": iou, "mIoU": float(np.nanmean(iou)) if np.any(union > 0) else 0.0,
            "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
            "mean_accuracy": float(np.nanmean(np.where(matrix.sum(1) > 0, tp / np.maximum(matrix.sum(1), 1), np.nan)))
            if np.any(matrix.sum(1) > 0) else 0.0}
