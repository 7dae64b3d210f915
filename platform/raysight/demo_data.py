"""`raysight demo-data DIR`: small generated datasets to try the platform with (and the generator the
tests use): clearly drawn coloured shapes on a noisy background that tiny models learn in a few epochs.

Detection: `make_detection_images(n)` gives images with 1-3 large, non-overlapping shapes each and their
pixel boxes; `write_yolo_zip` packs them as a YOLO archive (images/ + labels/ + data.yaml).
Classification: `write_classify_zip` writes class folders whose classes differ by shape AND colour.

Learnability, measured on 2 CPU cores: YOLO('yolov8n.yaml') FROM SCRATCH on 60 train / 20 val images of
128 px reached mAP50 0.80 at epoch 15 and 0.99 at epoch 30 with imgsz=128, batch=8, mosaic=0.0,
optimizer="AdamW", lr0=0.003, warmup_epochs=1 (about 2-3 s per epoch on an idle machine). With the
ultralytics defaults (mosaic=1.0, batch=16, optimizer=auto) mAP50 was still 0 after 20 epochs.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import zipfile
from collections.abc import Iterator, Sequence
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

    def __iter__(self) -> Iterator[object]:
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


# -- the command ----------------------------------------------------------------------------------------------

DETECT_ZIP = "shapes_yolo.zip"
CLASSIFY_ZIP = "shapes_classify.zip"
DETECT_CLASSES = ("square", "circle")
CLASSIFY_CLASSES = ("square", "circle", "triangle")


def write_demo_data(folder: Path | str, *, detect_images: int = 64, per_class: int = 20) -> list[Path]:
    """Write the detection zip (YOLO, 128 px) and the classification zip (class folders, 64 px)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    detect = write_yolo_zip(folder / DETECT_ZIP, detect_images, size=128, seed=0, classes=DETECT_CLASSES)
    classify = write_classify_zip(folder / CLASSIFY_ZIP, per_class, classes=CLASSIFY_CLASSES, size=64, seed=0)
    return [detect, classify]


def cmd_demo_data(ns: argparse.Namespace) -> int:
    """`raysight demo-data DIR`."""
    for path in write_demo_data(ns.dir, detect_images=ns.images, per_class=ns.per_class):
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `demo-data` on the CLI's sub-command parser."""
    p = sub.add_parser("demo-data", help="write a small generated detection zip and classification zip to DIR")
    p.add_argument("dir", type=Path)
    p.add_argument("--images", type=int, default=64, help="detection images (default 64)")
    p.add_argument("--per-class", type=int, default=20, help="classification images per class (default 20)")
    p.set_defaults(func=cmd_demo_data)
