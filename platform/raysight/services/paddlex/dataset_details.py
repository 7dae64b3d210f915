"""The file-by-file description of a split dataset (GET /dataset/details), relative to the dataset's path.

It re-reads the imported copy with the same parser and the same seeded split the core's prepare used, so
the lists name the client's own files (the version folder holds renamed copies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raysight.context import Platform
from raysight.services.dataset_formats import Item, Parsed, content_root, is_image
from raysight.services.dataset_limits import DatasetLimits
from raysight.services.dataset_reader import detect_and_parse
from raysight.services.dataset_split import SPLITS, split_items

LABEL_EXTS = (".xml", ".txt", ".png", ".json")


def _label_index(root: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.suffix.lower() in LABEL_EXTS and not is_image(path):
            found.setdefault(path.stem, []).append(path)
    return found


def _label_file(item: Item, parsed: Parsed, index: dict[str, list[Path]], raw: Path) -> str:
    """The item's label: its class name (classification), else the annotation file naming it."""
    if parsed.task_type == "classify":
        return parsed.classes[item.class_index]
    if item.mask is not None:  # semantic segmentation: the label PNG
        return item.mask.relative_to(raw).as_posix()
    candidates = index.get(item.image.stem, [])
    if parsed.format == "coco":
        candidates = [p for ps in index.values() for p in ps if p.suffix.lower() == ".json"]
    best = next((p for p in candidates if p.suffix.lower() != ".json"), None) or (candidates[0] if candidates
                                                                                   else None)
    return best.relative_to(raw).as_posix() if best else ""


def _classes_of(item: Item, parsed: Parsed) -> list[str]:
    if parsed.task_type == "classify":
        return [parsed.classes[item.class_index]]
    ids = {lb[0] for lb in item.labels} | {cls for cls, _pts in item.polygons} | set(item.mask_classes)
    return sorted({parsed.classes[i] for i in ids if 0 <= i < len(parsed.classes)})


def build_details(ctx: Platform, core_id: str, ratio: dict[str, float], task_type: str | None = None
                  ) -> dict[str, Any]:
    """file_info, label_info, labels, train/val/test files and the per-class lists of each split."""
    raw = ctx.workspace.dataset_raw(core_id)
    parsed = detect_and_parse(raw, limits=DatasetLimits.of(ctx.settings), task_type=task_type)
    splits = split_items(parsed, ratio=ratio, seed=ctx.settings.seed, keep_source_splits=False)
    index = _label_index(content_root(raw))

    def rel(item: Item) -> str:
        return item.image.relative_to(raw).as_posix()

    file_info = {rel(it): _label_file(it, parsed, index, raw) for it in parsed.items}
    label_info: dict[str, list[str]] = {c: [] for c in parsed.classes}
    for item in parsed.items:
        for cls in _classes_of(item, parsed):
            label_info[cls].append(rel(item))
    out: dict[str, Any] = {"file_info": file_info, "label_info": label_info, "labels": list(parsed.classes)}
    for key in SPLITS:
        items = sorted(splits.get(key, []), key=rel)
        out[f"{key}_files"] = [rel(it) for it in items]
        per_class: dict[str, list[str]] = {c: [] for c in parsed.classes}
        for item in items:
            for cls in _classes_of(item, parsed):
                per_class[cls].append(rel(item))
        out[f"class_{key}_file_list"] = per_class
    return out
