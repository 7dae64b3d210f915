"""Synthetic data for tests and benchmarks: the generator lives in raysight.demo_data (also behind
`raysight demo-data`); this module re-exports it and adds the COCO / Pascal VOC writers and the archives
an upload must refuse (`write_evil_zip`).

Importable as ``from tests.datagen import ...`` and from bench/ scripts (only PIL and numpy needed).
"""

from __future__ import annotations

import io
import json
import random
import stat
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from raysight.demo_data import (  # noqa: F401  (re-exported for the tests and bench/)
    COLOURS,
    SHAPES,
    Box,
    Sample,
    _join,
    image_bytes,
    make_classify_images,
    make_detection_images,
    write_classify_zip,
    write_yolo_zip,
    yolo_line,
)


def write_coco_zip(
    path: Path | str,
    n: int = 16,
    *,
    size: int = 128,
    seed: int = 0,
    classes: Sequence[str] = ("square", "circle"),
    prefix: str = "",
    category_ids_from: int = 1,
) -> Path:
    """A COCO archive: images/*.jpg + annotations/instances.json (bbox = [x, y, w, h], category ids from 1)."""
    path = Path(path)
    samples = make_detection_images(n, size=size, seed=seed, classes=classes)
    coco: dict = {
        "images": [],
        "annotations": [],
        "categories": [{"id": category_ids_from + i, "name": c} for i, c in enumerate(classes)],
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (image, boxes) in enumerate(samples):
            name = f"img{i:04d}.jpg"
            zf.writestr(_join(prefix, f"images/{name}"), image_bytes(image))
            coco["images"].append({"id": i + 1, "file_name": name, "width": size, "height": size})
            for cls, x1, y1, x2, y2 in boxes:
                coco["annotations"].append({
                    "id": len(coco["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": category_ids_from + cls,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                })
        zf.writestr(_join(prefix, "annotations/instances.json"), json.dumps(coco))
    return path


def voc_xml(filename: str, width: int, height: int, objects: Sequence[tuple[str, int, int, int, int]]) -> str:
    parts = [
        "<annotation>",
        f"  <filename>{filename}</filename>",
        f"  <size><width>{width}</width><height>{height}</height><depth>3</depth></size>",
    ]
    for name, x1, y1, x2, y2 in objects:
        parts.append(
            f"  <object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
            f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        )
    parts.append("</annotation>")
    return "\n".join(parts) + "\n"


def write_voc_zip(
    path: Path | str,
    n: int = 16,
    *,
    size: int = 128,
    seed: int = 0,
    classes: Sequence[str] = ("square", "circle"),
    prefix: str = "",
    beside: bool = False,
) -> Path:
    """A Pascal VOC archive: Annotations/*.xml + JPEGImages/*.jpg (or each xml beside its image)."""
    path = Path(path)
    samples = make_detection_images(n, size=size, seed=seed, classes=classes)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (image, boxes) in enumerate(samples):
            stem = f"img{i:04d}"
            objects = [(classes[c], x1, y1, x2, y2) for c, x1, y1, x2, y2 in boxes]
            img_dir, xml_dir = ("data", "data") if beside else ("JPEGImages", "Annotations")
            zf.writestr(_join(prefix, f"{img_dir}/{stem}.jpg"), image_bytes(image))
            zf.writestr(_join(prefix, f"{xml_dir}/{stem}.xml"), voc_xml(f"{stem}.jpg", size, size, objects))
    return path


# -- archives an upload must refuse ----------------------------------------------------------------------

EVIL_KINDS = ("dotdot", "absolute", "symlink", "too_many", "too_big", "not_zip")


def write_evil_zip(path: Path | str, kind: str = "dotdot", *, count: int = 6000, big_mb: int = 120) -> Path:
    """An archive that must be refused. kinds: dotdot (`../evil.txt`), absolute (`/tmp/evil.txt`),
    symlink (a member that is a symbolic link), too_many (`count` tiny entries), too_big (`big_mb` MB of
    zeros that compress to almost nothing), not_zip (plain bytes with a .zip name)."""
    path = Path(path)
    if kind == "not_zip":
        path.write_bytes(b"this is not a zip archive\n" * 10)
        return path
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("images/ok.txt", "fine")
        if kind == "dotdot":
            zf.writestr("../evil.txt", "escaped")
        elif kind == "absolute":
            info = zipfile.ZipInfo("/tmp/evil.txt")
            zf.writestr(info, "escaped")
        elif kind == "symlink":
            info = zipfile.ZipInfo("images/link.jpg")
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
        elif kind == "too_many":
            for i in range(count):
                zf.writestr(f"many/f{i}.txt", "")
        elif kind == "too_big":
            with zf.open("big.bin", "w", force_zip64=True) as out:
                chunk = b"\0" * (1024 * 1024)
                for _ in range(big_mb):
                    out.write(chunk)
        else:
            raise ValueError(f"unknown evil kind {kind!r}; one of {EVIL_KINDS}")
    return path


def reader_over(data: bytes) -> Callable[[int], Awaitable[bytes]]:
    """An async `read(n)` over bytes, the shape services.datasets.upload() takes."""
    view = memoryview(data)
    pos = 0

    async def read(n: int) -> bytes:
        nonlocal pos
        part = bytes(view[pos : pos + n])
        pos += len(part)
        return part

    return read


# -- segmentation: shapes with polygons and label PNGs -------------------------------------------------------

SegShape = tuple[int, list[tuple[float, float]]]  # class_id, polygon in pixels


def shape_polygon(shape: str, box: tuple[int, int, int, int]) -> list[tuple[float, float]]:
    """The outline of a generated shape as a polygon in pixels (circles as 24-gons)."""
    import math

    x1, y1, x2, y2 = box
    w, h = x2 - x1 - 1, y2 - y1 - 1
    if shape == "circle":
        cx, cy = x1 + w / 2, y1 + h / 2
        return [(cx + w / 2 * math.cos(2 * math.pi * k / 24), cy + h / 2 * math.sin(2 * math.pi * k / 24))
                for k in range(24)]
    if shape == "triangle":
        return [(x1 + w / 2, y1), (x1, y1 + h), (x1 + w, y1 + h)]
    if shape == "diamond":
        return [(x1 + w / 2, y1), (x1 + w, y1 + h / 2), (x1 + w / 2, y1 + h), (x1, y1 + h / 2)]
    return [(x1, y1), (x1 + w, y1), (x1 + w, y1 + h), (x1, y1 + h)]  # square (and anything else)


def make_segmentation_images(
    n: int, size: int = 128, seed: int = 0, classes: Sequence[str] = ("square", "triangle"), *, max_objects: int = 3,
) -> list[tuple[Image.Image, list[SegShape], np.ndarray]]:
    """`n` images with 1..max_objects non-overlapping filled shapes: (image, [(class_id, polygon)], mask)
    where mask is a uint8 HxW array of class_id + 1 per shape pixel (0 = background)."""
    from raysight.demo_data import _background, _overlaps, _style

    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    out = []
    for _ in range(n):
        image = _background(rng, size, True)
        mask_im = Image.new("L", (size, size), 0)
        draw, mdraw = ImageDraw.Draw(image), ImageDraw.Draw(mask_im)
        placed: list[tuple[int, int, int, int]] = []
        shapes: list[SegShape] = []
        for _obj in range(pyrng.randint(1, max_objects)):
            for _try in range(30):
                side = pyrng.randint(int(size * 0.28), int(size * 0.45))
                x1, y1 = pyrng.randint(2, size - side - 2), pyrng.randint(2, size - side - 2)
                cand = (x1, y1, x1 + side, y1 + side)
                if not any(_overlaps(cand, p, 3) for p in placed):
                    break
            else:
                continue
            cls = pyrng.randrange(len(classes))
            shape, colour = _style(classes[cls], cls)
            poly = shape_polygon(shape, cand)
            draw.polygon(poly, fill=colour)
            mdraw.polygon(poly, fill=cls + 1)
            placed.append(cand)
            shapes.append((cls, poly))
        out.append((image, shapes, np.asarray(mask_im).copy()))
    return out


def _png(array_or_image: np.ndarray | Image.Image) -> bytes:
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image, "L")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def write_yolo_seg_zip(path: Path | str, n: int = 16, *, size: int = 128, seed: int = 0,
                       classes: Sequence[str] = ("square", "triangle")) -> Path:
    """A YOLO-seg archive: images/ + labels/ ('class x1 y1 x2 y2 ...', normalised) + data.yaml."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (image, shapes, _mask) in enumerate(make_segmentation_images(n, size, seed, classes)):
            zf.writestr(f"images/img{i:04d}.jpg", image_bytes(image))
            lines = [f"{c} " + " ".join(f"{x / size:.6f} {y / size:.6f}" for x, y in poly) for c, poly in shapes]
            zf.writestr(f"labels/img{i:04d}.txt", "\n".join(lines) + "\n")
        zf.writestr("data.yaml", "names:\n" + "".join(f"  {i}: {c}\n" for i, c in enumerate(classes)))
    return path


def write_coco_seg_zip(path: Path | str, n: int = 16, *, size: int = 128, seed: int = 0,
                       classes: Sequence[str] = ("square", "triangle")) -> Path:
    """A COCO instance segmentation archive: images/ + annotations/instances.json with polygons."""
    path = Path(path)
    coco: dict = {"images": [], "annotations": [],
                  "categories": [{"id": i + 1, "name": c} for i, c in enumerate(classes)]}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (image, shapes, _mask) in enumerate(make_segmentation_images(n, size, seed, classes)):
            zf.writestr(f"images/img{i:04d}.jpg", image_bytes(image))
            coco["images"].append({"id": i + 1, "file_name": f"img{i:04d}.jpg", "width": size, "height": size})
            for c, poly in shapes:
                xs, ys = [p[0] for p in poly], [p[1] for p in poly]
                coco["annotations"].append({
                    "id": len(coco["annotations"]) + 1, "image_id": i + 1, "category_id": c + 1, "iscrowd": 0,
                    "segmentation": [[round(v, 2) for p in poly for v in p]],
                    "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                    "area": (max(xs) - min(xs)) * (max(ys) - min(ys)),
                })
        zf.writestr("annotations/instances.json", json.dumps(coco))
    return path


def write_paddlex_seg_zip(path: Path | str, n: int = 16, *, size: int = 128, seed: int = 0,
                          classes: Sequence[str] = ("square", "triangle"), lists: bool = True) -> Path:
    """A PaddleX semantic segmentation archive: JPEGImages/*.jpg, Annotations/*.png (pixel = class id,
    0 = background), labels.txt (background first) and, with `lists`, train_list.txt / val_list.txt."""
    path = Path(path)
    samples = make_segmentation_images(n, size, seed, classes)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        lines = []
        for i, (image, _shapes, mask) in enumerate(samples):
            zf.writestr(f"JPEGImages/img{i:04d}.jpg", image_bytes(image))
            zf.writestr(f"Annotations/img{i:04d}.png", _png(mask))
            lines.append(f"JPEGImages/img{i:04d}.jpg Annotations/img{i:04d}.png")
        zf.writestr("labels.txt", "\n".join(["background", *classes]) + "\n")
        if lists:
            cut = max(1, n // 4)
            zf.writestr("val_list.txt", "\n".join(lines[:cut]) + "\n")
            zf.writestr("train_list.txt", "\n".join(lines[cut:]) + "\n")
    return path


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
