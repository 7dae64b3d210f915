"""Read a dataset folder as the task it holds: detection / classification formats
(services.dataset_formats) or segmentation (services.dataset_seg), recognised or as asked."""

from __future__ import annotations

from pathlib import Path

from raysight.errors import Invalid
from raysight.services import dataset_seg as seg
from raysight.services.dataset_formats import Parsed, _coco_files, _detect_and_parse, _files, content_root, is_image
from raysight.services.dataset_limits import DEFAULT_LIMITS, DatasetLimits, check_class_count


def detect_and_parse(raw: Path, *, classes: list[str] | None = None,
                     limits: DatasetLimits = DEFAULT_LIMITS, task_type: str | None = None) -> Parsed:
    """Recognise the format under `raw` and read it. Raises Invalid when no known layout is found
    or the data crosses `limits` (YAML size and aliases, class count; larger images are skipped).

    `task_type` None recognises the task too: label PNGs -> semantic_segment, YOLO polygon labels ->
    instance_segment, COCO -> detect (COCO files often carry polygons beside the boxes: ask for
    ``instance_segment`` to read those). Naming a task reads the data as that task (Invalid if it holds
    no such labels; ``detect`` reads YOLO polygons as their boxes)."""
    parsed = _detect_and_parse_task(raw, classes=classes, limits=limits, task_type=task_type)
    check_class_count(len(parsed.classes), limits)
    return parsed


def _detect_and_parse_task(raw: Path, *, classes: list[str] | None, limits: DatasetLimits,
                           task_type: str | None) -> Parsed:
    if task_type not in (None, "detect", "classify", seg.INSTANCE, seg.SEMANTIC):
        raise Invalid(f"unknown task type '{task_type}' (detect, classify, {seg.INSTANCE}, {seg.SEMANTIC})")
    root = content_root(raw)
    files = _files(root)
    if task_type in (seg.INSTANCE, seg.SEMANTIC) or task_type is None:
        if not any(is_image(p) for p in files):
            raise Invalid("the archive contains no images (.jpg, .jpeg, .png, .bmp, .webp, .tif)")
        if task_type is None and seg.looks_semantic(root, files):
            task_type = seg.SEMANTIC
        elif task_type is None and not _coco_files(files) and seg.label_files_are_polygons(files):
            task_type = seg.INSTANCE
    if task_type in (seg.INSTANCE, seg.SEMANTIC):
        coco = _coco_files(files) if task_type == seg.INSTANCE else []
        return seg.parse_segmentation(root, files, task_type=task_type, classes=classes, limits=limits, coco=coco)
    parsed = _detect_and_parse(raw, classes=classes, limits=limits)
    if task_type is not None and parsed.task_type != task_type:
        raise Invalid(f"the dataset is a {parsed.task_type} dataset ({parsed.format}), not a {task_type} one")
    return parsed
