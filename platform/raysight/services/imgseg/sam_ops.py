"""predictSam, predictSam2 and predictSam3: segmentation (SAM through the SAM deployment, or the
classical region segmenter when SAM has no official weights: services.imgseg.segmenter), cut-outs,
optional component types (the trained component classifier, else the built-in one) and text (OCR).
Every payload says who segmented (``segmenter``) and, with types, who classified (``classifier``)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import cv2
import numpy as np

from raysight.context import Platform
from raysight.ids import uuid_id
from raysight.services.imgseg import classify, ocr_ops, segmenter, sources
from raysight.services.imgseg.common import BadPrompt
from raysight.services.imgseg.regions import contains, iou, propose


def new_task_id() -> str:
    return uuid_id("samPredict", time_based=True)


# A prompted segment's type when none is predicted (is_predict_type false): the spec lists
# component_type and text among a prompted result's keys, and its examples without is_predict_type
# show "Image" (a picture region) and no text.
UNCLASSIFIED = "Image"


def _unclassified(items: list[dict[str, Any]]) -> None:
    for item in items:
        item.setdefault("component_type", UNCLASSIFIED)
        item.setdefault("text", [])


# -- prompt validation ---------------------------------------------------------------------------
def _pair(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def check_prompt(prompt: dict[str, Any] | None, width: int, height: int) -> tuple[list, list, list]:
    """(points, labels, boxes) of an imgseg prompt, or BadPrompt (806)."""
    prompt = prompt or {}
    if not isinstance(prompt, dict):
        raise BadPrompt("prompt must be an object")
    points = prompt.get("input_point") or []
    labels = prompt.get("input_label")
    boxes = prompt.get("input_box") or []
    if not isinstance(points, list) or not all(_pair(p) for p in points):
        raise BadPrompt("input_point must be a list of [x, y]")
    if points:
        labels = labels if labels is not None else [1] * len(points)
        if not isinstance(labels, list) or len(labels) != len(points) or any(lb not in (0, 1) for lb in labels):
            raise BadPrompt("input_label must hold one 0 or 1 per input_point")
        for x, y in points:
            if not (0 <= x < width and 0 <= y < height):
                raise BadPrompt(f"point [{x}, {y}] lies outside the {width}x{height} image")
    if boxes and not isinstance(boxes[0], (list, tuple)):
        boxes = [boxes]
    for b in boxes:
        if not (isinstance(b, (list, tuple)) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b)):
            raise BadPrompt("input_box must be [x1, y1, x2, y2] or a list of them")
        if b[2] <= b[0] or b[3] <= b[1]:
            raise BadPrompt("input_box needs x2 > x1 and y2 > y1")
        if b[2] <= 0 or b[3] <= 0 or b[0] >= width or b[1] >= height:
            raise BadPrompt("input_box lies outside the image")
    return [list(map(float, p)) for p in points], list(labels or []), [list(map(float, b)) for b in boxes]


def points_to_box(points: Any) -> list[float]:
    """The lasso's bounding box (points2Box)."""
    if not isinstance(points, list) or len(points) < 2 or not all(_pair(p) for p in points):
        raise BadPrompt("points must be a list of at least two [x, y]")
    arr = np.asarray(points, dtype=np.float32)
    x1, y1 = arr.min(axis=0)
    x2, y2 = arr.max(axis=0)
    if x2 <= x1 or y2 <= y1:
        raise BadPrompt("the lasso points enclose no area")
    return [float(x1), float(y1), float(x2), float(y2)]


# -- cut-outs --------------------------------------------------------------------------------------
def _b64_png(rgb_or_rgba: np.ndarray) -> str:
    arr = rgb_or_rgba
    conv = cv2.COLOR_RGBA2BGRA if arr.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, buf = cv2.imencode(".png", cv2.cvtColor(arr, conv))
    return base64.b64encode(buf.tobytes()).decode("ascii") if ok else ""


def component(image: np.ndarray, bbox: list[int], mask: np.ndarray | None = None, *,
              coord_key: str = "top_left_coord") -> dict[str, Any]:
    """One component_info entry: box, mean colour, and the crop (or, with a mask, the outline
    cut-out as RGBA PNG) in base64."""
    H, W = image.shape[:2]
    x, y, w, h = (int(v) for v in bbox)
    x, y = max(0, x), max(0, y)
    w, h = max(1, min(w, W - x)), max(1, min(h, H - y))
    patch = image[y:y + h, x:x + w]
    if mask is not None:
        alpha = mask[y:y + h, x:x + w].astype(np.uint8) * 255
        pixels = patch[alpha > 0] if alpha.any() else patch.reshape(-1, 3)
        crop_b64 = _b64_png(np.dstack([patch, alpha]))
    else:
        pixels = patch.reshape(-1, 3)
        crop_b64 = _b64_png(patch)
    return {coord_key: [x, y], "width": w, "height": h,
            "rgb_mean": [int(v) for v in np.round(pixels.mean(axis=0))], "img_component_base64": crop_b64}


# -- segmentation and types ------------------------------------------------------------------------
async def _prompt(ctx: Platform, key: str, image: np.ndarray, points: list, labels: list, boxes: list,
                  masks: bool) -> dict[str, Any]:
    return await segmenter.prompt(ctx=ctx, key=key, image=image, points=points, labels=labels, boxes=boxes,
                                  masks=masks)


async def _auto(ctx: Platform, key: str, image: np.ndarray, points_per_side: int | None) -> dict[str, Any]:
    return await segmenter.auto(ctx=ctx, key=key, image=image, points_per_side=points_per_side)


async def _annotate(ctx: Platform, image: np.ndarray, items: list[dict[str, Any]], boxes: list[list[int]],
                    model_id: str | None, read_text: list[str]) -> dict[str, Any]:
    """component_type and text (OCR, for types listed in read_text) of each item; returns the
    payload fields naming the classifier (the trained one, else the built-in rules)."""
    record = classify.resolve_model(ctx=ctx, model_id=model_id, required=False)
    crops = [classify.crop(image, (x, y, x + w, y + h)) for x, y, w, h in boxes]
    if record is not None:
        labels = await classify.classify_crops(ctx=ctx, model_id=record["model_id"], crops=crops)
        marker = {"classifier": record["plugin"], "resnet_model_id": record["model_id"]}
    else:
        lines = ocr_ops.text_lines(await ocr_ops.ocr(ctx=ctx, image=image)) if boxes else []
        labels = classify.builtin_types(image, [(x, y, x + w, y + h) for x, y, w, h in boxes], lines)
        marker = {"classifier": classify.BUILTIN}
    for item, crop, (label, _conf) in zip(items, crops, labels, strict=True):
        item["component_type"] = label
        item["text"] = []
        if label in read_text and crop.size:
            res = await ocr_ops.ocr(ctx=ctx, image=crop, details=False)
            item["text"] = [line["text"] for line in res.get("lines", [])]
    return marker


async def predict_sam(*, ctx: Platform, image_url: str, prompt: dict[str, Any] | None = None,
                      is_predict_type: bool = False, resnet_model_id: str | None = None,
                      read_text_component_list: list[str] | None = None, cut_outline_flag: bool = False,
                      model_type: str | None = None, points_per_side: int | None = None,
                      own_hosts: set[str] | None = None, coord_key: str = "top_left_coord") -> dict[str, Any]:
    src = await sources.read_url(ctx=ctx, url=image_url, own_hosts=own_hosts)
    image = src.image
    H, W = image.shape[:2]
    points, labels, boxes = check_prompt(prompt, W, H)
    sam_key = segmenter.model_key(ctx, model_type)
    if not points and not boxes:
        res = await _auto(ctx, sam_key, image, points_per_side)
        items = [component(image, m["bbox"], coord_key=coord_key) for m in res["masks"] if m["bbox"][2] > 0]
        return {"task_id": new_task_id(), "task_status": 200, "component_info": items, **segmenter.describe(res)}
    res = await _prompt(ctx, sam_key, image, points, labels, boxes, masks=True)
    items, bboxes = [], []
    for m in res["masks"]:
        if m["bbox"][2] <= 0 and not m.get("prompt_box"):
            continue  # nothing under the point: no component rather than a made-up one
        mask = segmenter.mask_of(m)
        bbox = m["bbox"] if m["bbox"][2] > 0 else [0, 0, 0, 0]
        if m.get("prompt_box") and (not cut_outline_flag or bbox[2] <= 0):
            # a box prompt's crop is the box asked for; the mask only shapes outline cut-outs
            x1, y1, x2, y2 = m["prompt_box"]
            bbox = [int(x1), int(y1), int(round(x2 - x1)), int(round(y2 - y1))]
        items.append(component(image, bbox, mask if cut_outline_flag else None, coord_key=coord_key))
        items[-1]["score"] = m["score"]
        if "regions" in m:
            items[-1]["regions"] = m["regions"]
        bboxes.append(bbox)
    out = {"task_id": new_task_id(), "task_status": 200, "component_info": items, **segmenter.describe(res)}
    if is_predict_type:
        out.update(await _annotate(ctx, image, items, bboxes, resnet_model_id, list(read_text_component_list or [])))
    else:
        _unclassified(items)
    return out


async def predict_sam2(*, ctx: Platform, image_url: str, prompt: dict[str, Any] | None = None,
                       select_box: list[float] | None = None, is_predict_type: bool = False,
                       resnet_model_id: str | None = None, read_text_component_list: list[str] | None = None,
                       cut_outline_flag: bool = False, model_type: str | None = None,
                       points_per_side: int | None = None, own_hosts: set[str] | None = None) -> dict[str, Any]:
    """A father node (the select_box, SAM-segmented) whose children are the filtered automatic
    masks, region proposals and OCR text boxes inside it, plus the point prompt's mask; children's
    coordinates are relative to the father."""
    src = await sources.read_url(ctx=ctx, url=image_url, own_hosts=own_hosts)
    image = src.image
    H, W = image.shape[:2]
    points, labels, _ = check_prompt({k: v for k, v in (prompt or {}).items() if k != "input_box"}, W, H)
    sam_key = segmenter.model_key(ctx, model_type)
    if select_box:
        _, _, boxes = check_prompt({"input_box": select_box}, W, H)
        sel = [int(max(0, boxes[0][0])), int(max(0, boxes[0][1])), int(min(W, boxes[0][2])), int(min(H, boxes[0][3]))]
    else:
        sel = [0, 0, W, H]
    sel_box = (sel[0], sel[1], sel[2], sel[3])
    auto, text, box_res = await asyncio.gather(
        _auto(ctx, sam_key, image, points_per_side),
        ocr_ops.ocr(ctx=ctx, image=image),
        _prompt(ctx, sam_key, image, [], [], [list(map(float, sel))], masks=cut_outline_flag),
    )
    candidates: list[tuple[int, int, int, int]] = []
    for m in auto["masks"]:
        x, y, w, h = m["bbox"]
        candidates.append((x, y, x + w, y + h))
    candidates += [r.box for r in await asyncio.to_thread(propose, image)]
    text_lines = ocr_ops.text_lines(text)
    children_boxes: list[tuple[int, int, int, int]] = []
    for box in [t.box for t in text_lines] + candidates:
        if contains(sel_box, box, 0.9) and box != sel_box and (box[2] - box[0]) * (box[3] - box[1]) < \
                0.9 * (sel[2] - sel[0]) * (sel[3] - sel[1]) and all(iou(box, k) < 0.8 for k in children_boxes):
            children_boxes.append(box)
    point_items = []
    if points:
        pres = await _prompt(ctx, sam_key, image, points, labels, [], masks=True)
        for m in pres["masks"]:
            if m["bbox"][2] > 0:
                point_items.append(component(image, m["bbox"], segmenter.mask_of(m) if cut_outline_flag else None))
                point_items[-1]["prompt"] = "point"
    children = point_items + [component(image, [b[0], b[1], b[2] - b[0], b[3] - b[1]]) for b in children_boxes]
    father_mask = segmenter.mask_of(box_res["masks"][0]) if cut_outline_flag else None
    father = component(image, [sel[0], sel[1], sel[2] - sel[0], sel[3] - sel[1]], father_mask)
    out = {"task_id": new_task_id(), "task_status": 200, "component_info": [father], **segmenter.describe(box_res)}
    if is_predict_type:
        boxes = [[c["top_left_coord"][0], c["top_left_coord"][1], c["width"], c["height"]] for c in children]
        out.update(await _annotate(ctx, image, children, boxes, resnet_model_id,
                                   list(read_text_component_list or [])))
    else:
        _unclassified(children)
    for child in children:
        x, y = child["top_left_coord"]
        child["top_left_coord"] = [x - sel[0], y - sel[1]]
    father["background_color"] = father["rgb_mean"]
    father["children"] = children
    return out


async def predict_sam3(*, ctx: Platform, image_url: str, points: list, prompt: dict[str, Any] | None = None,
                       is_predict_type: bool = False, resnet_model_id: str | None = None,
                       read_text_component_list: list[str] | None = None, model_type: str | None = None,
                       own_hosts: set[str] | None = None) -> dict[str, Any]:
    """Lasso points -> their bounding box -> SAM box prompt -> outline cut-out."""
    box = points_to_box(points)
    if resnet_model_id:
        classify.resolve_model(ctx=ctx, model_id=resnet_model_id)
    merged = {"input_point": (prompt or {}).get("input_point") or [],
              "input_label": (prompt or {}).get("input_label") or [], "input_box": box}
    if not merged["input_point"]:
        merged.pop("input_label")
    return await predict_sam(ctx=ctx, image_url=image_url, prompt=merged, is_predict_type=is_predict_type,
                             resnet_model_id=resnet_model_id, read_text_component_list=read_text_component_list,
                             cut_outline_flag=True, model_type=model_type, own_hosts=own_hosts,
                             coord_key="left_top_coord")
