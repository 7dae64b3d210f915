"""Component types: the trained component classifier (a model of the `classify_components`
provider, ResNet unless configured otherwise: the newest registry model tagged "imgseg-components",
or one named by id: a registry model id or the ``Train-imgSeg-<uuid>`` id a training returned), and
the built-in rule classifier that answers wherever no classifier has been trained yet (ingest,
predictResnet, predictSam* with is_predict_type); payloads say which answered (``classifier``: the
model's family, e.g. "resnet", or "builtin")."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from raysight.backend import Backend
from raysight.capabilities import Capability
from raysight.context import Platform
from raysight.errors import NotFound, Unavailable
from raysight.ids import uuid_id
from raysight.services import inference, models
from raysight.services.capabilities import provider as capability_provider
from raysight.services.imgseg import component_training, ocr_ops
from raysight.services.imgseg.common import COMPONENT_TAG, ModelIdError
from raysight.services.imgseg.components import Component, TextLine
from raysight.services.imgseg.regions import Box, background_color, contains, iou

BUILTIN = "builtin"


def provider(ctx: Platform) -> Backend:
    """The family whose models classify components here (and that trains them)."""
    return capability_provider(ctx, Capability.CLASSIFY_COMPONENTS)


def resolve_model(*, ctx: Platform, model_id: str | None, required: bool = True) -> dict[str, Any] | None:
    """The registry record of the classifier: `model_id`, or the newest tagged one when empty.
    ModelIdError (805) for an unknown id, or when none is trained and `required`."""
    if model_id and component_training.is_train_task_id(model_id):
        model_id = component_training.model_of_task(ctx=ctx, train_task_id=model_id)
    if model_id:
        try:
            return models.get(ctx=ctx, model_id=model_id)
        except NotFound as exc:
            raise ModelIdError(f"model '{model_id}' does not exist") from exc
    try:
        family = provider(ctx).name
    except Unavailable:  # no plugin classifies components: only the built-in rules answer
        family = None
    record = models.latest(ctx=ctx, plugin=family, tag=COMPONENT_TAG) if family else None
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


@dataclass
class Look:
    """What the rules look at in a component's pixels and text."""

    w: int
    h: int
    fill: np.ndarray  # median colour of the inner part
    border: np.ndarray  # median colour of the top and bottom rows
    ring: np.ndarray  # median colour of the outermost one-pixel ring
    distinct: int  # quantised colours present
    std: float
    has_text: bool
    text_area: int

    @property
    def light(self) -> bool:
        return float(self.fill.mean()) > 235

    @property
    def bordered(self) -> bool:
        return float(np.abs(self.border - self.fill).max()) > 20

    @property
    def ringed(self) -> bool:
        """The outermost pixels differ from the fill: an outline."""
        return float(np.abs(self.ring - self.fill).max()) > 20


def look(patch: np.ndarray, texts: list[TextLine]) -> Look:
    """The features of one component crop (RGB) with the OCR lines lying in it."""
    h, w = patch.shape[:2]
    p = patch.astype(np.float32)
    inner = p[int(h * 0.2):max(int(h * 0.2) + 1, int(h * 0.8)), int(w * 0.05):max(int(w * 0.05) + 1, int(w * 0.95))]
    edge = np.concatenate([p[:2].reshape(-1, 3), p[-2:].reshape(-1, 3)])
    ring = np.concatenate([p[0], p[-1], p[:, 0], p[:, -1]]).reshape(-1, 3)
    q = (p.reshape(-1, 3) // 32).astype(np.int32)
    return Look(
        w=w, h=h, fill=np.median(inner.reshape(-1, 3), axis=0), border=np.median(edge, axis=0),
        ring=np.median(ring, axis=0), distinct=len(np.unique(q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2])),
        std=float(p.reshape(-1, 3).std(axis=0).mean()), has_text=bool(texts),
        text_area=sum((t.box[2] - t.box[0]) * (t.box[3] - t.box[1]) for t in texts),
    )


def heuristic(image: np.ndarray, comp: Component, page_bg: np.ndarray) -> tuple[str, float]:
    """Rules on shape, fill, border and text, for a component in its page: Bar, Button, Input,
    Image, Text or Container (the built-in classifier ingest uses)."""
    H, W = image.shape[:2]
    patch = crop(image, comp.box)
    if patch.size == 0:
        return "Image", 0.1
    f = look(patch, comp.texts)
    w, h = f.w, f.h
    fill_vs_page = float(np.abs(f.fill - page_bg).max())
    if w >= 0.85 * W and h <= 140:
        return "Bar", 0.8
    if not f.has_text and f.distinct >= 5 and f.std > 15:
        return "Image", 0.7
    if h <= 110:
        if f.has_text and fill_vs_page > 40 and not f.light:
            return "Button", 0.8
        if f.light and (f.bordered or fill_vs_page > 4) and w >= 2.5 * h:
            return "Input", 0.7
        if not f.has_text and fill_vs_page > 40 and w < 420:
            return "Button", 0.5
        if f.has_text and f.text_area > 0.5 * w * h:
            return "Text", 0.5
    if comp.children or (w * h > 0.04 * W * H):
        return ("Image", 0.4) if f.distinct > 24 and not f.has_text else ("Container", 0.5)
    return "Image", 0.3


def crop_type(patch: np.ndarray, texts: list[TextLine]) -> tuple[str, float]:
    """The same rules for a component crop seen without its page (predictResnet's images): the
    crop is the component, so the page's width and colour are unknown; what stands for them is
    the crop's own outer ring (a filled widget reaches its edge, text sits on the page colour)."""
    if patch.size == 0:
        return "Image", 0.1
    f = look(patch, texts)
    w, h = f.w, f.h
    filled = not f.light and float(np.abs(f.ring - f.fill).max()) <= 40
    if not f.has_text and f.distinct >= 5 and f.std > 15:
        return "Image", 0.7
    if h <= 140 and filled and w >= 5 * h and w >= 280:
        return "Bar", 0.6
    if h <= 110:
        if f.has_text and filled:
            return "Button", 0.7
        if f.light and (f.bordered or f.ringed) and w >= 2.5 * h:
            return "Input", 0.6
        if not f.has_text and filled and w < 420:
            return "Button", 0.4
        if f.has_text:
            return "Text", 0.5
    return ("Image", 0.4) if f.distinct > 24 and not f.has_text else ("Container", 0.4)


def builtin_types(image: np.ndarray, boxes: list[Box], lines: list[TextLine]) -> list[tuple[str, float]]:
    """The built-in classifier on components of a page (`boxes` in `image`, OCR `lines` of it)."""
    page_bg = background_color(image)
    out = []
    for box in boxes:
        comp = Component(box=box, source="prompt", texts=[t for t in lines if contains(box, t.box, 0.7)])
        out.append(("Text", 0.5) if _is_text_line(comp, lines) else heuristic(image, comp, page_bg))
    return out


def _is_text_line(comp: Component, lines: list[TextLine]) -> bool:
    """A component that is one OCR line (what ingest types as Text before any rule runs)."""
    return any(iou(comp.box, t.box) > 0.5 for t in lines)


async def builtin_crop_types(*, ctx: Platform, crops: list[np.ndarray]) -> list[tuple[str, float]]:
    """The built-in classifier on standalone component crops (OCR tells it where text is)."""
    async def one(patch: np.ndarray) -> tuple[str, float]:
        lines = ocr_ops.text_lines(await ocr_ops.ocr(ctx=ctx, image=patch)) if patch.size else []
        return crop_type(patch, lines)

    return list(await asyncio.gather(*(one(p) for p in crops)))


async def predict_resnet(*, ctx: Platform, urls: list[str], model_id: str | None = None,
                         input_component_type: str | None = None,
                         own_hosts: set[str] | None = None) -> dict[str, Any]:
    """predictResnet: label per URL (unreadable URLs are reported and skipped), counts per label,
    and the accuracy against `input_component_type` when given. Without `model_id` the newest
    trained component classifier answers, or the built-in one when none has been trained."""
    from raysight.errors import RaysightError
    from raysight.services.imgseg import sources

    sources.check_url_count(ctx, len(urls))
    record = resolve_model(ctx=ctx, model_id=model_id or None, required=False)
    images, failed = [], {}
    for url in urls:
        try:
            images.append((url, (await sources.read_url(ctx=ctx, url=url, own_hosts=own_hosts)).image))
        except RaysightError as exc:
            failed[url] = exc.message
    crops = [im for _, im in images]
    if record is not None:
        labels = await classify_crops(ctx=ctx, model_id=record["model_id"], crops=crops)
        marker: dict[str, Any] = {"classifier": record["plugin"], "model_id": record["model_id"]}
    else:
        labels = await builtin_crop_types(ctx=ctx, crops=crops)
        marker = {"classifier": BUILTIN}
    component_type = {url: label for (url, _), (label, _c) in zip(images, labels, strict=True)}
    counts: dict[str, float] = {}
    for label in component_type.values():
        counts[label] = counts.get(label, 0.0) + 1.0
    result: dict[str, Any] = dict(counts)
    if input_component_type and component_type:
        hits = sum(1 for label in component_type.values() if label == input_component_type)
        result["acc"] = round(hits / len(component_type), 4)
    out: dict[str, Any] = {
        "task_id": uuid_id("resnetPredict", time_based=True), "task_status": 200, "component_type": component_type,
        "predict_result": result, "image_num": len(component_type), **marker,
    }
    if failed:
        out["failed"] = failed
    return out
