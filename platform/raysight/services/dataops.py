"""Data operations (the AutoSele /offimport, /linedown, /task_divide, /process_label group), each a
tracked task (services.tasks) whose record is the source of truth for its status.

- import: a labelled server folder (YOLO, COCO, VOC or class folders) becomes a dataset with a prepared
  version; its metadata (road-element palette, source, author, annotation type, kind, city) is kept as
  dataset tags (``key:value``) and in ``datasets/<id>/import_metadata.json``; `image_range` limits which
  images (1-based positions in sorted path order) are taken;
- export: annotation tasks whose ids lie in a range are written to a server folder (images, YOLO labels,
  classes.txt, annotations.json with pixel boxes);
- divide: a detection dataset version is split into labelling packages of `step` images;
- publish: the packages of the latest divide of a version become annotation tasks of the native API.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raysight import ids
from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound
from raysight.import_roots import resolve_server_path
from raysight.services import annotations, datasets, tasks
from raysight.services.dataset_formats import is_image
from raysight.services.dataset_split import SPLITS

IMPORT, EXPORT, DIVIDE, PUBLISH = "dataops_import", "dataops_export", "dataops_divide", "dataops_publish"
KINDS = (IMPORT, EXPORT, DIVIDE, PUBLISH)
METADATA = ("roadelement", "source", "author", "annotype", "datakind", "city")
DIVIDE_TYPES = ("full", "remote")
PUBLISH_TYPES = ("remote", "lane", "union")
MAX_STEP = 100_000


def get(*, ctx: Platform, task_id: str, kind: str | None = None) -> dict[str, Any]:
    """A data-operation task's record (NotFound for another kind or id)."""
    record = tasks.get(ctx=ctx, task_id=str(task_id or ""))
    if record["kind"] not in KINDS or (kind and record["kind"] != kind):
        raise NotFound(f"task '{task_id}' not found")
    return record


def _text(value: Any, what: str, limit: int = 500) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > limit:
        raise Invalid(f"{what} is longer than {limit} characters")
    return text


# -- import ----------------------------------------------------------------------------------------------------
def parse_range(value: Any) -> tuple[int, int | None]:
    """'' / 'all' -> every image; 'a-b' (or a:b, a,b) -> positions a..b (1-based, inclusive); 'n' -> 1..n."""
    text = _text(value, "imgoprange").lower()
    if text in ("", "all", "*"):
        return 1, None
    match = re.fullmatch(r"(\d+)\s*(?:[-:,~]\s*(\d+))?", text)
    if not match:
        raise Invalid(f"imgoprange '{value}' is not a range: use 'start-end' (1-based, inclusive), 'n' or 'all'")
    start, end = (1, int(match[1])) if match[2] is None else (int(match[1]), int(match[2]))
    if start < 1 or end < start:
        raise Invalid(f"imgoprange '{value}' is empty: start must be >= 1 and end >= start")
    return start, end


def _stage_import(ctx: Platform, src: Path, first: int, last: int | None) -> tuple[Path, int, int]:
    """Copy the chosen images and every other (label / metadata) file of `src` into a staging folder."""
    staged = ctx.workspace.staging("offimport")
    files = sorted(p for p in src.rglob("*") if p.is_file() and not p.is_symlink())
    images = [p for p in files if is_image(p)]
    chosen = set(images[first - 1:last])
    copied = 0
    for path in files:
        if is_image(path) and path not in chosen:
            continue
        target = staged / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied += is_image(path)
    return staged, copied, len(images)


def start_import(*, ctx: Platform, src: str | None, dest: str | None = None, image_range: Any = None,
                 metadata: dict[str, Any] | None = None) -> str:
    """Import the labelled folder `src` into a new dataset (prepared to v1); returns the task id.
    `dest`, when given, receives the import report ``offimport_<task_id>.json``."""
    folder = resolve_server_path(ctx.settings, src, want_dir=True, what="src")
    out = resolve_server_path(ctx.settings, dest, must_exist=False, want_dir=True, what="dest") if dest else None
    first, last = parse_range(image_range)
    meta = {key: _text((metadata or {}).get(key), key) for key in METADATA}
    params = {"src": str(folder), "dest": str(out) if out else "", "imgoprange": _text(image_range, "imgoprange"),
              **meta}
    task_id = tasks.create(ctx=ctx, kind=IMPORT, params=params, task_id=ids.random_id("offimport"))

    async def work(progress: Callable[[float], None]) -> dict[str, Any]:
        staged, copied, total = await asyncio.to_thread(_stage_import, ctx, folder, first, last)
        if not copied:
            ctx.workspace.remove(staged)
            raise Invalid(f"no image of '{src}' lies in imgoprange '{image_range or 'all'}' ({total} images)")
        progress(0.4)
        tags = [f"{key}:{value}" for key, value in meta.items() if value and key != "roadelement"]
        dataset_id = datasets.create_from_folder(ctx=ctx, staged=staged, name=folder.name, tags=tags,
                                                 description=f"offline import of {folder.name}")
        report = {"task_id": task_id, "dataset_id": dataset_id, "images": copied, "images_in_src": total,
                  "metadata": meta, "imgoprange": params["imgoprange"]}
        (ctx.workspace.dataset_dir(dataset_id) / "import_metadata.json").write_text(
            json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        prepared = await asyncio.to_thread(datasets.prepare, ctx=ctx, dataset_id=dataset_id)
        report.update(version=prepared["version"], classes=prepared["classes"], skipped=prepared["skipped"],
                      train_count=prepared["train_count"], val_count=prepared["val_count"],
                      test_count=prepared["test_count"])
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / f"offimport_{task_id}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False),
                                                           encoding="utf-8")
        return report

    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return task_id


# -- export ------------------------------------------------------------------------------------------------------
def tasks_in_range(*, ctx: Platform, start: Any, end: Any) -> list[str]:
    """Annotation task ids from `start` to `end` inclusive: two whole numbers are 1-based positions in
    creation order; two existing ids bound a stretch of creation order; otherwise the ids are compared
    as strings (ids sort by creation time, to the second)."""
    first, last = _text(start, "taskid_start"), _text(end, "taskid_end")
    if not first or not last:
        raise Invalid("taskid_start and taskid_end are required")
    every = annotations.list_task_ids(ctx=ctx)
    if first.isdigit() and last.isdigit():
        a, b = int(first), int(last)
        if a < 1 or b < a:
            raise Invalid("taskid_start must be >= 1 and taskid_end >= taskid_start")
        chosen = every[a - 1:b]
    elif first in every and last in every:  # two existing ids: everything created from one to the other
        a, b = every.index(first), every.index(last)
        if b < a:
            raise Invalid("taskid_end was created before taskid_start")
        chosen = every[a:b + 1]
    else:
        if last < first:
            raise Invalid("taskid_end sorts before taskid_start")
        chosen = [t for t in every if first <= t <= last]
    if not chosen:
        raise NotFound(f"no annotation task between '{first}' and '{last}'")
    return chosen


def _export_one(ctx: Platform, task_id: str, out: Path) -> int:
    snap = annotations.snapshot(ctx=ctx, task_id=task_id)
    folder = out / task_id
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for item in snap["items"]:
        image = ctx.workspace.root / item["image_path"]
        name = f"{item['image_id']}{image.suffix}"
        shutil.copy2(image, folder / "images" / name)
        if item["has_annotation"]:
            (folder / "labels" / f"{item['image_id']}.txt").write_text(
                annotations.yolo_text(item["boxes"], item["width"], item["height"]), encoding="utf-8")
    (folder / "classes.txt").write_text("".join(f"{c}\n" for c in snap["classes"]), encoding="utf-8")
    (folder / "annotations.json").write_text(json.dumps(snap, indent=1, ensure_ascii=False), encoding="utf-8")
    return len(snap["items"])


def start_export(*, ctx: Platform, start: Any, end: Any, dest: str | None) -> str:
    """Export the annotation tasks in [start, end] into `dest/<task_id>/`; returns the task id."""
    out = resolve_server_path(ctx.settings, dest, must_exist=False, want_dir=True, what="dest")
    chosen = tasks_in_range(ctx=ctx, start=start, end=end)
    params = {"taskid_start": _text(start, "taskid_start"), "taskid_end": _text(end, "taskid_end"), "dest": str(out)}
    task_id = tasks.create(ctx=ctx, kind=EXPORT, params=params, task_id=ids.random_id("linedown"))

    async def work(progress: Callable[[float], None]) -> dict[str, Any]:
        counts = {}
        for i, annotation_task in enumerate(chosen):
            counts[annotation_task] = await asyncio.to_thread(_export_one, ctx, annotation_task, out)
            progress((i + 1) / len(chosen))
        return {"dest": str(out), "tasks": chosen, "images": counts}

    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return task_id


# -- divide and publish ---------------------------------------------------------------------------------------
def parse_version(*, ctx: Platform, version: Any) -> datasets.VersionInfo:
    """'<dataset_id>/<vN>' (or '<dataset_id>:vN'), or '<dataset_id>' for its latest version."""
    text = _text(version, "version").replace(":", "/")
    if not text:
        raise Invalid("version is required: '<dataset_id>/<vN>' or '<dataset_id>'")
    dataset_id, _, name = text.partition("/")
    if not name:
        versions = datasets.get_dataset(ctx=ctx, dataset_id=dataset_id)["versions"]
        if not versions:
            raise Conflict(f"dataset '{dataset_id}' has no prepared version")
        name = max(versions, key=lambda v: int(v[1:]))
    info = datasets.get_version(ctx=ctx, dataset_id=dataset_id, version=name)
    if info.task_type != "detect":
        raise Invalid(f"labelling packages need a detection dataset; '{text}' is {info.task_type}")
    return info


def _version_images(ctx: Platform, info: datasets.VersionInfo, unlabelled_only: bool) -> list[str]:
    root, out = Path(info.root), []
    for split in SPLITS:
        folder = root / "images" / split
        if not folder.is_dir():
            continue
        for image in sorted(p for p in folder.iterdir() if p.is_file() and is_image(p)):
            label = root / "labels" / split / f"{image.stem}.txt"
            if unlabelled_only and label.is_file() and label.read_text(encoding="utf-8", errors="replace").strip():
                continue
            out.append(ctx.workspace.relative(image))
    return out


def start_divide(*, ctx: Platform, version: Any, step: Any, types: Any = "full") -> str:
    """Split a detection version into packages of `step` images ('full': every image, 'remote': only
    the images without labels yet); returns the task id."""
    info = parse_version(ctx=ctx, version=version)
    try:
        size = int(str(step).strip())
    except (TypeError, ValueError):
        raise Invalid("step must be a whole number of images per package") from None
    if not 1 <= size <= MAX_STEP:
        raise Invalid(f"step must be between 1 and {MAX_STEP}")
    kind = _text(types, "types").lower() or "full"
    if kind not in DIVIDE_TYPES:
        raise Invalid(f"types must be one of {', '.join(DIVIDE_TYPES)}")
    params = {"version": _text(version, "version"), "dataset_id": info.dataset_id, "dataset_version": info.version,
              "step": size, "types": kind}
    task_id = tasks.create(ctx=ctx, kind=DIVIDE, params=params, task_id=ids.random_id("divide"))

    async def work(progress: Callable[[float], None]) -> dict[str, Any]:
        images = await asyncio.to_thread(_version_images, ctx, info, kind == "remote")
        packages = [{"package": n + 1, "images": images[i:i + size]} for n, i in enumerate(range(0, len(images), size))]
        return {"dataset_id": info.dataset_id, "version": info.version, "images": len(images), "packages": packages}

    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return task_id


def _latest_divide(ctx: Platform, info: datasets.VersionInfo) -> dict[str, Any]:
    for record in tasks.list_tasks(ctx=ctx, kind=DIVIDE, statuses=(tasks.COMPLETED,)):
        params = record["params"]
        if params.get("dataset_id") == info.dataset_id and params.get("dataset_version") == info.version:
            return record
    raise Conflict(f"{info.dataset_id}/{info.version} has no labelling packages yet: divide it first (/task_divide)")


def start_publish(*, ctx: Platform, version: Any, types: Any = "remote") -> str:
    """Publish every package of the latest completed divide of `version` as an annotation task of the
    native API (one task per package); returns the task id. A divide is published once."""
    info = parse_version(ctx=ctx, version=version)
    kind = _text(types, "types").lower() or "remote"
    if kind not in PUBLISH_TYPES:
        raise Invalid(f"types must be one of {', '.join(PUBLISH_TYPES)}")
    divide = _latest_divide(ctx, info)
    for record in tasks.list_tasks(ctx=ctx, kind=PUBLISH):
        if record["params"].get("divide_task_id") == divide["task_id"] and record["status"] != tasks.FAILED:
            raise Conflict(f"the packages of divide '{divide['task_id']}' are already published "
                           f"(task '{record['task_id']}')")
    # `name` (a field /label_history documents without saying what it holds): the published set, <version>_<types>
    params = {"version": _text(version, "version"), "dataset_id": info.dataset_id, "dataset_version": info.version,
              "types": kind, "divide_task_id": divide["task_id"], "name": f"{_text(version, 'version')}_{kind}"}
    task_id = tasks.create(ctx=ctx, kind=PUBLISH, params=params, task_id=ids.random_id("publish"))
    packages = divide["result"]["packages"]

    async def work(progress: Callable[[float], None]) -> dict[str, Any]:
        published = []
        for i, package in enumerate(packages):
            created = await asyncio.to_thread(
                annotations.create_task, ctx=ctx, dataset_id=info.dataset_id, version=info.version,
                image_paths=set(package["images"]))
            published.append({"package": package["package"], "annotation_task_id": created["task_id"],
                              "images": created["total_items"]})
            progress((i + 1) / max(1, len(packages)))
        return {"dataset_id": info.dataset_id, "version": info.version, "types": kind, "packages": published}

    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return task_id
