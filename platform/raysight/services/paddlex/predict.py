"""/project/task/predict: one base64 image through the task's trained model on the core's inference path
(the Serve model deployments), the predictions drawn onto it and the result saved in the task's folder."""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from typing import Any

from PIL import Image

from raysight.context import Platform
from raysight.errors import Conflict, Invalid, RaysightError, public_message
from raysight.imaging import decode_sized
from raysight.services import inference
from raysight.services.paddlex import drawing, jobs, records
from raysight.services.paddlex.enums import PredictStatus


def _decode(ctx: Platform, image_data: str) -> Any:
    text = image_data.split(",", 1)[1] if image_data.startswith("data:") else image_data
    if len(text) > ctx.settings.max_image_bytes * 4 // 3 + 4:
        raise Invalid("image_data is larger than RAYSIGHT_MAX_IMAGE_MB")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("image_data is not valid base64") from exc
    image, _scale = decode_sized(data, max_decode_pixels=ctx.settings.max_image_pixels)
    return image


def _boxes(dets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for det in dets:
        box = dict(det["bbox"])
        box.update(label=f"{det['class_name']} {det['confidence']:.2f}", class_id=det["class_id"])
        outlines = det.get("polygons") or ([det["polygon"]] if det.get("polygon") else [])
        if outlines:  # instance segmentation: its mask outline; semantic: the class's regions
            box["polygons"] = outlines
        out.append(box)
    return out


async def predict(*, ctx: Platform, tid: object, image_data: str, score_thresh: float | None = None,
                  epoch: object = None) -> dict[str, Any]:
    """Predict, draw, save; returns {"path", "predictions"}. Recorded as the task's predict status."""
    rec, model_id = jobs.trained_model(ctx, tid)
    jobs.check_epoch(ctx, rec, epoch)
    image = _decode(ctx, image_data)
    records.update(ctx=ctx, kind="task", code=rec["id"],
                   attrs={"predict": {"status": int(PredictStatus.XPRESTART), "message": "predicting"}})
    try:
        conf = 0.5 if score_thresh is None else float(score_thresh)
        dets = (await inference.predict_images(ctx=ctx, model_id=model_id, images=[image], conf=conf))[0]
        picture = Image.fromarray(image)
        if rec["type"] == "classification":
            best = max(dets, key=lambda d: d["confidence"], default=None)
            caption = f"{best['class_name']} {best['confidence']:.2f}" if best else "no class"
            drawn = drawing.draw(picture, [], caption=caption)
        else:
            drawn = drawing.draw(picture, _boxes(dets))
        out = jobs.folder(ctx, rec["id"]) / "predict" / f"result_{uuid.uuid4().hex[:8]}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(drawn.save, out, "JPEG", quality=90)
    except RaysightError as exc:
        records.update(ctx=ctx, kind="task", code=rec["id"],
                       attrs={"predict": {"status": int(PredictStatus.XPREFAIL), "message": public_message(exc)}})
        raise
    records.update(ctx=ctx, kind="task", code=rec["id"], attrs={"predict": {
        "status": int(PredictStatus.XPREDONE), "message": "prediction done", "path": str(out)}})
    return {"path": str(out), "predictions": dets}


def status(*, ctx: Platform, tid: object) -> dict[str, Any]:
    rec = jobs.get_record(ctx, tid)
    state = rec["attrs"].get("predict")
    if state is None:
        raise Conflict(f"task '{rec['id']}' has no prediction")
    return {"predict_status": state["status"], "message": state["message"], "path": state.get("path")}
