"""AutoSele evaluation: chosen models of chosen training tasks over a folder of images, through the
core's inference on the Serve deployments (services.inference), rendered predictions written to a
destination folder, and detection metrics where YOLO labels exist.

A run is a tracked task (kind "autosele_eval"). Labels for an image `x.jpg` are read from `x.txt`
beside it or from `../labels/x.txt` (the YOLO layout). Metrics per model at IoU 0.5, class-aware:
precision, recall, F1 and counts of true positives, false positives and false negatives.
Rendered images go to <dest_dir>/<task name>/<model file stem>/<image name>.
"""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound
from raysight.ids import timestamped_id
from raysight.imaging import decode_image
from raysight.import_roots import resolve_server_path
from raysight.services import inference, tasks
from raysight.services.autosele import train

KIND = "autosele_eval"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_IMAGES = 5000
IOU_MATCH = 0.5


def _chosen(ctx: Platform, dicts: dict[str, Any]) -> list[dict[str, str]]:
    """[{task_name, task_id, file, model_id}] for every model `dicts` names ({task name: [file]})."""
    if not dicts:
        raise Invalid("dicts must name at least one task and model")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for entry in train.generated(ctx=ctx):
        by_name.setdefault(entry["task_name"], []).append(entry)
    chosen = []
    for task_name, files in dicts.items():
        if task_name not in by_name:
            raise NotFound(f"no trained model of a task named '{task_name}' (see /model)")
        names = files if isinstance(files, list) else [files]
        if not names or not all(isinstance(f, str) for f in names):
            raise Invalid(f"dicts['{task_name}'] must be a list of model file names")
        items: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
        for e in by_name[task_name]:
            for i in e["items"]:
                items.setdefault(i["file"], []).append((e, i))
        for file in names:
            if file not in items:
                raise NotFound(f"task '{task_name}' has no model '{file}' (see /model)")
            if len(items[file]) > 1:  # tasks of one name from before names were unique
                raise Conflict(f"'{task_name}' names {len(items[file])} tasks with a model '{file}' (ambiguous: "
                               "/train_history lists the tasks)")
            entry, item = items[file][0]
            chosen.append({"task_name": task_name, "task_id": entry["task_id"], "file": file,
                           "model_id": item["model_id"]})
    return chosen


def _images(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                   and not p.is_symlink())
    if not found:
        raise Invalid("sour_dir holds no images (.jpg .jpeg .png .bmp .webp)")
    if len(found) > MAX_IMAGES:
        raise Invalid(f"sour_dir holds {len(found)} images; at most {MAX_IMAGES} are evaluated in one run")
    return found


async def start(*, ctx: Platform, dicts: dict[str, Any], sour_dir: str | None, dest_dir: str | None,
                eval_type: str | None = None, gpus: list[str] | None = None, single_gpu: int = 4) -> str:
    """Check everything a run needs, then start it; returns its task_id."""
    task_id, chosen, source, images, dest = await asyncio.to_thread(
        _record_new, ctx, dicts, sour_dir, dest_dir, eval_type, gpus or [], single_gpu)

    async def work(progress: Any) -> dict[str, Any]:
        return await _run(ctx, chosen, source, images, dest, single_gpu, progress)

    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return task_id


def _record_new(ctx: Platform, dicts: dict[str, Any], sour_dir: str | None, dest_dir: str | None,
                eval_type: str | None, gpus: list[str], single_gpu: int) -> tuple[Any, ...]:
    source = resolve_server_path(ctx.settings, sour_dir, want_dir=True, what="sour_dir")
    dest = resolve_server_path(ctx.settings, dest_dir, must_exist=False, want_dir=True, what="dest_dir")
    chosen = _chosen(ctx, dicts)
    if not 1 <= single_gpu <= 64:
        raise Invalid("single_gpu (images per request batch) must be an integer in [1, 64]")
    images = _images(source)
    task_id = timestamped_id("eva")
    params = {"type": eval_type or "", "sour_dir": str(sour_dir), "dest_dir": str(dest_dir),
              "gpus": ",".join(gpus), "single_gpu": single_gpu, "model": chosen, "images": len(images)}
    tasks.create(ctx=ctx, kind=KIND, task_id=task_id, params=params)
    return task_id, chosen, source, images, dest


def _labels(image: Path, width: int, height: int) -> list[tuple[int, list[float]]] | None:
    """YOLO labels of an image as (class id, [x1, y1, x2, y2] pixels), None when it has none."""
    for candidate in (image.with_suffix(".txt"), image.parent.parent / "labels" / f"{image.stem}.txt"):
        if candidate.is_file():
            boxes = []
            for line in candidate.read_text().splitlines():
                parts = line.split()
                if len(parts) < 5:
                    continue
                c, x, y, w, h = int(float(parts[0])), *(float(v) for v in parts[1:5])
                boxes.append((c, [(x - w / 2) * width, (y - h / 2) * height, (x + w / 2) * width,
                                  (y + h / 2) * height]))
            return boxes
    return None


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(dets: list[dict[str, Any]], truth: list[tuple[int, list[float]]]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives): greedy by confidence, same class, IoU >= 0.5."""
    used: set[int] = set()
    tp = 0
    for det in sorted(dets, key=lambda d: -d["confidence"]):
        box = [det["bbox"][k] for k in ("x1", "y1", "x2", "y2")]
        best, best_iou = None, IOU_MATCH
        for i, (cls, gt) in enumerate(truth):
            if i in used or cls != det["class_id"]:
                continue
            iou = _iou(box, gt)
            if iou >= best_iou:
                best, best_iou = i, iou
        if best is not None:
            used.add(best)
            tp += 1
    return tp, len(dets) - tp, len(truth) - tp


def _render(image: Any, dets: list[dict[str, Any]], names: dict[str, str]) -> bytes:
    pil = Image.fromarray(image)
    draw = ImageDraw.Draw(pil)
    for det in dets:
        b = det["bbox"]
        draw.rectangle([b["x1"], b["y1"], b["x2"], b["y2"]], outline=(255, 0, 0), width=2)
        label = f"{names.get(det['class_name'], det['class_name'])} {det['confidence']:.2f}"
        draw.text((b["x1"] + 2, max(0, b["y1"] - 11)), label, fill=(255, 0, 0))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


async def _run(ctx: Platform, chosen: list[dict[str, str]], source: Path, images: list[Path], dest: Path,
               per_batch: int, progress: Any) -> dict[str, Any]:
    total = len(chosen) * len(images)
    done = 0
    results: list[dict[str, Any]] = []
    pages: list[dict[str, str]] = []
    for item in chosen:
        names = await asyncio.to_thread(train.display_names, ctx=ctx, task_id=item["task_id"])
        out_dir = dest / item["task_name"] / Path(item["file"]).stem
        await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
        counts = {"tp": 0, "fp": 0, "fn": 0, "labelled": 0}
        for start in range(0, len(images), per_batch):
            batch = images[start:start + per_batch]
            arrays = [await asyncio.to_thread(decode_image, p.read_bytes(),
                                              max_decode_pixels=ctx.settings.max_image_pixels) for p in batch]
            found = await inference.predict_images(ctx=ctx, model_id=item["model_id"], images=arrays)
            for path, array, dets in zip(batch, arrays, found, strict=True):
                rel = path.relative_to(source)
                target = (out_dir / rel).with_suffix(".png")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(await asyncio.to_thread(_render, array, dets, names))
                truth = _labels(path, array.shape[1], array.shape[0])
                if truth is not None:
                    tp, fp, fn = match(dets, truth)
                    counts["tp"] += tp
                    counts["fp"] += fp
                    counts["fn"] += fn
                    counts["labelled"] += 1
                pages.append({"original": str(path), "predicted": str(target), "model": item["file"],
                              "task_name": item["task_name"], "image": str(rel)})
                done += 1
            progress(done / total)
        results.append({**item, **_metrics(counts)})
    return {"models": results, "pages": pages, "total_img": len(pages)}


def _metrics(c: dict[str, int]) -> dict[str, Any]:
    if not c["labelled"]:
        return {"metrics": None}
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"metrics": {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                        "iou": IOU_MATCH, "true_positives": c["tp"], "false_positives": c["fp"],
                        "false_negatives": c["fn"], "labelled_images": c["labelled"]}}


def _number(ctx: Platform, task_id: str) -> int:
    """The run's record number (1 for the first run): an integer `id` like every other AutoSele record's."""
    oldest_first = [t["task_id"] for t in reversed(tasks.list_tasks(ctx=ctx, kind=KIND))]
    return oldest_first.index(task_id) + 1


def rate(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    """A run's record: (task_id, id, type, sour_dir, gpus, dest_dir, single_gpu, model, status) + progress."""
    task = tasks.get(ctx=ctx, task_id=task_id, kind=KIND)
    p = task["params"]
    result = task["result"] or {}
    return {"task_id": task_id, "id": _number(ctx, task_id), "type": p["type"], "sour_dir": p["sour_dir"],
            "gpus": p["gpus"], "dest_dir": p["dest_dir"], "single_gpu": p["single_gpu"],
            "model": {m["task_name"]: [x["file"] for x in p["model"] if x["task_name"] == m["task_name"]]
                      for m in p["model"]},
            "status": task["status"], "progress": round(float(task["progress"]), 4), "error": task["error"],
            "images": p["images"], "metrics": [{"task_name": r["task_name"], "model": r["file"],
                                                 "metrics": r["metrics"]} for r in result.get("models", [])]}


def _b64(path: str) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def show(*, ctx: Platform, task_id: str, page: int) -> dict[str, Any]:
    """One page (1-based; one image through one model) of a finished run: original and prediction in
    base64, with the page count."""
    task = tasks.get(ctx=ctx, task_id=task_id, kind=KIND)
    if task["status"] != tasks.COMPLETED:
        raise Conflict(f"evaluation '{task_id}' is {task['status']}; pages are shown once it has completed")
    pages = task["result"]["pages"]
    if not 1 <= page <= len(pages):
        raise Invalid(f"cur_img must be a page in [1, {len(pages)}]")
    entry = pages[page - 1]
    try:
        original, predicted = _b64(entry["original"]), _b64(entry["predicted"])
    except OSError:
        raise NotFound(f"the images of page {page} are no longer on disk") from None
    return {"or_data": original, "la_data": predicted, "total_img": len(pages), "cur_img": page,
            "image": entry["image"], "model": entry["model"], "task_name": entry["task_name"]}
