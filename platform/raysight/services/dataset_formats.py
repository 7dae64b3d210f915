"""Recognise an extracted dataset (YOLO, COCO, Pascal VOC, class folders) and read it into one shape.

Every detection format becomes a list of `Item`s carrying YOLO-normalised boxes; class folders become
`Item`s with one label. Unusable items (undecodable image, label out of range, bad box) are skipped
and counted, never fatal on their own.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from raysight.errors import Invalid
from raysight.services.dataset_limits import (
    DEFAULT_LIMITS,
    DatasetLimits,
    check_class_count,
    read_small_text,
    safe_yaml,
)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
MAX_JSON_BYTES = 512 * 1024 * 1024

Label = tuple[int, float, float, float, float]  # class index, cx, cy, w, h (normalised 0..1)


@dataclass
class Item:
    image: Path
    labels: list[Label] = field(default_factory=list)  # detection boxes
    class_index: int = -1  # classification label
    split: str | None = None  # a split the source already had
    polygons: list[tuple[int, list[float]]] = field(default_factory=list)  # instance segmentation (normalised)
    mask: Path | None = None  # semantic segmentation: the label PNG (pixel value = class id)
    mask_classes: list[int] = field(default_factory=list)  # the class ids that label PNG holds


@dataclass
class Parsed:
    format: str  # yolo / coco / voc / classify / yolo-seg / paddlex-seg
    task_type: str  # detect / classify / instance_segment / semantic_segment
    classes: list[str]
    items: list[Item]
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.problems) < 20:
            self.problems.append(reason)


# -- small helpers ------------------------------------------------------------------------------------


def content_root(raw: Path) -> Path:
    """Descend through lone wrapper folders ("mydata/") to where the content starts."""
    root = raw
    while True:
        entries = [p for p in root.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
            root = entries[0]
            continue
        return root


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and not p.name.startswith("."))


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS


def image_size(path: Path, max_pixels: int = DEFAULT_LIMITS.max_pixels) -> tuple[int, int] | None:
    """(width, height) of a decodable image of at most `max_pixels`, else None. Decodes at reduced scale
    where the codec allows; the header is checked before any pixel is decoded."""
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > max_pixels:
                return None
            im.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            im.load()
        return (width, height) if width > 0 and height > 0 else None
    except Exception:
        return None


def split_of(path: Path, root: Path) -> str | None:
    for part in path.relative_to(root).parts[:-1]:
        if part.lower() in SPLIT_NAMES:
            return SPLIT_NAMES[part.lower()]
    return None


def _names_from_yaml(root: Path, limits: DatasetLimits = DEFAULT_LIMITS) -> list[str] | None:
    for path in sorted(root.rglob("*.y*ml")):
        data = safe_yaml(read_small_text(path, limits), path.name)
        names = data.get("names") if isinstance(data, dict) else None
        if isinstance(names, (list, dict)):
            check_class_count(len(names), limits)
        if isinstance(names, list):
            return [str(n) for n in names]
        if isinstance(names, dict):
            try:
                ordered = sorted((int(k), str(v)) for k, v in names.items())
            except (TypeError, ValueError):
                continue
            if [k for k, _ in ordered] == list(range(len(ordered))):
                return [v for _, v in ordered]
    return None


def _names_from_txt(root: Path, limits: DatasetLimits = DEFAULT_LIMITS) -> list[str] | None:
    for name in ("classes.txt", "obj.names", "classes.names"):
        for path in sorted(root.rglob(name)):
            names = [line.strip() for line in read_small_text(path, limits).splitlines()]
            names = [n for n in names if n]
            if names:
                return names
    return None


def _clip_box(x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> Label | None:
    """A pixel box clipped to the image, as normalised (cx, cy, w, h) without class; None if degenerate."""
    x1, x2 = max(0.0, min(x1, x2)), min(float(width), max(x1, x2))
    y1, y2 = max(0.0, min(y1, y2)), min(float(height), max(y1, y2))
    if x2 - x1 < 1e-3 or y2 - y1 < 1e-3:
        return None
    return (-1, (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)


def _class_lookup(found: list[str], wanted: list[str] | None) -> tuple[list[str], dict[str, int]]:
    """Classes of the result and name -> index: the request's list if given (found names map by name)."""
    classes = list(wanted) if wanted else list(found)
    return classes, {name: i for i, name in enumerate(classes)}


# -- detection ------------------------------------------------------------------------------------------


def _coco_files(files: Iterable[Path]) -> list[tuple[Path, dict]]:
    found = []
    for path in files:
        if path.suffix.lower() != ".json" or path.stat().st_size > MAX_JSON_BYTES:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and {"images", "annotations", "categories"} <= data.keys():
            found.append((path, data))
    return found


def _voc_root(path: Path) -> ET.Element | None:
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return None
    return root if root.tag == "annotation" else None


def _index_images(root: Path, files: list[Path]) -> dict[str, list[Path]]:
    by_name: dict[str, list[Path]] = {}
    for path in files:
        if is_image(path):
            by_name.setdefault(path.name, []).append(path)
            by_name.setdefault(path.stem, []).append(path)
    return by_name


def parse_coco(root: Path, files: list[Path], sources: list[tuple[Path, dict]], classes: list[str] | None,
               limits: DatasetLimits = DEFAULT_LIMITS) -> Parsed:
    found: list[str] = []
    check_class_count(sum(len(data["categories"]) for _p, data in sources), limits)
    for _path, data in sources:
        for cat in sorted(data["categories"], key=lambda c: c.get("id", 0)):
            if str(cat.get("name")) not in found:
                found.append(str(cat.get("name")))
    names, lookup = _class_lookup(found, classes)
    parsed = Parsed("coco", "detect", names, [])
    by_name = _index_images(root, files)
    for path, data in sources:
        cat_name = {c.get("id"): str(c.get("name")) for c in data["categories"]}
        anns: dict[object, list[dict]] = {}
        for ann in data["annotations"]:
            anns.setdefault(ann.get("image_id"), []).append(ann)
        split = split_of(path, root) or SPLIT_NAMES.get(path.stem.split("_")[-1].lower())
        for img in data["images"]:
            file_name = str(img.get("file_name", ""))
            candidates = [p for p in by_name.get(Path(file_name).name, []) if p.as_posix().endswith(file_name)]
            candidates = candidates or by_name.get(Path(file_name).name, [])
            if not candidates:
                parsed.skip(f"{file_name}: image file missing")
                continue
            image = candidates[0]
            size = image_size(image, limits.max_pixels)
            if size is None:
                parsed.skip(f"{file_name}: image cannot be decoded")
                continue
            labels, bad = [], None
            for ann in anns.get(img.get("id"), []):
                name = cat_name.get(ann.get("category_id"))
                if name not in lookup:
                    continue  # a category the request left out
                try:
                    x, y, w, h = (float(v) for v in ann["bbox"])
                except (KeyError, TypeError, ValueError):
                    bad = f"{file_name}: malformed bbox"
                    break
                box = _clip_box(x, y, x + w, y + h, *size)
                if box is None:
                    bad = f"{file_name}: empty or invalid box {ann['bbox']}"
                    break
                labels.append((lookup[name], *box[1:]))
            if bad:
                parsed.skip(bad)
                continue
            parsed.items.append(Item(image, labels, split=split or split_of(image, root)))
    return parsed


def parse_voc(root: Path, files: list[Path], xmls: list[tuple[Path, ET.Element]], classes: list[str] | None,
              limits: DatasetLimits = DEFAULT_LIMITS) -> Parsed:
    found = sorted({(obj.findtext("name") or "").strip() for _p, x in xmls for obj in x.iter("object")} - {""})
    check_class_count(len(found), limits)
    names, lookup = _class_lookup(found, classes)
    parsed = Parsed("voc", "detect", names, [])
    by_name = _index_images(root, files)
    for path, xml in xmls:
        file_name = (xml.findtext("filename") or "").strip()
        candidates = [p for p in by_name.get(path.stem, []) if p.parent == path.parent]
        candidates = candidates or by_name.get(Path(file_name).name, []) or by_name.get(path.stem, [])
        if not candidates:
            parsed.skip(f"{path.name}: image file missing")
            continue
        image = candidates[0]
        size = image_size(image, limits.max_pixels)
        if size is None:
            parsed.skip(f"{image.name}: image cannot be decoded")
            continue
        labels, bad = [], None
        for obj in xml.iter("object"):
            name = (obj.findtext("name") or "").strip()
            if name not in lookup:
                continue
            try:
                bb = obj.find("bndbox")
                coords = [float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]  # type: ignore[union-attr,arg-type]
            except (AttributeError, TypeError, ValueError):
                bad = f"{path.name}: malformed bndbox"
                break
            box = _clip_box(*coords, *size)
            if box is None:
                bad = f"{path.name}: empty or invalid box {coords}"
                break
            labels.append((lookup[name], *box[1:]))
        if bad:
            parsed.skip(bad)
            continue
        parsed.items.append(Item(image, labels, split=split_of(image, root)))
    return parsed


def _yolo_label_path(image: Path) -> list[Path]:
    parts = list(image.parts)
    out = []
    for i in range(len(parts) - 2, -1, -1):  # the last "images" folder becomes "labels" (ultralytics' rule)
        if parts[i] == "images":
            out.append(Path(*parts[:i], "labels", *parts[i + 1 :]).with_suffix(".txt"))
            break
    out.append(image.with_suffix(".txt"))
    return out


def yolo_label_lines(path: Path, n_classes: int | None) -> Iterator[tuple[int, int, list[float]]]:
    """(line number, class, coordinates) of each non-empty line of a YOLO label file (boxes or polygons);
    ValueError naming the line for one that is not numbers or whose class is out of range."""
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        values = line.split()
        if not values:
            continue
        try:
            cls, coords = int(float(values[0])), [float(v) for v in values[1:]]
        except ValueError as exc:
            raise ValueError(f"line {number}: not numbers") from exc
        if cls < 0 or (n_classes is not None and cls >= n_classes):
            raise ValueError(f"line {number}: class {cls} out of range")
        yield number, cls, coords


def _read_yolo_labels(path: Path, n_classes: int | None) -> list[Label]:
    labels = []
    for number, cls, coords in yolo_label_lines(path, n_classes):
        if len(coords) > 4 and len(coords) % 2 == 0:  # a segment polygon: use its bounding box
            xs, ys = coords[0::2], coords[1::2]
            coords = [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)]
        if len(coords) != 4:
            raise ValueError(f"line {number}: expected 5 values")
        cx, cy, w, h = coords
        eps = 1e-3
        if w <= 0 or h <= 0 or cx - w / 2 < -eps or cy - h / 2 < -eps or cx + w / 2 > 1 + eps or cy + h / 2 > 1 + eps:
            raise ValueError(f"line {number}: box outside 0..1")
        labels.append((cls, cx, cy, w, h))
    return labels


def parse_yolo(root: Path, files: list[Path], classes: list[str] | None,
               limits: DatasetLimits = DEFAULT_LIMITS) -> Parsed:
    found = _names_from_yaml(root, limits) or _names_from_txt(root, limits)
    n_classes = len(classes) if classes else (len(found) if found else None)
    parsed = Parsed("yolo", "detect", [], [])
    max_id = -1
    for image in (p for p in files if is_image(p)):
        label_file = next((p for p in _yolo_label_path(image) if p.is_file()), None)
        if image_size(image, limits.max_pixels) is None:
            parsed.skip(f"{image.name}: image cannot be decoded or has more than {limits.max_pixels} pixels")
            continue
        try:
            labels = _read_yolo_labels(label_file, n_classes) if label_file else []
        except ValueError as exc:
            parsed.skip(f"{label_file.name}: {exc}")  # type: ignore[union-attr]
            continue
        max_id = max([max_id, *(lb[0] for lb in labels)])
        parsed.items.append(Item(image, labels, split=split_of(image, root)))
    parsed.classes = list(classes or found or [f"class{i}" for i in range(max_id + 1)])
    return parsed


# -- classification ------------------------------------------------------------------------------------


def parse_class_folders(root: Path, files: list[Path], classes: list[str] | None,
                        limits: DatasetLimits = DEFAULT_LIMITS) -> Parsed | None:
    """Top-level folders (below optional train/val/test folders) are the classes."""
    per_item: list[tuple[Path, str, str | None]] = []
    for image in (p for p in files if is_image(p)):
        parts = image.relative_to(root).parts[:-1]
        split = None
        if parts and parts[0].lower() in SPLIT_NAMES:
            split, parts = SPLIT_NAMES[parts[0].lower()], parts[1:]
        if len(parts) != 1:
            continue
        per_item.append((image, parts[0], split))
    found = sorted({name for _i, name, _s in per_item})
    if len(found) < 2:  # one folder of images is unlabelled detection data, not a one-class classifier
        return None
    names, lookup = _class_lookup(found, classes)
    parsed = Parsed("classify", "classify", names, [])
    for image, name, split in per_item:
        if name not in lookup:
            continue
        if image_size(image, limits.max_pixels) is None:
            parsed.skip(f"{image.name}: image cannot be decoded or has more than {limits.max_pixels} pixels")
            continue
        parsed.items.append(Item(image, class_index=lookup[name], split=split))
    return parsed


# -- entry point ----------------------------------------------------------------------------------------


def _detect_and_parse(raw: Path, *, classes: list[str] | None, limits: DatasetLimits) -> Parsed:
    root = content_root(raw)
    files = _files(root)
    if not any(is_image(p) for p in files):
        raise Invalid("the archive contains no images (.jpg, .jpeg, .png, .bmp, .webp, .tif)")
    coco = _coco_files(files)
    if coco:
        return parse_coco(root, files, coco, classes, limits)
    xmls = [(p, x) for p in files if p.suffix.lower() == ".xml" and (x := _voc_root(p)) is not None]
    if xmls:
        return parse_voc(root, files, xmls, classes, limits)
    image_stems = {p.with_suffix("") for p in files if is_image(p)}
    has_labels = any(
        p.suffix.lower() == ".txt" and ("labels" in p.relative_to(root).parts or p.with_suffix("") in image_stems)
        for p in files
    )
    if not has_labels:
        folders = parse_class_folders(root, files, classes, limits)
        if folders is not None:
            return folders
    # YOLO, or images without labels yet (to be annotated): detection either way.
    return parse_yolo(root, files, classes, limits)


def safe_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(name).stem).lstrip(".-") or "image"
