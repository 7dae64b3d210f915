"""imgseg dialect (specs/imgseg-api.md): envelope {code, status, message, payload}.

Every route parses its input and calls one service of raysight.services.imgseg; `render` is the one
place that maps errors to the dialect's err numbers (800-808, 601 for predictText, names for
predictSam3). Envelopes travel with HTTP 200; the envelope's `status` carries the outcome.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from raysight.api.compat.imgseg_schemas import (
    GetTrainDataBody,
    PredictResnetBody,
    PredictSam2Body,
    PredictSam3Body,
    PredictSamBody,
    PredictTextBody,
    TrainStartBody,
    TrainTaskBody,
)
from raysight.api.deps import platform
from raysight.api.envelopes import dialect_route_class, http_status_of, message_of
from raysight.context import Platform
from raysight.errors import RaysightError, Timeout, TooLarge, Unavailable
from raysight.services.imgseg import classify, component_training, ingest, ocr_ops, sam_ops
from raysight.services.inference import read_all

OK = {"code": 100, "status": 200, "message": "成功"}
ECHO = ("user_id", "topic_id", "task_type", "train_task_id", "task_id")
ERR_BY_CODE = {
    "training_busy": 800, "read_url_fail": 801, "read_timeout": 802, "task_not_found": 803,
    "user_not_found": 804, "model_id": 805, "bad_prompt": 806, "url_refused": 807, "missing_input": 807,
    "invalid": 807, "unprocessable": 807,
}
SAM3_NAMES = {801: "READ_URL_FAIL", 802: "TIMEOUT", 805: "MODEL_ID_ERROR", 806: "DATA_FORMAT_ERROR",
              807: "DATA_FORMAT_ERROR", 808: "UNKNOWN_ERROR"}


def ok(payload: dict[str, Any]) -> JSONResponse:
    """The success envelope (the one helper every route answers through)."""
    return JSONResponse({**OK, "payload": payload})


def err_number(request: Request, exc: Exception) -> int:
    if isinstance(exc, RequestValidationError):
        return 806 if "predictSam" in request.url.path else 807
    if isinstance(exc, RaysightError):
        if exc.code in ERR_BY_CODE:
            return ERR_BY_CODE[exc.code]
        if isinstance(exc, Timeout):
            return 802
        if isinstance(exc, TooLarge):
            return 807
        if isinstance(exc, Unavailable):
            return 808
    return 808


def _echo(request: Request) -> dict[str, Any]:
    found: dict[str, Any] = {k: request.query_params[k] for k in ECHO if k in request.query_params}
    body = getattr(request, "_body", None)
    if body:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict):
            found.update({k: data[k] for k in ECHO if isinstance(data.get(k), (str, int))})
    return found


def render(request: Request, exc: Exception) -> JSONResponse:
    err = err_number(request, exc)
    payload: dict[str, Any] = {**_echo(request), **(getattr(exc, "fields", None) or {})}
    message = message_of(exc)
    path = request.url.path
    if path.endswith("/predictSam3"):  # the spec answers this one as a success carrying the failure
        payload.update(task_id=sam_ops.new_task_id(), err=SAM3_NAMES.get(err, "UNKNOWN_ERROR"), err_code=err,
                       task_status=400, detail=message)  # the spec's error example carries a task_id too
        return JSONResponse({**OK, "payload": payload})
    if path.endswith("/predictText") and err in (801, 807):
        payload["err"] = "601"
    else:
        payload["err"] = err
    if "/ingest" in path and err != 803:
        payload.setdefault("task_status", 400)
    payload["detail"] = message
    status = http_status_of(exc)
    status = 400 if status == 422 else status
    return JSONResponse({"code": -3000, "status": status, "message": "失败", "payload": payload})


router = APIRouter(tags=["imgseg"], route_class=dialect_route_class(render, wrong_method_in_envelope=True))


def _own_hosts(request: Request) -> set[str]:
    hosts = {request.url.netloc, request.url.hostname or ""}
    if request.headers.get("host"):
        hosts.add(request.headers["host"])
    return {h for h in hosts if h}


def _echoed(body: Any, payload: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        value = getattr(body, name, None)
        if value is not None:
            payload[name] = value
    return payload


# -- ingest ----------------------------------------------------------------------------------------
@router.post("/ingest")
@router.post("/imgSeg/v1/ingest")
async def ingest_route(
    request: Request,
    image: UploadFile | None = File(None),
    image_url: str | None = Form(None),
    user_id: str | None = Form(None),
    q_image_url: str | None = Query(None, alias="image_url"),
    q_user_id: str | None = Query(None, alias="user_id"),
    run_async: bool = Query(False, alias="async"),
    ctx: Platform = Depends(platform),
) -> JSONResponse:
    """Upload a screenshot (or name its URL): SAM + OCR + component classifier -> components."""
    data = None
    if image is not None:
        data = await read_all(image.read, limit=ctx.settings.max_image_bytes, what=image.filename or "image")
    result = await ingest.ingest(
        ctx=ctx, data=data or None, image_url=image_url or q_image_url,
        user_id=user_id or q_user_id or "anonymous", own_hosts=_own_hosts(request), wait=not run_async,
    )
    return ok(result)


@router.get("/ingest/status")
@router.get("/imgSeg/v1/ingest/status")
def ingest_status(task_id: str = Query(...), ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(ingest.status(ctx=ctx, task_id=task_id))


@router.get("/imgSeg/v1/ingest/result")
def ingest_result(task_id: str = Query(...), ctx: Platform = Depends(platform)) -> JSONResponse:
    """The finished task's components flattened into the payload (task_status 300 while running)."""
    state = ingest.status(ctx=ctx, task_id=task_id)
    result = state.pop("result", None) or {}
    return ok({**state, **result})


# -- predictions -------------------------------------------------------------------------------------
@router.post("/imgSeg/v1/predictResnet")
async def predict_resnet(body: PredictResnetBody, request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    out = await classify.predict_resnet(ctx=ctx, urls=body.image_url_list, model_id=body.model_id,
                                        input_component_type=body.input_component_type,
                                        own_hosts=_own_hosts(request))
    return ok(_echoed(body, out, "topic_id", "user_id"))


@router.post("/imgSeg/v1/predictSam")
async def predict_sam(body: PredictSamBody, request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    out = await sam_ops.predict_sam(
        ctx=ctx, image_url=body.image_url, prompt=body.prompt, is_predict_type=body.is_predict_type,
        resnet_model_id=body.resnet_model_id, read_text_component_list=body.read_text_component_list,
        cut_outline_flag=body.cut_outline_flag, model_type=body.model_type, points_per_side=body.points_per_side,
        own_hosts=_own_hosts(request),
    )
    return ok(_echoed(body, out, "topic_id", "user_id"))


@router.post("/imgSeg/v1/predictSam2")
async def predict_sam2(body: PredictSam2Body, request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    out = await sam_ops.predict_sam2(
        ctx=ctx, image_url=body.image_url, prompt=body.prompt, select_box=body.select_box,
        is_predict_type=body.is_predict_type, resnet_model_id=body.resnet_model_id,
        read_text_component_list=body.read_text_component_list, cut_outline_flag=body.cut_outline_flag,
        model_type=body.model_type, points_per_side=body.points_per_side, own_hosts=_own_hosts(request),
    )
    return ok(_echoed(body, out, "topic_id", "user_id"))


@router.post("/imgSeg/v1/predictSam3")
async def predict_sam3(body: PredictSam3Body, request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    out = await sam_ops.predict_sam3(
        ctx=ctx, image_url=body.image_url, points=body.points, prompt=body.prompt,
        is_predict_type=body.is_predict_type, resnet_model_id=body.resnet_model_id,
        read_text_component_list=body.read_text_component_list, model_type=body.model_type,
        own_hosts=_own_hosts(request),
    )
    return ok(_echoed(body, out, "topic_id", "user_id"))


@router.post("/imgSeg/v1/predictText")
async def predict_text(body: PredictTextBody, request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    text = await ocr_ops.predict_text(ctx=ctx, urls=body.image_url_list, own_hosts=_own_hosts(request))
    return ok(_echoed(body, {"text": text}, "user_id"))


# -- training ----------------------------------------------------------------------------------------
@router.post("/imgSeg/v1/resnetTrainStart")
async def train_start(body: TrainStartBody, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = body.train_params
    out = await component_training.start(ctx=ctx, user_id=body.user_id, epochs=p.epochs, batch_size=p.batch_size,
                                         learning_rate=p.learning_rate)
    return ok({**out, "task_type": body.task_type, "user_id": body.user_id})


@router.post("/imgSeg/v1/resnetTrainProgress")
def train_progress(body: TrainTaskBody, ctx: Platform = Depends(platform)) -> JSONResponse:
    out = component_training.progress(ctx=ctx, train_task_id=body.train_task_id)
    return ok({**out, "task_type": body.task_type, "user_id": body.user_id or out.get("user_id")})


@router.post("/imgSeg/v1/resnetTrainSkip")
def train_skip(body: TrainTaskBody, ctx: Platform = Depends(platform)) -> JSONResponse:
    out = component_training.skip(ctx=ctx, train_task_id=body.train_task_id)
    return ok({**out, "task_type": body.task_type, "user_id": body.user_id or out.get("user_id")})


@router.post("/imgSeg/v1/getTrainData")
async def get_train_data(body: GetTrainDataBody, request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    info = await component_training.add_training_data(ctx=ctx, user_id=body.user_id, dataset=body.dataset,
                                                      own_hosts=_own_hosts(request))
    payload = {"user_id": body.user_id, "get_info": info}
    if any(v != component_training.OK for v in info.values()):
        return JSONResponse({"code": -3000, "status": 400, "message": "失败", "payload": payload})
    return ok(payload)
