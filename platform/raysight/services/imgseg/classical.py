"""The classical region segmenter: SAM's prompts answered from the region proposals ingest uses
(regions.propose: closed outlines and colour blocks), for when SAM has no official weights.

- point(s) -> the region under them: the smallest proposal holding every positive point and no
  negative one; where no proposal holds the point, the connected area of the point's colour
  (flood fill), which is what lies under it (a glyph, the page background...);
- box -> the regions in it: one answer per box, its mask the union of the proposals lying in the
  box (the box itself, score 0, when none does);
- automatic -> every proposal.

Answers have the shape of the SAM plugin's: ``bbox`` [x, y, w, h], ``score``, ``area``, and a
full-size boolean ``mask`` for prompts. A proposal's mask is its box (widgets are rectangles).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from raysight.services.imgseg.regions import Box, Region, contains, propose

NAME = "classical-regions"


def _inside(box: Box, point: list[float]) -> bool:
    return box[0] <= point[0] < box[2] and box[1] <= point[1] < box[3]


def _box_mask(shape: tuple[int, int], boxes: list[Box]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for x1, y1, x2, y2 in boxes:
        mask[max(0, y1):y2, max(0, x1):x2] = True
    return mask


def _item(mask: np.ndarray, score: float, regions: list[Box]) -> dict[str, Any]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        bbox = [0, 0, 0, 0]
    else:
        bbox = [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]
    return {"bbox": bbox, "score": round(float(score), 4), "area": int(mask.sum()), "mask": mask,
            "regions": [[int(b[0]), int(b[1]), int(b[2] - b[0]), int(b[3] - b[1])] for b in regions]}


def flood(image: np.ndarray, point: list[float], tolerance: int = 8) -> np.ndarray:
    """The 4-connected area around `point` whose colour stays within `tolerance` of its neighbours'."""
    h, w = image.shape[:2]
    ff = np.zeros((h + 2, w + 2), np.uint8)
    seed = (int(min(w - 1, max(0, point[0]))), int(min(h - 1, max(0, point[1]))))
    diff = (tolerance,) * 3
    cv2.floodFill(np.array(image, copy=True), ff, seed, (0, 0, 0), diff, diff,
                  4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    return ff[1:-1, 1:-1].astype(bool)


def point_segment(image: np.ndarray, points: list[list[float]], labels: list[int],
                  regions: list[Region] | None = None) -> dict[str, Any]:
    """The region under the prompt's points (label 1 inside, label 0 outside)."""
    regions = propose(image) if regions is None else regions
    pos = [p for p, lab in zip(points, labels, strict=True) if lab == 1] or list(points)
    neg = [p for p, lab in zip(points, labels, strict=True) if lab == 0]
    held = [r for r in regions if all(_inside(r.box, p) for p in pos) and not any(_inside(r.box, p) for p in neg)]
    if held:
        best = min(held, key=lambda r: r.area)
        return _item(_box_mask(image.shape[:2], [best.box]), best.score, [best.box])
    mask = flood(image, pos[0])
    for p in pos[1:]:
        mask |= flood(image, p)
    for p in neg:
        mask &= ~flood(image, p)
    return _item(mask, 0.5, [])


def box_segment(image: np.ndarray, box: list[float], regions: list[Region] | None = None) -> dict[str, Any]:
    """The regions lying in `box` ([x1, y1, x2, y2]), as one answer."""
    regions = propose(image) if regions is None else regions
    h, w = image.shape[:2]
    b = (max(0, int(box[0])), max(0, int(box[1])), min(w, int(round(box[2]))), min(h, int(round(box[3]))))
    inner = [r for r in regions if contains(b, r.box, 0.9)]
    if not inner:
        item = _item(_box_mask((h, w), [b]), 0.0, [])
    else:
        item = _item(_box_mask((h, w), [r.box for r in inner]), max(r.score for r in inner), [r.box for r in inner])
    item["prompt_box"] = [float(v) for v in box]
    return item


def prompt(image: np.ndarray, points: list, labels: list, boxes: list) -> dict[str, Any]:
    """A SAM-shaped prompt answer: one mask per box (the points narrow nothing then), or one for
    the points."""
    regions = propose(image)
    if boxes:
        masks = [box_segment(image, b, regions) for b in boxes]
    else:
        masks = [point_segment(image, points, labels, regions)]
    return {"segmenter": NAME, "masks": masks}


def auto(image: np.ndarray) -> dict[str, Any]:
    """Every region, largest first (``bbox``, ``score``, ``area``; no masks)."""
    masks = [{"bbox": [r.box[0], r.box[1], r.box[2] - r.box[0], r.box[3] - r.box[1]], "score": round(r.score, 4),
              "area": r.area, "source": r.source} for r in propose(image)]
    return {"segmenter": NAME, "masks": masks}
