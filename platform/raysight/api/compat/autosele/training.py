"""AutoSele training (/create_train /starttask /endtask /train_history, configs, /calculate, label maps,
/weights, /output_log) on the core's Ray Train jobs."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.autosele.envelope import AutoseleRoute, ok
from raysight.api.compat.autosele.params import Params, read_params
from raysight.api.deps import platform
from raysight.context import Platform
from raysight.errors import Invalid
from raysight.services.autosele import train
from raysight.services.autosele.common import check_date

router = APIRouter(tags=["autosele"], route_class=AutoseleRoute)


def _steps(p: Params) -> list[int]:
    steps = p.id_list("steps", required=False)
    if not all(s.isdigit() and int(s) > 0 for s in steps):
        raise Invalid("steps must be positive integers separated by commas ('10000,20000,30000')")
    return [int(s) for s in steps]


def _gpus(p: Params) -> list[str]:
    gpus = p.id_list("gpus", required=False)
    if not all(g.isdigit() for g in gpus):
        raise Invalid("gpus must be GPU ids separated by commas ('0,1,2')")
    return gpus


@router.post("/create_train")
async def create_train(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    task_id = await asyncio.to_thread(
        train.create, ctx=ctx, train_name=p.text("train_name"), network=p.text("network", required=False),
        data=p.text("data", required=False), task_desc=p.text("task_desc", required=False) or "")
    return ok(task_id, "Autosele start")


@router.post("/starttask")
async def starttask(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    req = train.StartRequest(
        num_classes=p.integer("num_classes", required=False, minimum=1),
        num_epoch=p.integer("num_epoch", required=False, minimum=1, maximum=10_000),
        batch_size=p.integer("batch_size", required=False, minimum=1, maximum=4096),
        gpus=_gpus(p), model=p.text("model", required=False), steps=_steps(p),
        base_lr=p.number("base_lr", required=False, minimum=0.0, maximum=10.0),
        start_date=check_date(p.text("start_date", required=False), "start_date"),
        train_con=p.mapping("train_con", required=False), data_con=p.mapping("data_con", required=False),
        weights=p.text("weights", required=False), data_type=p.text("data_type", required=False),
        network=p.text("network", required=False), data=p.text("data", required=False))
    job = await asyncio.to_thread(train.start, ctx=ctx, task_id=p.text("task_id"), req=req)
    return ok({"task_id": p.text("task_id"), "job_id": job["job_id"], "status": job["status"]}, "任务开始")


@router.post("/endtask")
async def endtask(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    await asyncio.to_thread(train.end, ctx=ctx, task_id=p.text("task_id"),
                            end_date=p.text("end_date", required=False))
    return ok(None, "任务结束")


@router.post("/train_history")
async def train_history(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Every training task, or one (task_id)."""
    p = await read_params(request)
    return ok(await asyncio.to_thread(train.history, ctx=ctx, task_id=p.text("task_id", required=False)),
              "query success")


@router.get("/train_configs")
async def train_configs(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    return ok(await asyncio.to_thread(train.train_config, ctx=ctx, task_id=p.text("task_id")), "query success")


@router.get("/data_configs")
async def data_configs(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """The document names the field `resp` here: both `resp` and `data` carry the config."""
    p = await read_params(request)
    config = await asyncio.to_thread(train.data_config, ctx=ctx, task_id=p.text("task_id"))
    return ok(config, "query success", resp=config)


@router.get("/train_config")
@router.post("/train_config")
async def train_config(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Query the training config; with `train_con` (a JSON object) merge it in first."""
    p = await read_params(request)
    return ok(await asyncio.to_thread(train.train_config, ctx=ctx, task_id=p.text("task_id"),
                                      update=p.mapping("train_con", required=False)), "query success")


@router.get("/data_config")
@router.post("/data_config")
async def data_config(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Query the data config; with `data_con` (a JSON object) merge it in first."""
    p = await read_params(request)
    return ok(await asyncio.to_thread(train.data_config, ctx=ctx, task_id=p.text("task_id"),
                                      update=p.mapping("data_con", required=False)), "query success")


@router.get("/calculate")
async def calculate(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Iterations of one full pass over the training split: ceil(train images / batch_val)."""
    p = await read_params(request)
    value = await asyncio.to_thread(train.calculate, ctx=ctx, task_id=p.text("task_id"),
                                    batch_size=p.integer("batch_val", minimum=1, maximum=4096))
    return ok(value, "success")


@router.post("/maps")
async def maps(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    return ok(await asyncio.to_thread(train.label_map, ctx=ctx, task_id=p.text("task_id")), "query success")


@router.post("/save_map")
async def save_map(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    saved = await asyncio.to_thread(train.save_map, ctx=ctx, task_id=p.text("task_id"),
                                    mapping=p.mapping("map_value"))
    return ok(saved, "save success")


@router.get("/weights")
async def weights(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    return ok(await asyncio.to_thread(train.weights, ctx=ctx, task_id=p.text("task_id")), "query success")


@router.get("/output_log")
async def output_log(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    return ok(await asyncio.to_thread(train.output_log, ctx=ctx, task_id=p.text("task_id")), "query success")
