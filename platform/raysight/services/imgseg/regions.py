"""Classical region proposals for UI screenshots: what a widget looks like to OpenCV.

Two cues, merged: closed rectangular outlines (Canny edges -> contours whose area fills their
bounding box: bordered inputs, cards, buttons) and connected blocks that differ from their
surrounding background colour (filled buttons, bars, pictures), recursing one level into large
blocks. These give real structure whatever the quality of the SAM weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive)


@dataclass
class Region:
    box: Box
    source: str
    score: float = 1.0

    @property
    def area(self) -> int:
        return max(0, self.box[2] - self.box[0]) * max(0, self.box[3] - self.box[1])


def iou(a: Box, b: Box) -> float:
    inter = intersection(a, b)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def intersection(a: Box, b: Box) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _area(b: Box) -> int:
    return max(0, b[2] - b[0]) * max(0, b[3] - b[1])


def contains(outer: Box, inner: Box, ratio: float = 0.9) -> bool:
    a = _area(inner)
    return a > 0 and intersection(outer, inner) >= ratio * a


def background_color(image: np.ndarray) -> np.ndarray:
    """The most common colour of the image border (quantised), as float RGB."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).reshape(-1, 3)
    q = (border // 8).astype(np.int32)
    keys = q[:, 0] * 1024 + q[:, 1] * 32 + q[:, 2]
    values, counts = np.unique(keys, return_counts=True)
    top = values[counts.argmax()]
    return border[keys == top].astype(np.float32).mean(axis=0)


def _edge_regions(gray: np.ndarray, min_w: int, min_h: int) -> list[Region]:
    edges = cv2.Canny(gray, 20, 60)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    h, w = gray.shape
    out = []
    for c in contours:
        x, y, cw, ch = cv2.boundingRect(c)
        if cw < min_w or ch < min_h or cw * ch < 800 or (cw >= w - 2 and ch >= h - 2):
            continue
        fill = cv2.contourArea(c) / float(cw * ch)
        if fill >= 0.85:
            out.append(Region((x, y, x + cw, y + ch), "edges", float(fill)))
    return out


def _block_regions(image: np.ndarray, offset: tuple[int, int], min_w: int, min_h: int, depth: int) -> list[Region]:
    h, w = image.shape[:2]
    if h < min_h * 2 or w < min_w * 2:
        return []
    bg = background_color(image)
    diff = np.abs(image.astype(np.float32) - bg).max(axis=2)
    mask = (diff > 24).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out: list[Region] = []
    ox, oy = offset
    for i in range(1, n):
        x, y, cw, ch, area = (int(v) for v in stats[i])
        if cw < min_w or ch < min_h or cw * ch < 800 or (cw >= w - 1 and ch >= h - 1 and depth > 0):
            continue
        out.append(Region((x + ox, y + oy, x + cw + ox, y + ch + oy), "color", area / float(cw * ch)))
        if depth < 1 and cw * ch > 0.02 * w * h and area / float(cw * ch) > 0.6:
            inner = image[y + 2:y + ch - 2, x + 2:x + cw - 2]
            out.extend(_block_regions(inner, (x + 2 + ox, y + 2 + oy), min_w, min_h, depth + 1))
    return out


def near_duplicate(a: Box, b: Box, thresh: float = 0.85, margin: int = 6) -> bool:
    """Same box, or one inside the other within a few pixels on every side (the outer and inner
    contour of one outline)."""
    if iou(a, b) >= thresh:
        return True
    return all(abs(a[i] - b[i]) <= margin for i in range(4))


def dedupe(regions: list[Region], thresh: float = 0.85) -> list[Region]:
    """Keep the larger of near-identical boxes."""
    kept: list[Region] = []
    for r in sorted(regions, key=lambda r: -r.area):
        if not any(near_duplicate(r.box, k.box, thresh) for k in kept):
            kept.append(r)
    return kept


def propose(image: np.ndarray, *, min_w: int = 24, min_h: int = 16, max_regions: int = 120) -> list[Region]:
    """Candidate widget boxes of an RGB screenshot, largest first."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    regions = _edge_regions(gray, min_w, min_h) + _block_regions(image, (0, 0), min_w, min_h, 0)
    h, w = image.shape[:2]
    regions = [r for r in regions if r.area < 0.97 * w * h]
    return dedupe(regions)[:max_regions]
