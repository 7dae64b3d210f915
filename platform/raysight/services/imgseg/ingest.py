"""Screenshot ingest: an image in, low-code components out (componentsMap, componentsTree, page_meta).

Pipeline (all stages timed in page_meta.timings):
1. region proposals from OpenCV (regions.py: closed outlines + colour blocks) - structure that does
   not depend on model weights;
2. OCR (PP-OCR det + cls + rec) for text lines, concurrently with
3. SAM (the `segment_with_prompts` provider): one image embedding, then one box prompt per
   proposal (a few dozen prompts at ~50 ms each on a CPU, instead of the stock generator's
   1024-point grid). With official weights a proposal whose SAM mask agrees with it (IoU >= 0.6) is
   snapped to the mask's box, and an 8x8 automatic grid adds regions the proposals missed; without
   them the SAM deployment answers "weights_missing" and the structure is the classical
   segmenter's (proposals + OCR); page_meta.segmenter says which;
4. component types: the trained component classifier when one exists, else the built-in
   rules (page_meta.classifier.kind: the classifier's family, e.g. "resnet", or "builtin");
5. containment nesting, naming (Button-1...), map and tree.

Each ingest is a tracked task (kind "ingest"); the request waits for it up to the request timeout
(or not at all when the caller asks for async) and otherwise answers task_status 300.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from raysight import metrics
from raysight.capabilities import RunOp
from raysight.context import Platform
from raysight.errors import RaysightError, Unavailable
from raysight.imaging import probe
from raysight.services import retention, tasks
from raysight.services.imgseg import classical, classify, ocr_ops, segmenter, sources
from raysight.services.imgseg.common import ReadFailed, TaskNotFound, with_fields
from raysight.services.imgseg.components import (
    assign_text,
    components_map,
    components_tree,
    mean_color,
    merge,
    name_all,
    prune,
)
from raysight.services.imgseg.regions import Region, background_color, dedupe, iou, propose

log = logging.getLogger(__name__)

KIND = "ingest"
MAX_SAM_PROMPTS = 80
_BACKGROUND = "imgseg_background"


def _fmt_time(iso: str | None) -> str | None:
    return iso.replace("T", " ")[:19] if iso else None


async def _sam_stage(ctx: Platform, image: Any, regions: list[Region], model_type: str | None
                     ) -> tuple[list[Region], dict]:
    """Box prompts at the proposals (and, with trained weights, an automatic grid)."""
    meta: dict[str, Any] = {"model": None, "used": False}
    boxes = [list(r.box) for r in regions[:MAX_SAM_PROMPTS]]
    try:
        sam_key = meta["model"] = segmenter.model_key(ctx, model_type)
        if not boxes:
            res = await segmenter.run(ctx=ctx, key=sam_key, op=RunOp.EMBED, payload={"image": image})
            meta.update(weights=res["weights"], model_type=res["model_type"], prompts=0)
            return regions, meta
        res = await segmenter.run(ctx=ctx, key=sam_key, op=RunOp.PROMPT,
                                  payload={"image": image, "boxes": boxes, "return_masks": False})
    except RaysightError as exc:
        if exc.code == "weights_missing":
            meta.update(weights="missing", note=exc.message)
            return regions, meta
        log.warning("ingest: SAM unavailable, continuing with proposals only: %s", exc.message)
        meta["error"] = exc.message
        return regions, meta
    meta.update(weights=res["weights"], model_type=res["model_type"], prompts=len(boxes), timings=res["timings"])
    if res["weights"] != "trained":
        meta["note"] = "untrained SAM weights: masks computed but not used; structure from proposals and OCR"
        return regions, meta
    meta["used"] = True
    meta["segmenter"] = res.get("segmenter") or f"sam-{res['model_type']}"
    snapped = 0
    for region, mask in zip(regions, res["masks"], strict=False):
        x, y, w, h = mask["bbox"]
        box = (x, y, x + w, y + h)
        if w > 0 and iou(box, region.box) >= 0.6:
            region.box, region.score = box, (region.score + float(mask["score"])) / 2
            region.source += "+sam"
            snapped += 1
    extra: list[Region] = []
    try:
        auto = await segmenter.run(ctx=ctx, key=sam_key, op=RunOp.AUTO_MASKS,
                                   payload={"image_hash": res["image_hash"], "points_per_side": 8,
                                            "pred_iou_thresh": 0.9, "stability_score_thresh": 0.92})
        for m in auto["masks"]:
            x, y, w, h = m["bbox"]
            box = (x, y, x + w, y + h)
            if w >= 24 and h >= 16 and all(iou(box, r.box) < 0.5 for r in regions):
                extra.append(Region(box, "sam", float(m["predicted_iou"])))
    except RaysightError as exc:
        meta["auto_error"] = exc.message
    meta.update(snapped=snapped, added=len(extra))
    return dedupe(regions + extra), meta


async def analyse(*, ctx: Platform, image: Any, model_type: str | None = None, classifier_id: str | None = None,
                  use_sam: bool = True) -> dict[str, Any]:
    """componentsMap, componentsTree and page_meta of one RGB screenshot (`model_type`: the
    segmenter's model, its default when None)."""
    H, W = image.shape[:2]
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    regions = await asyncio.to_thread(propose, image)
    timings["proposals_s"] = round(time.perf_counter() - t0, 3)

    async def timed(name: str, coro: Any) -> Any:
        start = time.perf_counter()
        try:
            return await coro
        finally:
            timings[name] = round(time.perf_counter() - start, 3)

    sam_coro = timed("sam_s", _sam_stage(ctx, image, regions, model_type)) if use_sam else None
    ocr_coro = timed("ocr_s", ocr_ops.ocr(ctx=ctx, image=image))
    if sam_coro is not None:
        ocr_res, (regions, sam_meta) = await asyncio.gather(ocr_coro, sam_coro)
    else:
        ocr_res, sam_meta = await ocr_coro, {"used": False, "skipped": True}
    lines = ocr_ops.text_lines(ocr_res)

    t1 = time.perf_counter()
    comps = merge(regions, lines)
    assign_text(comps, lines)
    page_bg = background_color(image)
    record = classify.resolve_model(ctx=ctx, model_id=classifier_id, required=bool(classifier_id))
    widgets = [c for c in comps if c.source != "ocr"]
    if record is not None and widgets:
        labels = await classify.classify_crops(ctx=ctx, model_id=record["model_id"],
                                               crops=[classify.crop(image, c.box) for c in widgets])
        for c, (label, conf) in zip(widgets, labels, strict=True):
            c.type, c.confidence = label or "Image", conf
        classifier = {"kind": record["plugin"], "model_id": record["model_id"]}
    else:
        for c in widgets:
            c.type, c.confidence = classify.heuristic(image, c, page_bg)
        classifier = {"kind": classify.BUILTIN, "note": "no trained component classifier (tag imgseg-components)"}
    for c in comps:
        if c.background is None and c.source != "ocr":
            c.background = mean_color(image, c.box)
        if c.color is None and c.texts and c.texts[0].color:
            c.color = c.texts[0].color
    kept = prune(comps)
    name_all(kept)
    roots = sorted((c for c in kept if c.parent is None), key=lambda c: (c.box[1], c.box[0]))
    timings["compose_s"] = round(time.perf_counter() - t1, 3)
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    return {
        "components_map": components_map(kept),
        "components_tree": components_tree(roots, W, H),
        "page_meta": {
            "width": int(W), "height": int(H),
            "segmenter": sam_meta.get("segmenter") or classical.NAME,
            "background_color": [int(v) for v in page_bg],
            "component_count": len(kept),
            "sam": sam_meta,
            "ocr": {"engine": ocr_res.get("engine"), "lines": len(lines)},
            "classifier": classifier,
            "timings": timings,
        },
    }


# -- the tracked task -------------------------------------------------------------------------------
async def _prepare_source(*, ctx: Platform, data: bytes | None, image_url: str | None,
                          own_hosts: set[str] | None) -> tuple[Any, str]:
    if data:
        image = await asyncio.to_thread(sources.decode, data, ctx.settings.max_image_pixels)
        suffix = probe(data).suffix
        path = ctx.workspace.new_upload_path("ingest", suffix)
        await asyncio.to_thread(path.write_bytes, data)
        await asyncio.to_thread(retention.maybe_sweep_uploads, ctx=ctx)
        return image, f"/uploads/{path.name}"
    src = await sources.read_url(ctx=ctx, url=image_url or "", own_hosts=own_hosts)
    return src.image, src.url


def _write_result(ctx: Platform, task_id: str, result: dict[str, Any]) -> None:
    folder = ctx.workspace.task_dir(task_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(result, ensure_ascii=False))


async def ingest(*, ctx: Platform, data: bytes | None = None, image_url: str | None = None,
                 user_id: str = "anonymous", own_hosts: set[str] | None = None, wait: bool = True,
                 model_type: str | None = None, use_sam: bool = True) -> dict[str, Any]:
    """Start an ingest task; wait for it up to the request timeout unless `wait` is False.
    Returns {task_id, task_status (200 or 300), [components_map, components_tree, page_meta]}."""
    if not data and not (image_url or "").strip():
        from raysight.errors import Invalid

        raise Invalid("either image or image_url is required", code="missing_input")
    in_flight = len(ctx.extras.get(_BACKGROUND, ()))
    if in_flight >= ctx.settings.max_async_tasks:
        raise Unavailable(f"{in_flight} ingest tasks are running, the most allowed (RAYSIGHT_MAX_ASYNC_TASKS); "
                          "retry when one has finished", code="busy")
    task_id = tasks.create(ctx=ctx, kind=KIND, owner=user_id,
                           params={"user_id": user_id, "image_url": image_url, "upload": bool(data)})

    async def work(progress: Any) -> dict[str, Any]:
        image, url = await _prepare_source(ctx=ctx, data=data, image_url=image_url, own_hosts=own_hosts)
        progress(0.1)
        result = await analyse(ctx=ctx, image=image, model_type=model_type, use_sam=use_sam)
        recorder = metrics.recorder()
        for stage, seconds in result["page_meta"]["timings"].items():
            recorder.observe("raysight_ingest_stage_seconds", seconds, stage=stage.removesuffix("_s"))
        result["page_meta"]["image_url"] = url
        await asyncio.to_thread(_write_result, ctx, task_id, result)
        return result

    async def runner() -> dict[str, Any]:
        try:
            out = await tasks.run(ctx=ctx, task_id=task_id, work=work)
        except RaysightError as exc:
            metrics.recorder().inc("raysight_ingest_total", outcome="failed")
            tasks.update(ctx=ctx, task_id=task_id, result={"error_code": exc.code, "message": exc.message})
            raise
        metrics.recorder().inc("raysight_ingest_total", outcome="completed")
        return out

    job = asyncio.ensure_future(runner())
    background: set[asyncio.Future[Any]] = ctx.extras.setdefault(_BACKGROUND, set())
    background.add(job)
    job.add_done_callback(background.discard)
    job.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no "never retrieved" noise
    if wait:
        done, _ = await asyncio.wait({job}, timeout=max(1.0, ctx.settings.request_timeout_s * 0.9))
        if job in done:
            exc = job.exception()
            if isinstance(exc, RaysightError):
                raise with_fields(exc, task_id=task_id)
            if exc is not None:
                raise with_fields(RaysightError(f"ingest failed: {type(exc).__name__}"), task_id=task_id)
            return {"task_id": task_id, "task_status": 200, **job.result()}
    return {"task_id": task_id, "task_status": 300}


TASK_STATUS = {"pending": 300, "running": 300, "completed": 200, "failed": 400, "cancelled": 400}


def status(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    """ingest_status: the task's state, with its result once done."""
    from raysight.errors import NotFound

    try:
        task = tasks.get(ctx=ctx, task_id=task_id, kind=KIND)
    except NotFound as exc:
        raise with_fields(TaskNotFound(f"task '{task_id}' does not exist"), task_id=task_id) from exc
    out: dict[str, Any] = {"task_id": task_id, "task_status": TASK_STATUS.get(task["status"], 400),
                           "created_at": _fmt_time(task["created_at"]), "progress": task["progress"]}
    if task["status"] in ("completed", "failed", "cancelled"):
        out["finished_at"] = _fmt_time(task["updated_at"])
    if task["status"] == "completed":
        out["result"] = task["result"]
    elif task["status"] in ("failed", "cancelled"):
        info = task["result"] or {}
        out["error"] = task["error"]
        out["error_code"] = info.get("error_code", "error")
    return out


__all__ = ["ReadFailed", "analyse", "ingest", "status"]
