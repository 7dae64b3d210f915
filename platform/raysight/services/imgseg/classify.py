"""Component types: the ResNet component classifier (the newest registry model tagged
"imgseg-components", or one named by id) and a rule-based fallback used by ingest when no
classifier has been trained yet."""

from __future__ import annotations

from typing import Any

import numpy as np

from raysight.context import Platform
from raysight.errors import NotFound
from raysight.services import inference, models
from raysight.services.imgseg.common import COMPONENT_TAG, ModelIdError
from raysight.services.imgseg.components import Component


def resolve_model(*, ctx: Platform, model_id: str | None, required: bool = True) -> dict[str, Any] | None:
    """The registry record of the classifier: `model_id`, or the newest tagged one when empty.
    ModelIdError (805) for an unknown id, or when none is trained and `required`."""
    if model_id:
        try:
            return models.get(ctx=ctx, model_id=model_id)
        except NotFound as exc:
            raise ModelIdError(f"model '{model_id}' does not exist") from exc
    record = models.latest(ctx=ctx, plugin="resnet", tag=COMPONENT_TAG)
    if record is None and required:
        raise ModelIdError("no component classifier has been trained yet (resnetTrainStart) and no model_id given")
    return record


async def classify_crops(*, ctx: Platform, model_id: str, crops: list[np.ndarray]) -> list[tuple[str, float]]:
    """(label, confidence) per crop through the model deployment."""
    if not crops:
        return []
    results = await inference.predict_images(ctx=ctx, model_id=model_id, images=crops, conf=0.0)
    out = []
    for dets in results:
        if not dets:
            out.append(("", 0.0))
            continue
        best = max(dets, key=lambda d: d.get("confidence", 0.0))
        out.append((str(best.get("class_name", "")), float(best.get("confidence", 0.0))))
    return out


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.ascontiguousarray(image[max(0, y1):y2, max(0, x1):x2])


def heuristic(image: np.ndarray, comp: Component, page_bg: np.ndarray) -> tuple[str, float]:
    """Rules on shape, fill, border and text: Bar, Button, Input, Image or Container."""
    H, W = image.shape[:2]
    x1, y1, x2, y2 = comp.box
    w, h = x2 - x1, y2 - y1
    patch = crop(image, comp.box).astype(np.float32)
    if patch.size == 0:
        return "Image", 0.1
    inner = patch[int(h * 0.2):max(int(h * 0.2) + 1, int(h * 0.8)), int(w * 0.05):max(int(w * 0.05) + 1, int(w * 0.95))]
    fill = np.median(inner.reshape(-1, 3), axis=0)
    edge = np.concatenate([patch[:2].reshape(-1, 3), patch[-2:].reshape(-1, 3)])
    border = np.median(edge, axis=0)
    q = (patch.reshape(-1, 3) // 32).astype(np.int32)
    distinct = len(np.unique(q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2]))
    std = float(patch.reshape(-1, 3).std(axis=0).mean())
    has_text = bool(comp.texts)
    text_area = sum((t.box[2] - t.box[0]) * (t.box[3] - t.box[1]) for t in comp.texts)
    fill_vs_page = float(np.abs(fill - page_bg).max())
    light = float(fill.mean()) > 235
    bordered = float(np.abs(border - fill).max()) > 20
    if w >= 0.85 * W and h <= 140:
        return "Bar", 0.8
    if not has_text and distinct >= 5 and std > 15:
        return "Image", 0.7
    if h <= 110:
        if has_text and fill_vs_page > 40 and not light:
            return "Button", 0.8
        if light and (bordered or fill_vs_page > 4) and w >= 2.5 * h:
            return "Input", 0.7
        if not has_text and fill_vs_page > 40 and w < 420:
            return "Button", 0.5
        if has_text and text_area > 0.5 * w * h:
            return "Text", 0.5
    if comp.children or (w * h > 0.04 * W * H):
        return ("Image", 0.4) if distinct > 24 and not has_text else ("Container", 0.5)
    return "Image", 0.3


async def predict_resnet(*, ctx: Platform, urls: list[str], model_id: str | None = None,
                         input_component_type: str | None = None,
                         own_hosts: set[str] | None = None) -> dict[str, Any]:
    """predictResnet: label per URL (unreadable URLs are reported and skipped), counts per label,
    and the accuracy against `input_component_type` when given."""
    import uuid

    from raysight.errors import RaysightError
    from raysight.services.imgseg import sources

    sources.check_url_count(ctx, len(urls))
    record = resolve_model(ctx=ctx, model_id=model_id or None)
    images, failed = [], {}
    for url in urls:
        try:
            images.append((url, (await sources.read_url(ctx=ctx, url=url, own_hosts=own_hosts)).image))
        except RaysightError as exc:
            failed[url] = exc.message
    labels = await classify_crops(ctx=ctx, model_id=record["model_id"], crops=[im for _, im in images])
    component_type = {url: label for (url, _), (label, _c) in zip(images, labels, strict=True)}
    counts: dict[str, float] = {}
    for label in component_type.values():
        counts[label] = counts.get(label, 0.0) + 1.0
    result: dict[str, Any] = dict(counts)
    if input_component_type and component_type:
        hits = sum(1 for label in component_type.values() if label == input_component_type)
        result["acc"] = round(hits / len(component_type), 4)
    out: dict[str, Any] = {
        "task_id": f"resnetPredict_{uuid.uuid1()}", "task_status": 200, "component_type": component_type,
        "predict_result": result, "image_num": len(component_type), "model_id": record["model_id"],
    }
    if failed:
        out["failed"] = failed
    return out
