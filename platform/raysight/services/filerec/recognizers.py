"""One page through the configured recognizer: the `read_text` provider (text with boxes; the OCR
plugin unless configured otherwise) or a registered detector / classifier (its predictions), both
through the model deployments."""

from __future__ import annotations

from typing import Any

from raysight import defaults
from raysight.capabilities import Capability
from raysight.context import Platform
from raysight.imaging import scale_boxes
from raysight.services import inference
from raysight.services.capabilities import provider, read_text
from raysight.services.filerec.documents import Page
from raysight.services.filerec.parameters import OCR


def describe(*, ctx: Platform, recognizer: dict[str, Any]) -> dict[str, Any]:
    """What a task records about its recognizer (resolved once, when the task is created)."""
    model_id = recognizer.get("model_id") or OCR
    if model_id == OCR:
        return {"model_id": OCR, "backend": provider(ctx, Capability.READ_TEXT).name, "kind": "ocr"}
    backend, _ = inference.resolve(ctx=ctx, model_id=model_id)
    return {"model_id": model_id, "backend": backend, "kind": "model",
            "conf": float(recognizer.get("conf", defaults.CONF)), "iou": float(recognizer.get("iou", defaults.IOU))}


def _scaled(points: list[list[float]], scale: float) -> list[float]:
    xs = [p[0] * scale for p in points]
    ys = [p[1] * scale for p in points]
    return [round(min(xs), 1), round(min(ys), 1), round(max(xs), 1), round(max(ys), 1)]


async def read_page(*, ctx: Platform, recognizer: dict[str, Any], page: Page) -> dict[str, Any]:
    """{"page", "width", "height", ("dpi"), "text", "lines"} with OCR, or {..., "predictions"} with a
    model. Boxes are [x1, y1, x2, y2] in the file's pixels (PDF: the page rendered at `dpi`)."""
    height, width = page.image.shape[:2]
    out: dict[str, Any] = {"page": page.number, "width": round(width * page.scale),
                           "height": round(height * page.scale)}
    if page.dpi:
        out["dpi"] = page.dpi
    if recognizer["kind"] == "ocr":
        result = await read_text(ctx=ctx, image=page.image)
        lines = [{"text": str(line["text"]), "box": _scaled(line["box"], page.scale),
                  "score": round(float(line.get("score", 0.0)), 4)}
                 for line in result.get("lines", []) if str(line.get("text", "")).strip()]
        out.update(text="\n".join(line["text"] for line in lines), lines=lines)
        return out
    dets = (await inference.predict_images(ctx=ctx, model_id=recognizer["model_id"], images=[page.image],
                                           conf=recognizer["conf"], iou=recognizer["iou"]))[0]
    scale_boxes(dets, page.scale)
    out["predictions"] = dets
    return out
