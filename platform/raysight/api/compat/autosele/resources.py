"""AutoSele networks (/src_network /create_net /network /network_history) and data
(/data /sour_datas /create_data /data_history)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.autosele.envelope import AutoseleRoute, ok
from raysight.api.compat.autosele.params import read_params
from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services.autosele import data, networks

router = APIRouter(tags=["autosele"], route_class=AutoseleRoute)


@router.get("/src_network")
def src_network(ctx: Platform = Depends(platform)) -> JSONResponse:
    """Architecture templates the installed plugins offer for training."""
    return ok(networks.templates(ctx=ctx), "query success")


@router.post("/create_net")
async def create_net(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    describe = p.text("net_describe", required=False) or p.text("netwonet_describe", required=False) or ""
    task_id = await asyncio.to_thread(networks.create, ctx=ctx, network_name=p.text("network_name"),
                                      src_net=p.text("src_net", required=False), net_describe=describe)
    return ok(task_id, "创建成功")


@router.get("/network")
def network(ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(networks.names(ctx=ctx), "query success")


@router.get("/network_history")
def network_history(ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(networks.history(ctx=ctx), "query success")


@router.get("/data")
def data_sources(ctx: Platform = Depends(platform)) -> JSONResponse:
    """Source folders under the import roots (RAYSIGHT_IMPORT_ROOTS)."""
    return ok(data.sources(ctx=ctx), "query success")


@router.get("/sour_datas")
def sour_datas(ctx: Platform = Depends(platform)) -> JSONResponse:
    """Generated data versions a training task can use (its `data`)."""
    return ok(data.ready_names(ctx=ctx), "query success")


@router.post("/create_data")
async def create_data(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    task_id = await data.create(
        ctx=ctx, data_name=p.text("data_name"), sour_data=p.text("sour_data"),
        thread=p.integer("thread", required=False, default=4), train=p.number("train"),
        val=p.number("val", required=False, default=0.0), test=p.number("test", required=False, default=0.0),
        data_desc=p.text("data_desc", required=False) or "", data_type=p.text("data_type", required=False),
        l_value=p.flag("l_value"))
    return ok(task_id, "data已生成")


@router.post("/data_history")
async def data_history(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """All data records, or one (task_id) with its generation progress."""
    p = await read_params(request)
    return ok(await asyncio.to_thread(data.history, ctx=ctx, task_id=p.text("task_id", required=False)),
              "query success")
