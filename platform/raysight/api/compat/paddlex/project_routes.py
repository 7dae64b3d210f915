"""PaddleX routes: /project, /project/task, /project/task/params, /train, /metrics, /vdl."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.paddlex.envelope import PaddlexRoute, inputs, ok
from raysight.api.compat.paddlex.schemas import ProjectCreate, TaskCreate, TrainChange, TrainStart
from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services.paddlex import jobs, metrics, projects

router = APIRouter(tags=["paddlex"], route_class=PaddlexRoute)


@router.get("/project")
async def project_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    if args.get("id") is not None:
        return ok(attr=projects.get(ctx=ctx, pid=args["id"]))
    return ok(projects=projects.list_all(ctx=ctx))


@router.post("/project")
async def project_create(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = ProjectCreate.model_validate(await inputs(request))
    return ok(**projects.create(ctx=ctx, name=body.name, desc=body.desc, type=body.project_type))


@router.delete("/project")
async def project_delete(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    projects.delete(ctx=ctx, pid=args.get("pid"))
    return ok()


@router.get("/project/task")
async def task_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    if args.get("tid") is not None:
        return ok(**jobs.get(ctx=ctx, tid=args["tid"], resume="resume" in args))
    return ok(**jobs.list_all(ctx=ctx, pid=args.get("pid")))


@router.post("/project/task")
async def task_create(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = TaskCreate.model_validate(await inputs(request))
    return ok(**jobs.create(ctx=ctx, pid=body.pid, train=body.train, desc=body.desc, parent_id=body.parent_id,
                            name=body.name))


@router.delete("/project/task")
async def task_delete(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    jobs.delete(ctx=ctx, tid=args.get("tid"))
    return ok()


@router.get("/project/task/params")
async def params_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**jobs.get_params(ctx=ctx, tid=args.get("tid"), pid=args.get("pid"),
                                model_type=args.get("model_type"), gpu_list=args.get("gpu_list")))


@router.post("/project/task/params")
async def params_set(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    jobs.set_params(ctx=ctx, tid=args.get("tid"), train=args.get("train"))
    return ok()


@router.post("/project/task/train")
async def train_start(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = TrainStart.model_validate(await inputs(request))
    return ok(**metrics.start_training(ctx=ctx, tid=body.tid, eval_metric_loss=body.eval_metric_loss))


@router.put("/project/task/train")
async def train_change(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = TrainChange.model_validate(await inputs(request))
    out = jobs.change(ctx=ctx, tid=body.tid, act=body.act, epoch=body.epoch)
    return ok(message=out.get("message", ""))


@router.get("/project/task/metrics")
async def metrics_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**metrics.get(ctx=ctx, tid=args.get("tid"), kind=args.get("type")))


@router.get("/project/task/vdl")
async def vdl_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(url=metrics.curves_url(ctx=ctx, tid=args.get("tid"), base=str(request.base_url)))
