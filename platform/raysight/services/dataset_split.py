"""Split parsed items into train/val/test and write a version folder that ultralytics loads as is.

Detection: images/{split}/, labels/{split}/ (YOLO txt) and data.yaml (absolute path, names as a dict).
Classification: {split}/<class>/ (ImageFolder layout) and a data.yaml (path, train, val, names, nc, task).
Segmentation: see raysight.services.dataset_seg (polygon labels, or masks/{split}/ label PNGs).
"""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter
from pathlib import Path

import yaml

from raysight.errors import Unprocessable
from raysight.services import dataset_seg
from raysight.services.dataset_formats import Item, Parsed, safe_stem

SPLITS = ("train", "val", "test")
DEFAULT_RATIO = {"train": 0.8, "val": 0.2}
SEG_TASKS = (dataset_seg.INSTANCE, dataset_seg.SEMANTIC)


def check_ratio(ratio: dict[str, float] | None) -> dict[str, float]:
    """Each ratio in [0, 1], keys among train/val/test, summing to 1, train > 0 (else 422)."""
    if ratio is None:
        return dict(DEFAULT_RATIO)
    unknown = set(ratio) - set(SPLITS)
    if unknown:
        raise Unprocessable(f"split_ratio keys must be among train, val, test; got {sorted(unknown)}")
    clean: dict[str, float] = {}
    for key, value in ratio.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise Unprocessable(f"split_ratio.{key} must be a number between 0 and 1, got {value!r}")
        clean[key] = float(value)
    if abs(sum(clean.values()) - 1.0) > 1e-6:
        raise Unprocessable(f"split_ratio values must sum to 1, got {sum(clean.values()):g}")
    if clean.get("train", 0) <= 0:
        raise Unprocessable("split_ratio.train must be greater than 0")
    return {k: clean.get(k, 0.0) for k in SPLITS if k in clean or k in DEFAULT_RATIO}


def _cut(items: list[Item], ratio: dict[str, float]) -> dict[str, list[Item]]:
    n = len(items)
    counts = {k: int(round(n * ratio.get(k, 0.0))) for k in ("val", "test")}
    for key in ("val", "test"):  # a split asked for gets at least one item while train keeps one
        if ratio.get(key, 0) > 0 and counts[key] == 0 and n - sum(counts.values()) > 1:
            counts[key] = 1
    while n - sum(counts.values()) < 1 and sum(counts.values()) > 0:
        biggest = max(counts, key=lambda k: counts[k])
        counts[biggest] -= 1
    val_end = counts["val"]
    test_end = val_end + counts["test"]
    return {"val": items[:val_end], "test": items[val_end:test_end], "train": items[test_end:]}


def split_items(
    parsed: Parsed, *, ratio: dict[str, float], seed: int, keep_source_splits: bool
) -> dict[str, list[Item]]:
    """Deterministic for a given seed: items are ordered by path, shuffled with random.Random(seed), cut.
    Classification is stratified by class. With `keep_source_splits`, a source that already had train
    and val folders keeps them."""
    items = sorted(parsed.items, key=lambda it: it.image.as_posix())
    if keep_source_splits and {it.split for it in items} >= {"train", "val"} and all(it.split for it in items):
        return {k: [it for it in items if it.split == k] for k in SPLITS}
    rng = random.Random(seed)
    if parsed.task_type == "classify":
        out: dict[str, list[Item]] = {k: [] for k in SPLITS}
        for cls in range(len(parsed.classes)):
            group = [it for it in items if it.class_index == cls]
            rng.shuffle(group)
            for key, part in _cut(group, ratio).items():
                out[key].extend(part)
        return out
    rng.shuffle(items)
    return _cut(items, ratio)


def _place(src: Path, dest: Path) -> None:
    """Hard link where the filesystem allows (no second copy of the images), else copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _unique_names(items: list[Item]) -> dict[int, str]:
    """A file name per item, unique across the whole version, from safe characters only."""
    used: set[str] = set()
    names: dict[int, str] = {}
    for item in items:
        stem, ext = safe_stem(item.image.name), item.image.suffix.lower()
        name, n = stem, 1
        while name.lower() in used:
            n += 1
            name = f"{stem}_{n}"
        used.add(name.lower())
        names[id(item)] = name + ext
    return names


def write_version(parsed: Parsed, splits: dict[str, list[Item]], *, staging: Path, final: Path) -> dict:
    """Write the version into `staging` (data.yaml already pointing at `final`); returns its counts."""
    names = _unique_names([it for key in SPLITS for it in splits.get(key, [])])
    class_counts: Counter[str] = Counter()
    for key in SPLITS:
        for item in splits.get(key, []):
            name = names[id(item)]
            if parsed.task_type == "classify":
                cls = parsed.classes[item.class_index]
                _place(item.image, staging / key / cls / name)
                class_counts[cls] += 1
                continue
            _place(item.image, staging / "images" / key / name)
            if parsed.task_type in SEG_TASKS:
                class_counts.update(dataset_seg.write_item(parsed, item, staging=staging, split=key, name=name))
                continue
            label = staging / "labels" / key / (Path(name).stem + ".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in item.labels))
            class_counts.update(parsed.classes[lb[0]] for lb in item.labels)
    counts = {k: len(splits.get(k, [])) for k in SPLITS}
    data = _data_yaml(parsed, counts, final)
    (staging / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    for key in SPLITS:  # ultralytics wants the folders it is pointed at to exist
        if key in data:
            (staging / data[key]).mkdir(parents=True, exist_ok=True)
    return {
        "counts": counts,
        "class_counts": {c: class_counts.get(c, 0) for c in parsed.classes},
        "data_yaml": str(final / "data.yaml"),
    }


def _data_yaml(parsed: Parsed, counts: dict[str, int], final: Path) -> dict:
    prefix = "" if parsed.task_type == "classify" else "images/"
    # Without validation images ultralytics would fail; validate on train rather than on nothing.
    val = f"{prefix}val" if counts["val"] else f"{prefix}train"
    data: dict = {"path": str(final), "train": f"{prefix}train", "val": val}
    if counts["test"]:
        data["test"] = f"{prefix}test"
    data["nc"] = len(parsed.classes)
    data["names"] = dict(enumerate(parsed.classes))
    if parsed.task_type == "classify":
        data["task"] = "classify"
    if parsed.task_type in SEG_TASKS:
        data.update(dataset_seg.data_yaml_extra(parsed))
    return data

