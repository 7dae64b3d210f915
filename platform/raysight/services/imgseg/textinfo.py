"""What predictText reports besides the words: box, text colour, background colour, line height
and the block's alignment, computed here from the plain lines any `read_text` provider answers."""

from __future__ import annotations

from typing import Any

import numpy as np


def rect_of(box: list[list[float]], width: int, height: int) -> tuple[int, int, int, int]:
    pts = np.asarray(box, dtype=np.float32)
    x1, y1 = np.floor(pts.min(axis=0)).astype(int)
    x2, y2 = np.ceil(pts.max(axis=0)).astype(int)
    return max(0, int(x1)), max(0, int(y1)), min(width, int(x2)), min(height, int(y2))


def colors(crop: np.ndarray) -> tuple[list[int], list[int]]:
    """(text colour, background colour) of a text crop: two-means on the pixels; the cluster that
    dominates the crop's border is the background."""
    pix = crop.reshape(-1, 3).astype(np.float32)
    if len(pix) == 0:
        return [0, 0, 0], [255, 255, 255]
    border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]]).astype(np.float32)
    bg = np.median(border, axis=0)
    dist = np.linalg.norm(pix - bg, axis=1)
    fg_pix = pix[dist > max(30.0, np.percentile(dist, 75))]
    if len(fg_pix) == 0:
        fg_pix = pix[dist >= np.percentile(dist, 90)]
    # the farthest pixels are the glyph cores (edges blend into the background)
    far = fg_pix[np.linalg.norm(fg_pix - bg, axis=1) >= np.percentile(np.linalg.norm(fg_pix - bg, axis=1), 50)]
    fg = np.median(far, axis=0) if len(far) else np.median(fg_pix, axis=0)
    return [int(v) for v in np.round(fg)], [int(v) for v in np.round(bg)]


def alignment(rects: list[tuple[int, int, int, int]], width: int) -> str:
    """left / center / right: which edge of the lines varies least."""
    if not rects:
        return "left"
    arr = np.asarray(rects, dtype=np.float32)
    if len(arr) == 1:
        x1, _, x2, _ = arr[0]
        centre = (x1 + x2) / 2
        if abs(centre - width / 2) < width * 0.05:
            return "center"
        return "right" if x1 > width - x2 and width - x2 < width * 0.1 else "left"
    spreads = {"left": arr[:, 0].std(), "center": ((arr[:, 0] + arr[:, 2]) / 2).std(), "right": arr[:, 2].std()}
    return min(spreads, key=lambda k: (spreads[k], ("left", "center", "right").index(k)))


def line_height(rect: tuple[int, int, int, int], rects: list[tuple[int, int, int, int]]) -> int:
    """Distance to the next line of the same column when there is one, else the glyph box height
    scaled by the usual 1.2 leading."""
    x1, y1, x2, y2 = rect
    h = y2 - y1
    below = [r[1] - y1 for r in rects if r[1] > y1 + h * 0.5 and r[1] - y1 < h * 1.6 and min(r[2], x2) > max(r[0], x1)]
    return int(min(below)) if below else int(round(h * 1.2))


def describe(image: np.ndarray, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The predictText view of one image: per line box, text, colours, line height; and alignment."""
    height, width = image.shape[:2]
    rects = [rect_of(line["box"], width, height) for line in lines]
    items = []
    for line, rect in zip(lines, rects, strict=True):
        x1, y1, x2, y2 = rect
        crop = image[y1:y2, x1:x2]
        fg, bg = colors(crop) if crop.size else ([0, 0, 0], [255, 255, 255])
        items.append({
            "left_top_coord": [x1, y1], "width": x2 - x1, "height": y2 - y1, "msg": line["text"],
            "backgroundColor": bg, "color": fg, "line_height": line_height(rect, rects),
            "score": round(float(line.get("score", 0.0)), 4), "box": line["box"],
        })
    return {"lines": items, "align": alignment(rects, width)}
