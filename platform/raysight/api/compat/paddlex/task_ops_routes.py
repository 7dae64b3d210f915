"""PaddleX routes: /project/task/evaluate (+ /file), /export, /prune, /predict."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.paddlex.envelope import PaddlexRoute, inputs, ok
from raysight.api.compat.paddlex.schemas import Evaluate, Export, Predict
from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services.paddlex import model_ops, predict

router = APIRouter(tags=["paddlex"], route_class=PaddlexRoute)


@router.post("/project/task/evaluate")
async def evaluate_start(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = Evaluate.model_validate(await inputs(request))
    model_ops.start_evaluation(ctx=ctx, tid=body.tid, epoch=body.epoch, topk=body.topk,
                               score_thresh=body.score_thresh, overlap_thresh=body.overlap_thresh)
    return ok()


@router.get("/project/task/evaluate")
async def evaluate_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**model_ops.evaluation_status(ctx=ctx, tid=args.get("tid")))


@router.get("/project/task/evaluate/file")
async def evaluate_file(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**await model_ops.evaluation_file(ctx=ctx, tid=args.get("tid")))


@router.post("/project/task/export")
async def export_start(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = Export.model_validate(await inputs(request))
    return ok(**model_ops.start_export(ctx=ctx, tid=body.tid, kind=body.type, save_dir=body.save_dir,
                                       quant=bool(body.quant), epoch=body.epoch, model_path=body.model_path))


@router.get("/project/task/export")
async def export_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**model_ops.export_status(ctx=ctx, tid=args.get("tid"), quant=args.get("quant")))


@router.put("/project/task/export")
async def export_stop(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**model_ops.stop_export(ctx=ctx, tid=args.get("tid")))


@router.post("/project/task/prune")
async def prune_start(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    model_ops.start_analysis(ctx=ctx, tid=args.get("tid"))
    return ok()


@router.get("/project/task/prune")
async def prune_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**model_ops.analysis_status(ctx=ctx, tid=args.get("tid")))


@router.put("/project/task/prune")
async def prune_stop(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**model_ops.stop_analysis(ctx=ctx, tid=args.get("tid"), act=args.get("act")))


@router.post("/project/task/predict")
async def predict_start(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = Predict.model_validate(await inputs(request))
    out = await predict.predict(ctx=ctx, tid=body.tid, image_data=body.image_data, score_thresh=body.score_thresh,
                                epoch=body.epoch)
    return ok(**out)


@router.get("/project/task/predict")
async def predict_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**predict.status(ctx=ctx, tid=args.get("tid")))


@router.put("/project/task/predict")
async def predict_stop(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Predictions run within their POST, so there is nothing left to stop: answers the current status."""
    args = await inputs(request)
    return ok(**predict.status(ctx=ctx, tid=args.get("tid")))
