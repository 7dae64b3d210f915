"""Synthetic data for tests and benchmarks: clearly drawn coloured shapes that tiny models learn fast.

Detection: `make_detection_images(n)` gives images with 1-3 large, non-overlapping shapes each and their
pixel boxes; the writers pack them as the archives people upload (YOLO, COCO, Pascal VOC).
Classification: `write_classify_zip` writes class folders whose classes differ by shape AND colour.
Security: `write_evil_zip` builds the archives an upload must refuse.

Importable as ``from tests.datagen import ...`` and from bench/ scripts (only PIL and numpy needed).

Learnability, measured on 2 CPU cores: YOLO('yolov8n.yaml') FROM SCRATCH on 60 train / 20 val images of
128 px reached mAP50 0.80 at epoch 15 and 0.99 at epoch 30 with imgsz=128, batch=8, mosaic=0.0,
optimizer="AdamW", lr0=0.003, warmup_epochs=1 (about 2-3 s per epoch on an idle machine). With the
ultralytics defaults (mosaic=1.0, batch=16, optimizer=auto) mAP50 was still 0 after 20 epochs.
"""

from __future__ import annotations

import io
import json
import random
import stat
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# A class name that is one of these shapes is drawn as it says; others take the shape at their index.
SHAPES = ("square", "circle", "triangle", "diamond", "cross")
COLOURS = ((220, 40, 40), (40, 80, 220), (30, 170, 60), (235, 180, 20), (160, 40, 200), (20, 180, 190))

Box = tuple[int, int, int, int, int]  # class_id, x1, y1, x2, y2 (pixels, x2/y2 exclusive)


@dataclass
class Sample:
    """One generated image and its boxes; unpacks as ``image, boxes = sample``."""

    image: Image.Image
    boxes: list[Box] = field(default_factory=list)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter((self.image, self.boxes))


def _style(name: str, index: int) -> tuple[str, tuple[int, int, int]]:
    shape = name if name in SHAPES else SHAPES[index % len(SHAPES)]
    return shape, COLOURS[index % len(COLOURS)]


def _draw(draw: ImageDraw.ImageDraw, shape: str, colour: tuple[int, int, int], box: tuple[int, int, int, int]) -> None:
    x1, y1, x2, y2 = box
    w, h = x2 - x1 - 1, y2 - y1 - 1
    if shape == "square":
        draw.rectangle((x1, y1, x1 + w, y1 + h), fill=colour)
    elif shape == "circle":
        draw.ellipse((x1, y1, x1 + w, y1 + h), fill=colour)
    elif shape == "triangle":
        draw.polygon([(x1 + w / 2, y1), (x1, y1 + h), (x1 + w, y1 + h)], fill=colour)
    elif shape == "diamond":
        draw.polygon([(x1 + w / 2, y1), (x1 + w, y1 + h / 2), (x1 + w / 2, y1 + h), (x1, y1 + h / 2)], fill=colour)
    else:  # cross
        t = max(2, w // 3)
        draw.rectangle((x1 + (w - t) // 2, y1, x1 + (w + t) // 2, y1 + h), fill=colour)
        draw.rectangle((x1, y1 + (h - t) // 2, x1 + w, y1 + (h + t) // 2), fill=colour)


def _background(rng: np.random.Generator, size: int, noise: bool) -> Image.Image:
    base = rng.integers(170, 235)
    arr = np.full((size, size, 3), base, dtype=np.float32)
    if noise:
        arr += rng.normal(0, 8, size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int], margin: int) -> bool:
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1] or b[3] + margin <= a[1])


def make_detection_images(
    n: int,
    size: int = 128,
    seed: int = 0,
    classes: Sequence[str] = ("square", "circle"),
    *,
    max_objects: int = 3,
    noise: bool = True,
) -> list[Sample]:
    """`n` images of `size` px with 1..max_objects large shapes each; boxes in pixels (class_id, x1, y1, x2, y2)."""
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    samples: list[Sample] = []
    for _ in range(n):
        image = _background(rng, size, noise)
        draw = ImageDraw.Draw(image)
        placed: list[tuple[int, int, int, int]] = []
        boxes: list[Box] = []
        for _obj in range(pyrng.randint(1, max_objects)):
            for _try in range(30):
                side = pyrng.randint(int(size * 0.25), int(size * 0.42))
                x1 = pyrng.randint(2, size - side - 2)
                y1 = pyrng.randint(2, size - side - 2)
                cand = (x1, y1, x1 + side, y1 + side)
                if not any(_overlaps(cand, p, 3) for p in placed):
                    break
            else:
                continue
            cls = pyrng.randrange(len(classes))
            shape, colour = _style(classes[cls], cls)
            _draw(draw, shape, colour, cand)
            placed.append(cand)
            boxes.append((cls, *cand))
        samples.append(Sample(image, boxes))
    return samples


def make_classify_images(
    n_per_class: int, classes: Sequence[str] = ("square", "circle", "triangle"), size: int = 64, seed: int = 0
) -> dict[str, list[Image.Image]]:
    """Per class, `n_per_class` images of one centred-ish shape; classes differ by shape and colour."""
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    out: dict[str, list[Image.Image]] = {}
    for index, name in enumerate(classes):
        shape, colour = _style(name, index)
        images = []
        for _ in range(n_per_class):
            image = _background(rng, size, True)
            side = pyrng.randint(int(size * 0.45), int(size * 0.7))
            x1 = pyrng.randint(2, size - side - 2)
            y1 = pyrng.randint(2, size - side - 2)
            _draw(ImageDraw.Draw(image), shape, colour, (x1, y1, x1 + side, y1 + side))
            images.append(image)
        out[name] = images
    return out


# -- archive writers ----------------------------------------------------------------------------------


def image_bytes(image: Image.Image, ext: str = "jpg") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG" if ext.lower() in ("jpg", "jpeg") else ext.upper(), quality=95)
    return buf.getvalue()


def yolo_line(box: Box, width: int, height: int) -> str:
    cls, x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    return f"{cls} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"


def _join(prefix: str, name: str) -> str:
    return f"{prefix.strip('/')}/{name}" if prefix else name


def write_yolo_zip(
    path: Path | str,
    n: int = 16,
    *,
    size: int = 128,
    seed: int = 0,
    classes: Sequence[str] = ("square", "circle"),
    splits: bool = False,
    data_yaml: bool = True,
    classes_txt: bool = False,
    prefix: str = "",
    ext: str = "jpg",
) -> Path:
    """A YOLO archive: images/ + labels/ (or images/{train,val}/ ... when `splits`), optional data.yaml
    (names as a list) and/or classes.txt, all under an optional top folder `prefix`."""
    path = Path(path)
    samples = make_detection_images(n, size=size, seed=seed, classes=classes)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (image, boxes) in enumerate(samples):
            sub = ("train/" if i < max(1, int(n * 0.75)) else "val/") if splits else ""
            stem = f"img{i:04d}"
            zf.writestr(_join(prefix, f"images/{sub}{stem}.{ext}"), image_bytes(image, ext))
            text = "\n".join(yolo_line(b, size, size) for b in boxes)
            zf.writestr(_join(prefix, f"labels/{sub}{stem}.txt"), text + ("\n" if text else ""))
        if data_yaml:
            lines = ["path: .", f"train: images{'/train' if splits else ''}", f"val: images{'/val' if splits else ''}"]
            lines.append("names: [" + ", ".join(json.dumps(c) for c in classes) + "]")
            zf.writestr(_join(prefix, "data.yaml"), "\n".join(lines) + "\n")
        if classes_txt:
            zf.writestr(_join(prefix, "classes.txt"), "\n".join(classes) + "\n")
    return path


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


def write_classify_zip(
    path: Path | str,
    n_per_class: int = 10,
    *,
    classes: Sequence[str] = ("square", "circle", "triangle"),
    size: int = 64,
    seed: int = 0,
    splits: bool = False,
    prefix: str = "",
) -> Path:
    """Class folders `<class>/*.jpg` (or `train/<class>/`, `val/<class>/` when `splits`)."""
    path = Path(path)
    per_class = make_classify_images(n_per_class, classes=classes, size=size, seed=seed)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, images in per_class.items():
            for i, image in enumerate(images):
                sub = ("train/" if i < max(1, int(len(images) * 0.75)) else "val/") if splits else ""
                zf.writestr(_join(prefix, f"{sub}{name}/{name}_{i:04d}.jpg"), image_bytes(image))
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
