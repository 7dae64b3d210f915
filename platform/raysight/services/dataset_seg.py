"""Segmentation datasets: recognise and read them into `Parsed`, and write their version folders.

Instance segmentation (task ``instance_segment``) ends up as YOLO-seg polygons, whatever the source:

- YOLO-seg: ``images/`` + ``labels/`` txt lines ``class x1 y1 x2 y2 ...`` (normalised polygon points);
- COCO with polygon ``segmentation`` lists (one polygon per annotation is kept: its largest part;
  ``iscrowd`` RLE annotations are left out, as ultralytics does).

Semantic segmentation (task ``semantic_segment``), as PaddleX documents it: images plus single-channel
label PNGs of the same stem whose pixel values are class ids (255 = ignore), ``labels.txt`` (one class
name per line, line i = pixel value i) and optional ``train_list.txt`` / ``val_list.txt`` /
``test_list.txt`` whose lines are ``image_path label_path`` relative to the dataset root.

Version layouts: instance = the detection layout with polygon lines (ultralytics' segment task reads it
as is); semantic = ``images/<split>/x.jpg`` + ``masks/<split>/x.png`` (uint8 class ids) + data.yaml
(``task: semantic_segment``, ``masks: masks``, ``ignore_index: 255``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from raysight.errors import Invalid
from raysight.services.dataset_formats import (
    SPLIT_NAMES,
    Item,
    Parsed,
    _class_lookup,
    _index_images,
    _names_from_txt,
    _names_from_yaml,
    _yolo_label_path,
    image_size,
    is_image,
    split_of,
    yolo_label_lines,
)
from raysight.services.dataset_limits import DEFAULT_LIMITS, DatasetLimits, check_class_count, read_small_text

INSTANCE = "instance_segment"
SEMANTIC = "semantic_segment"
IGNORE = 255
MASK_DIRS = {"annotations", "masks", "mask", "labels", "label", "segmentationclass", "segmentationclasspng",
             "segmentationclassraw", "gt", "gts", "ground_truth"}
LIST_FILES = {"train_list.txt": "train", "val_list.txt": "val", "test_list.txt": "test"}

Polygon = tuple[int, list[float]]  # class index, [x1, y1, x2, y2, ...] normalised 0..1


# -- instance segmentation -----------------------------------------------------------------------------


def read_polygons(path: Path, n_classes: int | None) -> list[Polygon]:
    """YOLO-seg label lines; ValueError naming the line for anything malformed."""
    out: list[Polygon] = []
    for number, cls, coords in yolo_label_lines(path, n_classes):
        if len(coords) < 6 or len(coords) % 2:
            raise ValueError(f"line {number}: a polygon needs at least 3 x y points")
        if min(coords) < -1e-3 or max(coords) > 1 + 1e-3:
            raise ValueError(f"line {number}: polygon outside 0..1")
        out.append((cls, [min(1.0, max(0.0, v)) for v in coords]))
    return out


def label_files_are_polygons(files: list[Path]) -> bool:
    """True when the label txt files beside the images hold polygons (every labelled line > 5 values)."""
    seen = False
    for path in files:
        if path.suffix.lower() != ".txt" or path.name in LIST_FILES or path.name == "labels.txt":
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:50]:
            values = line.split()
            if not values:
                continue
            if len(values) <= 5:
                return False
            seen = True
    return seen


def parse_yolo_seg(root: Path, files: list[Path], classes: list[str] | None,
                   limits: DatasetLimits = DEFAULT_LIMITS) -> Parsed:
    found = _names_from_yaml(root, limits) or _names_from_txt(root, limits)
    n_classes = len(classes) if classes else (len(found) if found else None)
    parsed = Parsed("yolo-seg", INSTANCE, [], [])
    max_id = -1
    for image in (p for p in files if is_image(p) and not _in_mask_dir(p, root)):
        label_file = next((p for p in _yolo_label_path(image) if p.is_file()), None)
        if image_size(image, limits.max_pixels) is None:
            parsed.skip(f"{image.name}: image cannot be decoded or has more than {limits.max_pixels} pixels")
            continue
        try:
            polygons = read_polygons(label_file, n_classes) if label_file else []
        except ValueError as exc:
            parsed.skip(f"{label_file.name}: {exc}")  # type: ignore[union-attr]
            continue
        max_id = max([max_id, *(cls for cls, _pts in polygons)])
        parsed.items.append(Item(image, split=split_of(image, root), polygons=polygons))
    parsed.classes = list(classes or found or [f"class{i}" for i in range(max_id + 1)])
    return parsed


def _largest_polygon(segmentation: object, width: int, height: int) -> list[float] | None:
    if not isinstance(segmentation, list):
        return None  # RLE (crowd regions)
    best: list[float] | None = None
    for part in segmentation:
        if not isinstance(part, list) or len(part) < 6 or len(part) % 2:
            continue
        try:
            pts = [float(v) for v in part]
        except (TypeError, ValueError):
            continue
        xs, ys = np.array(pts[0::2]), np.array(pts[1::2])
        area = 0.5 * abs(float(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))
        if area > 0 and (best is None or area > best[0]):
            best = [area, *pts]
    if best is None:
        return None
    pts = best[1:]
    return [min(1.0, max(0.0, v / (width if i % 2 == 0 else height))) for i, v in enumerate(pts)]


def coco_has_polygons(sources: list[tuple[Path, dict]]) -> bool:
    return any(isinstance(ann.get("segmentation"), list) and ann["segmentation"]
               for _p, data in sources for ann in data.get("annotations") or [] if isinstance(ann, dict))


def parse_coco_polygons(root: Path, files: list[Path], sources: list[tuple[Path, dict]], classes: list[str] | None,
                        limits: DatasetLimits = DEFAULT_LIMITS) -> Parsed:
    """COCO instance annotations -> YOLO-seg polygons (the largest polygon of each annotation)."""
    found: list[str] = []
    check_class_count(sum(len(data["categories"]) for _p, data in sources), limits)
    for _path, data in sources:
        for cat in sorted(data["categories"], key=lambda c: c.get("id", 0)):
            if str(cat.get("name")) not in found:
                found.append(str(cat.get("name")))
    names, lookup = _class_lookup(found, classes)
    parsed = Parsed("coco", INSTANCE, names, [])
    by_name = _index_images(root, files)
    for path, data in sources:
        cat_name = {c.get("id"): str(c.get("name")) for c in data["categories"]}
        anns: dict[object, list[dict]] = {}
        for ann in data["annotations"]:
            if isinstance(ann, dict):
                anns.setdefault(ann.get("image_id"), []).append(ann)
        split = split_of(path, root) or SPLIT_NAMES.get(path.stem.split("_")[-1].lower())
        for img in data["images"]:
            file_name = str(img.get("file_name", ""))
            candidates = [p for p in by_name.get(Path(file_name).name, []) if p.as_posix().endswith(file_name)]
            candidates = candidates or by_name.get(Path(file_name).name, [])
            if not candidates:
                parsed.skip(f"{file_name}: image file missing")
                continue
            size = image_size(candidates[0], limits.max_pixels)
            if size is None:
                parsed.skip(f"{file_name}: image cannot be decoded")
                continue
            polygons: list[Polygon] = []
            for ann in anns.get(img.get("id"), []):
                name = cat_name.get(ann.get("category_id"))
                if name not in lookup or ann.get("iscrowd"):
                    continue
                pts = _largest_polygon(ann.get("segmentation"), *size)
                if pts is not None:
                    polygons.append((lookup[name], pts))
            parsed.items.append(Item(candidates[0], split=split or split_of(candidates[0], root), polygons=polygons))
    return parsed


# -- semantic segmentation -------------------------------------------------------------------------------


def _in_mask_dir(path: Path, root: Path) -> bool:
    return any(part.lower() in MASK_DIRS for part in path.relative_to(root).parts[:-1])


def read_mask(path: Path, max_pixels: int = DEFAULT_LIMITS.max_pixels) -> np.ndarray | None:
    """A label PNG as a uint8 HxW array of class ids (palette PNGs give their indices), else None."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > max_pixels:
                return None
            if im.mode not in ("L", "P", "I", "I;16", "1"):
                return None  # colour masks are not class-id PNGs
            arr = np.asarray(im)
    except Exception:
        return None
    if arr.ndim != 2 or arr.size == 0 or int(arr.max()) > 255 or int(arr.min()) < 0:
        return None
    return arr.astype(np.uint8)


def _pairs_from_lists(root: Path) -> list[tuple[Path, Path, str]] | None:
    pairs: list[tuple[Path, Path, str]] = []
    any_list = False
    for name, split in LIST_FILES.items():
        path = root / name
        if not path.is_file():
            continue
        any_list = True
        for line in read_small_text(path, DEFAULT_LIMITS).splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            image, mask = (root / parts[0]).resolve(), (root / parts[1]).resolve()
            if image.is_relative_to(root.resolve()) and mask.is_relative_to(root.resolve()):
                pairs.append((image, mask, split))
    return pairs if any_list else None


def _pairs_by_stem(root: Path, files: list[Path]) -> list[tuple[Path, Path, str | None]]:
    masks: dict[str, Path] = {}
    for path in files:
        if path.suffix.lower() == ".png" and _in_mask_dir(path, root):
            masks.setdefault(path.stem, path)
    return [(p, masks[p.stem], split_of(p, root)) for p in files
            if is_image(p) and not _in_mask_dir(p, root) and p.stem in masks]


def semantic_pairs(root: Path, files: list[Path]) -> list[tuple[Path, Path, str | None]]:
    """(image, label PNG, split) pairs: from the list files if there are any, else by stem."""
    listed = _pairs_from_lists(root)
    return list(listed) if listed is not None else _pairs_by_stem(root, files)


def looks_semantic(root: Path, files: list[Path]) -> bool:
    """Label PNGs in a mask folder paired with most images, and no other annotation files."""
    if any(p.suffix.lower() in (".xml", ".json") for p in files):
        return False
    pairs = semantic_pairs(root, files)
    images = [p for p in files if is_image(p) and not _in_mask_dir(p, root)]
    return bool(pairs) and len(pairs) * 2 >= len(images) and read_mask(pairs[0][1]) is not None


def _labels_txt(root: Path, limits: DatasetLimits) -> list[str] | None:
    path = root / "labels.txt"
    if not path.is_file():
        found = sorted(root.rglob("labels.txt"))
        path = found[0] if found else path
    if not path.is_file():
        return None
    names = [line.strip() for line in read_small_text(path, limits).splitlines() if line.strip()]
    return names or None


def parse_semantic(root: Path, files: list[Path], classes: list[str] | None,
                   limits: DatasetLimits = DEFAULT_LIMITS) -> Parsed:
    found = _labels_txt(root, limits) or _names_from_txt(root, limits)
    names = list(classes or found or [])
    parsed = Parsed("paddlex-seg", SEMANTIC, names, [])
    max_id = -1
    for image, mask_path, split in semantic_pairs(root, files):
        size = image_size(image, limits.max_pixels) if image.is_file() else None
        if size is None:
            parsed.skip(f"{image.name}: image missing or cannot be decoded")
            continue
        mask = read_mask(mask_path, limits.max_pixels) if mask_path.is_file() else None
        if mask is None:
            parsed.skip(f"{mask_path.name}: not a single-channel label PNG of class ids")
            continue
        if mask.shape != (size[1], size[0]):
            parsed.skip(f"{mask_path.name}: {mask.shape[1]}x{mask.shape[0]} label for a {size[0]}x{size[1]} image")
            continue
        ids = [int(v) for v in np.unique(mask) if v != IGNORE]
        if names and ids and max(ids) >= len(names):
            parsed.skip(f"{mask_path.name}: class id {max(ids)} out of range ({len(names)} classes)")
            continue
        max_id = max([max_id, *ids])
        parsed.items.append(Item(image, split=split, mask=mask_path, mask_classes=ids))
    if not names:
        parsed.classes = [f"class{i}" for i in range(max_id + 1)]
    return parsed


# -- entry point -----------------------------------------------------------------------------------------


def parse_segmentation(root: Path, files: list[Path], *, task_type: str, classes: list[str] | None,
                       limits: DatasetLimits, coco: list[tuple[Path, dict]]) -> Parsed:
    """Read `root` as a `task_type` dataset; Invalid when it holds no such annotations."""
    if task_type == SEMANTIC:
        if not semantic_pairs(root, files):
            raise Invalid("no semantic segmentation labels found: expected label PNGs (pixel value = class id) "
                          "with the images' stems in an Annotations/ (or masks/) folder, or train_list.txt")
        return parse_semantic(root, files, classes, limits)
    if coco:
        if not coco_has_polygons(coco):
            raise Invalid("the COCO annotations hold no polygon segmentations")
        return parse_coco_polygons(root, files, coco, classes, limits)
    if not label_files_are_polygons(files):
        raise Invalid("no instance segmentation labels found: expected COCO polygon annotations or YOLO-seg "
                      "label lines 'class x1 y1 x2 y2 x3 y3 ...'")
    return parse_yolo_seg(root, files, classes, limits)


# -- writing a version -------------------------------------------------------------------------------------


def polygon_line(cls: int, pts: list[float]) -> str:
    return f"{cls} " + " ".join(f"{v:.6f}" for v in pts) + "\n"


def write_item(parsed: Parsed, item: Item, *, staging: Path, split: str, name: str) -> list[str]:
    """Write one item's label file(s) (the image is placed by the caller); the class names it holds."""
    stem = Path(name).stem
    if parsed.task_type == INSTANCE:
        label = staging / "labels" / split / f"{stem}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(polygon_line(c, pts) for c, pts in item.polygons))
        return [parsed.classes[c] for c, _pts in item.polygons]
    mask = read_mask(item.mask) if item.mask is not None else None
    if mask is None:
        raise Invalid(f"{item.image.name}: its label PNG can no longer be read")
    out = staging / "masks" / split / f"{stem}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask, "L").save(out)
    return [parsed.classes[c] for c in item.mask_classes if c < len(parsed.classes)]


def data_yaml_extra(parsed: Parsed) -> dict:
    if parsed.task_type == SEMANTIC:
        return {"task": SEMANTIC, "masks": "masks", "ignore_index": IGNORE}
    return {"task": "segment"}
