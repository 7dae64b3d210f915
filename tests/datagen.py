"""Synthetic data for tests and benchmarks: the generator lives in raysight.demo_data (also behind
`raysight demo-data`); this module re-exports it and adds the COCO / Pascal VOC writers and the archives
an upload must refuse (`write_evil_zip`).

Importable as ``from tests.datagen import ...`` and from bench/ scripts (only PIL and numpy needed).
"""

from __future__ import annotations

import json
import stat
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

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
