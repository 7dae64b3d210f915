"""GET /file: files inside the workspace only. Images come back base64-encoded (with the dataset's labels
drawn when a dataset id is given), xml as its text, txt/log as JSON. Any other path answers an error."""

from __future__ import annotations

import asyncio
import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from raysight.context import Platform
from raysight.errors import Invalid, NotFound
from raysight.imaging import probe
from raysight.services.paddlex import drawing, records

IMAGE_EXTS = {".jpeg", ".jpg", ".bmp", ".png"}
TEXT_EXTS = {".txt", ".log"}
MAX_TEXT_BYTES = 20 * 1024 * 1024


def resolve(ctx: Platform, raw: object) -> Path:
    """`raw` (absolute, or relative to the workspace) if it names a file of a served kind inside the
    workspace, symlinks followed; hidden files and folders are never served."""
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise Invalid("path is required")
    root = ctx.workspace.root
    candidate = Path(raw.strip())
    path = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not path.is_relative_to(root) or any(p.startswith(".") for p in path.relative_to(root).parts):
        raise Invalid(f"path '{raw}' is outside the workspace")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTS | TEXT_EXTS | {".xml"}:
        raise Invalid(f"path '{raw}' is not an image, xml, txt or log file")
    if not path.is_file():
        raise NotFound(f"file '{raw}' not found")
    return path


def _voc_boxes(xml_file: Path) -> list[dict[str, Any]]:
    root = ET.fromstring(xml_file.read_bytes()[:MAX_TEXT_BYTES])
    out = []
    for i, obj in enumerate(root.iter("object")):
        box = obj.find("bndbox")
        if box is None:
            continue
        try:
            x1, y1, x2, y2 = (float(box.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError:
            continue
        out.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "label": obj.findtext("name") or "", "class_id": i})
    return out


def _labelled(ctx: Platform, did: object, image_path: Path, image: Image.Image) -> Image.Image:
    """The image with its labels in dataset `did` drawn (classification datasets are returned as they are)."""
    rec = records.get(ctx=ctx, kind="dataset", code=did)
    if not rec["ref"] or rec["type"] == "classification":
        return image
    raw = ctx.workspace.dataset_raw(rec["ref"]).resolve()
    if not image_path.is_relative_to(raw):
        raise Invalid(f"the image is not a file of dataset '{rec['id']}'")
    details = ctx.workspace.dialect_dir("paddlex") / "datasets" / rec["id"] / "details.json"
    label_rel = ""
    if details.is_file():
        label_rel = json.loads(details.read_text())["file_info"].get(image_path.relative_to(raw).as_posix(), "")
    label = raw / label_rel if label_rel else None
    classes = list(rec["attrs"].get("labels", []))
    if label is None or not label.is_file():
        return image
    suffix = label.suffix.lower()
    if suffix == ".xml":
        return drawing.draw(image, _voc_boxes(label))
    if suffix == ".txt":
        lines = label.read_text(errors="replace").splitlines()
        return drawing.draw(image, drawing.yolo_to_boxes(lines, image.width, image.height, classes))
    if suffix == ".png":
        return drawing.overlay_mask(image, np.asarray(Image.open(label)))
    return image


def _read_blocking(ctx: Platform, path: Path, did: object) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return {"kind": "xml", "text": path.read_bytes()[:MAX_TEXT_BYTES].decode("utf-8", errors="replace")}
    if suffix in TEXT_EXTS:
        text = path.read_bytes()[-MAX_TEXT_BYTES:].decode("utf-8", errors="replace")
        return {"kind": "text", "fields": {"content": text, "lines": text.splitlines()}}
    data = path.read_bytes()
    probe(data, max_decode_pixels=ctx.settings.max_image_pixels)
    if did is None:
        return {"kind": "image", "fields": {"img_data": base64.b64encode(data).decode()}}
    with Image.open(path) as im:
        drawn = _labelled(ctx, did, path, im.convert("RGB"))
    return {"kind": "image", "fields": {"img_data": drawing.to_base64(drawn)}}


async def read(*, ctx: Platform, path: object, did: object = None) -> dict[str, Any]:
    """{"kind": "xml", "text"} or {"kind": "image"|"text", "fields": {...}} for a file in the workspace."""
    resolved = resolve(ctx, path)
    return await asyncio.to_thread(_read_blocking, ctx, resolved, did)
