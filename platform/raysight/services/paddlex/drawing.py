"""Drawing boxes, masks and class names onto images (dataset labels for /file, predictions for /predict)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128)]


def draw(image: Image.Image, boxes: list[dict[str, Any]], *, caption: str | None = None) -> Image.Image:
    """A copy of `image` with each {x1, y1, x2, y2, label, class_id, (polygon / polygons)} drawn, and an optional
    caption in the corner (classification results)."""
    out = image.convert("RGB").copy()
    pen = ImageDraw.Draw(out)
    for box in boxes:
        color = PALETTE[int(box.get("class_id", 0)) % len(PALETTE)]
        outlines = box.get("polygons") or ([box["polygon"]] if box.get("polygon") else [])
        for outline in outlines:
            if len(outline) >= 3:
                pen.polygon([(float(p[0]), float(p[1])) for p in outline], outline=color)
        pen.rectangle([box["x1"], box["y1"], box["x2"], box["y2"]], outline=color, width=2)
        pen.text((box["x1"] + 2, max(0, box["y1"] - 11)), str(box.get("label", "")), fill=color)
    if caption:
        pen.rectangle([0, 0, 8 + 6 * len(caption), 14], fill=(0, 0, 0))
        pen.text((4, 2), caption, fill=(255, 255, 255))
    return out


def yolo_to_boxes(lines: list[str], width: int, height: int, classes: list[str]) -> list[dict[str, Any]]:
    """YOLO label lines (class cx cy w h, or class x1 y1 x2 y2 ... polygons) in pixel boxes."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) < 5:
            continue
        try:
            cls, values = int(float(parts[0])), [float(v) for v in parts[1:]]
        except ValueError:
            continue
        label = classes[cls] if 0 <= cls < len(classes) else str(cls)
        if len(values) == 4:
            cx, cy, w, h = values
            out.append({"x1": (cx - w / 2) * width, "y1": (cy - h / 2) * height, "x2": (cx + w / 2) * width,
                        "y2": (cy + h / 2) * height, "label": label, "class_id": cls})
            continue
        pts = [(values[i] * width, values[i + 1] * height) for i in range(0, len(values) - 1, 2)]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        out.append({"x1": min(xs), "y1": min(ys), "x2": max(xs), "y2": max(ys), "label": label, "class_id": cls,
                    "polygon": pts})
    return out


def overlay_mask(image: Image.Image, mask: np.ndarray) -> Image.Image:
    """A label PNG (class index per pixel) blended over the image."""
    rgb = np.asarray(image.convert("RGB")).copy()
    colors = np.array([(0, 0, 0)] + PALETTE * 26, dtype=np.uint8)
    painted = colors[np.clip(mask.astype(np.int64), 0, len(colors) - 1)]
    hit = mask > 0
    rgb[hit] = (0.5 * rgb[hit] + 0.5 * painted[hit]).astype(np.uint8)
    return Image.fromarray(rgb)


def to_base64(image: Image.Image, fmt: str = "JPEG") -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format=fmt, quality=90)
    return base64.b64encode(buf.getvalue()).decode()
