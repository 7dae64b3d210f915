"""Annotation tasks over a prepared detection version: list images, save/get pixel boxes, export YOLO labels.

An item's image_id is the image's file stem in the version (prepare makes stems unique and safe, so
ids have no "/"); its image_path is relative to the workspace ("datasets/<id>/vN/images/train/a.jpg")
and served by GET /{image_path}. Existing YOLO labels of the version are the initial boxes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from PIL import Image
from sqlalchemy import select

from raysight.context import Platform
from raysight.errors import Invalid, NotFound
from raysight.ids import timestamped_id
from raysight.services.dataset_formats import is_image
from raysight.services.dataset_split import SPLITS
from raysight.services.datasets import get_version
from raysight.store.models import AnnotationItem, AnnotationTask, DatasetVersion
from raysight.store.models.base import iso, utcnow
from raysight.workspace import check_id

EXPORT_FORMATS = ("yolo",)


def _read_boxes(label: Path, width: int, height: int, n_classes: int) -> list[dict[str, Any]]:
    """YOLO lines -> pixel boxes (lines that do not parse or name an unknown class are left out)."""
    boxes = []
    if not label.is_file():
        return boxes
    for line in label.read_text(encoding="utf-8", errors="replace").splitlines():
        values = line.split()
        try:
            cls, cx, cy, w, h = int(float(values[0])), *(float(v) for v in values[1:5])
        except (ValueError, IndexError):
            continue
        if not 0 <= cls < n_classes:
            continue
        boxes.append({
            "class_id": cls,
            "x1": round(max(0.0, (cx - w / 2) * width), 2),
            "y1": round(max(0.0, (cy - h / 2) * height), 2),
            "x2": round(min(float(width), (cx + w / 2) * width), 2),
            "y2": round(min(float(height), (cy + h / 2) * height), 2),
        })
    return boxes


def _task_dict(task: AnnotationTask) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "dataset_id": task.dataset_id,
        "version": task.version,
        "classes": list(task.classes),
        "total_items": len(task.items),
        "annotated_count": sum(1 for it in task.items if it.has_annotation),
        "created_at": iso(task.created_at),
    }


def create_task(
    *, ctx: Platform, dataset_id: str, version: str = "v1", classes: list[str] | None = None,
    image_paths: set[str] | None = None,
) -> dict[str, Any]:
    """A task over every image of a prepared detection version (or only those whose workspace-relative
    path is in `image_paths`: a labelling package), its existing labels loaded as boxes."""
    info = get_version(ctx=ctx, dataset_id=dataset_id, version=version)
    if info.task_type != "detect":
        raise Invalid(f"annotation tasks need a detection dataset; {dataset_id} {version} is {info.task_type}")
    names = [str(c).strip() for c in classes] if classes is not None else list(info.classes)
    if classes is not None and (not names or any(not n for n in names) or len(set(names)) != len(names)):
        raise Invalid("classes must be a non-empty list of distinct, non-empty names")
    if not names:  # unlabelled images prepared without classes: no box could ever be saved
        raise Invalid(f"{dataset_id} {version} has no classes (its images carry no labels): give the task its "
                      "classes, or prepare the dataset with classes")
    root = Path(info.root)
    now = utcnow()
    task = AnnotationTask(id=timestamped_id("task"), dataset_id=dataset_id, version=version, classes=names)
    seen: set[str] = set()
    for split in SPLITS:
        folder = root / "images" / split
        if not folder.is_dir():
            continue
        for image in sorted(p for p in folder.iterdir() if p.is_file() and is_image(p)):
            if image_paths is not None and ctx.workspace.relative(image) not in image_paths:
                continue
            image_id = image.stem if image.stem not in seen else f"{split}_{image.stem}"
            seen.add(image_id)
            try:
                with Image.open(image) as im:
                    width, height = im.size
            except Exception:
                continue
            boxes = _read_boxes(root / "labels" / split / f"{image.stem}.txt", width, height, len(names))
            task.items.append(AnnotationItem(
                image_id=image_id, position=len(task.items), image_path=ctx.workspace.relative(image),
                width=width, height=height, boxes=boxes, has_annotation=bool(boxes),
                updated_at=now if boxes else None,
            ))
    with ctx.db.session() as s:
        s.add(task)
        s.flush()
        return _task_dict(task)


def _task(s: Any, task_id: str) -> AnnotationTask:
    task = s.get(AnnotationTask, check_id(task_id, "task"))
    if task is None:
        raise NotFound(f"annotation task '{task_id}' not found")
    return task


def _item(s: Any, task_id: str, image_id: str) -> AnnotationItem:
    _task(s, task_id)
    item = s.scalar(
        select(AnnotationItem).where(AnnotationItem.task_id == task_id, AnnotationItem.image_id == image_id)
    )
    if item is None:
        raise NotFound(f"image '{image_id}' not found in task '{task_id}'")
    return item


def get_task(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    with ctx.db.session() as s:
        return _task_dict(_task(s, task_id))


def list_items(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    with ctx.db.session() as s:
        task = _task(s, task_id)
        items = [
            {"image_id": it.image_id, "image_path": it.image_path, "width": it.width, "height": it.height,
             "has_annotation": it.has_annotation}
            for it in task.items
        ]
        return {"task_id": task.id, "items": items}


def _clean_boxes(boxes: list[dict[str, Any]], *, n_classes: int, width: int, height: int) -> list[dict[str, Any]]:
    """Validate every box before anything is stored; the message names the first bad one."""
    out = []
    for i, box in enumerate(boxes):
        where = f"boxes[{i}]"
        try:
            cls = box["class_id"]
            x1, y1, x2, y2 = (float(box[k]) for k in ("x1", "y1", "x2", "y2"))
        except (KeyError, TypeError, ValueError) as exc:
            raise Invalid(f"{where}: needs class_id, x1, y1, x2, y2 as numbers") from exc
        if isinstance(cls, bool) or not isinstance(cls, int) or not 0 <= cls < n_classes:
            raise Invalid(f"{where}: class_id {cls!r} is out of range 0..{n_classes - 1}")
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            raise Invalid(f"{where}: coordinates must be finite numbers")
        if x1 >= x2 or y1 >= y2:
            raise Invalid(f"{where}: needs x1 < x2 and y1 < y2 (got {x1}, {y1}, {x2}, {y2})")
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            raise Invalid(f"{where}: ({x1}, {y1}, {x2}, {y2}) lies outside the image ({width}x{height})")
        out.append({"class_id": cls, "x1": x1, "y1": y1, "x2": x2, "y2": y2})
    return out


def save_item(*, ctx: Platform, task_id: str, image_id: str, boxes: list[dict[str, Any]]) -> dict[str, Any]:
    """Replace the boxes of one image (an empty list marks it annotated with no objects)."""
    with ctx.db.session() as s:
        item = _item(s, task_id, image_id)
        clean = _clean_boxes(boxes, n_classes=len(item.task.classes), width=item.width, height=item.height)
        item.boxes = clean
        item.has_annotation = True
        item.updated_at = utcnow()
    return {"ok": True, "message": "Annotation saved successfully"}


def get_item(*, ctx: Platform, task_id: str, image_id: str) -> dict[str, Any]:
    with ctx.db.session() as s:
        item = _item(s, task_id, image_id)
        # never saved: the item is as the task made it (the spec's updated_at is a string, never null)
        updated = item.updated_at or item.task.created_at
        return {"image_id": item.image_id, "boxes": list(item.boxes), "updated_at": iso(updated)}


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _yolo_text(boxes: list[dict[str, Any]], width: int, height: int) -> str:
    lines = []
    for b in boxes:
        cx, cy = (b["x1"] + b["x2"]) / 2 / width, (b["y1"] + b["y2"]) / 2 / height
        w, h = (b["x2"] - b["x1"]) / width, (b["y2"] - b["y1"]) / height
        lines.append(f"{b['class_id']} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


def _label_path(ctx: Platform, image_path: str) -> Path:
    """datasets/<id>/vN/images/<split>/<name> -> the absolute labels/<split>/<stem>.txt beside it."""
    parts = PurePosixPath(image_path).parts
    if len(parts) != 6 or parts[0] != "datasets" or parts[3] != "images" or parts[4] not in SPLITS:
        raise Invalid(f"unexpected image path {image_path!r}")
    return ctx.workspace.version_dir(parts[1], parts[2]) / "labels" / parts[4] / (PurePosixPath(parts[5]).stem + ".txt")


def export(*, ctx: Platform, task_id: str, format: str = "yolo") -> dict[str, Any]:  # noqa: A002
    """Write YOLO labels of every annotated image into the version's labels/ (each file replaced
    atomically). When the task's classes differ from the version's, data.yaml and the version follow."""
    if format not in EXPORT_FORMATS:
        raise Invalid(f"unsupported export format {format!r}; supported: {', '.join(EXPORT_FORMATS)}")
    with ctx.db.session() as s:
        task = _task(s, task_id)
        dataset_id, version, classes = task.dataset_id, task.version, list(task.classes)
        items = [(it.image_path, it.width, it.height, list(it.boxes)) for it in task.items if it.has_annotation]
    info = get_version(ctx=ctx, dataset_id=dataset_id, version=version)
    for image_path, width, height, boxes in items:
        _write_atomic(_label_path(ctx, image_path), _yolo_text(boxes, width, height))
    _sync_version(ctx, dataset_id=dataset_id, version=version, classes=classes, root=Path(info.root),
                  rewrite_yaml=classes != info.classes)
    return {
        "ok": True,
        "message": "Annotations exported successfully",
        "labels_dir": str(Path(info.root) / "labels"),
        "exported_count": len(items),
    }


def _sync_version(
    ctx: Platform, *, dataset_id: str, version: str, classes: list[str], root: Path, rewrite_yaml: bool
) -> None:
    """Keep the version's classes, per-class counts and data.yaml in step with the exported labels."""
    if rewrite_yaml:
        data_yaml = root / "data.yaml"
        data = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
        data["nc"] = len(classes)
        data["names"] = dict(enumerate(classes))
        _write_atomic(data_yaml, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    counts = dict.fromkeys(classes, 0)
    for label in (root / "labels").glob("*/*.txt"):
        for line in label.read_text(encoding="utf-8", errors="replace").splitlines():
            values = line.split()
            if values and values[0].isdigit() and int(values[0]) < len(classes):
                counts[classes[int(values[0])]] += 1
    with ctx.db.session() as s:
        row = s.scalar(select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.number == int(version[1:])))
        if row is not None:
            row.classes = classes
            row.class_counts = counts


def list_task_ids(*, ctx: Platform) -> list[str]:
    """Every annotation task's id, oldest first (ids sort by creation time)."""
    with ctx.db.session() as s:
        return list(s.scalars(select(AnnotationTask.id).order_by(AnnotationTask.created_at, AnnotationTask.id)))


def snapshot(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    """A task with every item's boxes (for exports): {task..., items: [{image_id, image_path, width,
    height, has_annotation, boxes}]}."""
    with ctx.db.session() as s:
        task = _task(s, task_id)
        items = [{"image_id": it.image_id, "image_path": it.image_path, "width": it.width, "height": it.height,
                  "has_annotation": it.has_annotation, "boxes": list(it.boxes)} for it in task.items]
        return {**_task_dict(task), "items": items}


def yolo_text(boxes: list[dict[str, Any]], width: int, height: int) -> str:
    """YOLO label lines of pixel boxes."""
    return _yolo_text(boxes, width, height)
