"""Native API: inference (specs/platform-api.md, 推理服务 / Inference Service).

conf, iou and imgsz may come as form fields or query parameters (the form wins); out of range is 422.
Detection models answer with boxes; classification models answer in the same shape: the class, its
confidence, and the whole image as bbox. The video stream's events are documented on
services.video.stream_video.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from raysight import defaults
from raysight.api.deps import platform
from raysight.api.middleware.body_limit import archive_body
from raysight.context import Platform
from raysight.services import inference, video

router = APIRouter(tags=["infer"])

UnitForm = Annotated[float | None, Form(ge=0.0, le=1.0)]
SizeForm = Annotated[int | None, Form(ge=32, le=4096)]
ConfQuery = Annotated[float | None, Query(ge=0.0, le=1.0, alias="conf")]
IouQuery = Annotated[float | None, Query(ge=0.0, le=1.0, alias="iou")]
SizeQuery = Annotated[int | None, Query(ge=32, le=4096, alias="imgsz")]


def _pick(form: Any, query: Any, default: Any) -> Any:
    return form if form is not None else query if query is not None else default


async def _read_image(ctx: Platform, file: UploadFile) -> bytes:
    return await inference.read_all(file.read, limit=ctx.settings.max_image_bytes, what=file.filename or "file")


def _options(conf: Any, conf_q: Any, iou: Any, iou_q: Any, imgsz: Any, imgsz_q: Any) -> dict[str, Any]:
    """Every inference route's predict options: a form field wins over the query parameter; checked."""
    return inference.options(conf=_pick(conf, conf_q, defaults.CONF), iou=_pick(iou, iou_q, defaults.IOU),
                             imgsz=_pick(imgsz, imgsz_q, None))


@router.post("/infer/{model_id}")
async def infer_image(
    model_id: str,
    file: UploadFile = File(..., description="Image (jpg, jpeg, png, bmp, webp)"),
    conf: UnitForm = None, iou: UnitForm = None, imgsz: SizeForm = None,
    conf_q: ConfQuery = None, iou_q: IouQuery = None, imgsz_q: SizeQuery = None,
    ctx: Platform = Depends(platform),
) -> dict[str, Any]:
    """Detect objects in one image: {model_id, image_path, detections}."""
    data = await _read_image(ctx, file)
    results = await inference.infer_uploads(ctx=ctx, model_ids=[model_id], files=[data],
                                            **_options(conf, conf_q, iou, iou_q, imgsz, imgsz_q))
    return results[0]


@router.post("/infer/batch/run")
@archive_body
async def infer_batch(
    model_ids: str = Form(..., description='Comma-separated model ids, e.g. "model_1,model_2"'),
    files: list[UploadFile] = File(..., description="Image files"),
    conf: UnitForm = None, iou: UnitForm = None, imgsz: SizeForm = None,
    conf_q: ConfQuery = None, iou_q: IouQuery = None, imgsz_q: SizeQuery = None,
    ctx: Platform = Depends(platform),
) -> dict[str, Any]:
    """Every model on every image: {"results": [{model_id, image_path, detections}, ...]} (model-major)."""
    ids = [m.strip() for m in model_ids.split(",") if m.strip()]
    data = [await _read_image(ctx, f) for f in files]
    results = await inference.infer_uploads(ctx=ctx, model_ids=ids, files=data,
                                            **_options(conf, conf_q, iou, iou_q, imgsz, imgsz_q))
    return {"results": results}


@router.post("/infer/video/{model_id}")
@archive_body
async def infer_video(
    model_id: str,
    file: UploadFile = File(..., description="Video file"),
    conf: UnitForm = None, iou: UnitForm = None, imgsz: SizeForm = None,
    conf_q: ConfQuery = None, iou_q: IouQuery = None, imgsz_q: SizeQuery = None,
    ctx: Platform = Depends(platform),
) -> dict[str, Any]:
    """The annotated video, base64 ({model_id, video_data, mime_type, task_id, stats}); stats has
    total_frames, detections_per_frame, fps (and processing_fps). Tracked as a 'video' task."""
    opts = _options(conf, conf_q, iou, iou_q, imgsz, imgsz_q)
    inference.resolve(ctx=ctx, model_id=model_id)
    source = await video.open_video(ctx=ctx, read=file.read, filename=file.filename)
    try:
        return await video.infer_video(ctx=ctx, model_id=model_id, source=source, opts=opts)
    finally:
        source.remove()


@router.post("/infer/video/{model_id}/stream")
@archive_body
async def infer_video_stream(
    model_id: str,
    request: Request,
    file: UploadFile = File(..., description="Video file"),
    conf: UnitForm = None, iou: UnitForm = None, imgsz: SizeForm = None,
    conf_q: ConfQuery = None, iou_q: IouQuery = None, imgsz_q: SizeQuery = None,
    ctx: Platform = Depends(platform),
) -> StreamingResponse:
    """Server-sent events: `event: start`, one `data: {"frame", "image_data", "detections"}` per frame,
    then `event: end` with the statistics (`event: error` {detail} if inference fails midway)."""
    opts = _options(conf, conf_q, iou, iou_q, imgsz, imgsz_q)
    inference.resolve(ctx=ctx, model_id=model_id)
    source = await video.open_video(ctx=ctx, read=file.read, filename=file.filename)
    events = video.stream_video(ctx=ctx, model_id=model_id, source=source, opts=opts,
                                disconnected=request.is_disconnected)
    # the generator removes the upload when it ends; the background task covers a client gone before it starts
    return StreamingResponse(events, media_type="text/event-stream", background=BackgroundTask(source.remove),
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
