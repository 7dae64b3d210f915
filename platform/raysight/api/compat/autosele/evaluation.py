"""AutoSele models (/model), evaluation (/starteva /eva_rate /show) and release (/release_tab /release)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.autosele.envelope import AutoseleRoute, ok
from raysight.api.compat.autosele.params import read_params
from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services.autosele import evaluation, release, train

router = APIRouter(tags=["autosele"], route_class=AutoseleRoute)


def model_answer(ctx: Platform) -> dict[str, Any]:
    """GET /model's envelope as a plain dict: {errno: 1, data: [{task_name, task_id, models: [file],
    items: [{file, model_id, stage}]}], message}. A root dispatcher shared with PaddleX's /model calls
    this and merges its own fields in (see the README's AutoSele notes)."""
    return {"errno": 1, "data": train.generated(ctx=ctx), "message": "query success"}


@router.get("/model")
async def model(ctx: Platform = Depends(platform)) -> JSONResponse:
    """The models AutoSele training tasks generated, by task."""
    return JSONResponse(await asyncio.to_thread(model_answer, ctx))


@router.post("/starteva")
async def starteva(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    gpus = p.id_list("gpus", required=False)
    task_id = await evaluation.start(
        ctx=ctx, dicts=p.mapping("dicts"), sour_dir=p.text("sour_dir"),
        dest_dir=p.text("dest_dir"), eval_type=p.text("type", required=False), gpus=gpus,
        single_gpu=p.integer("single_gpu", required=False, default=4))
    return ok(task_id, "模型预测完成")


@router.post("/eva_rate")
async def eva_rate(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    return ok(await asyncio.to_thread(evaluation.rate, ctx=ctx, task_id=p.text("task_id")), "query success")


@router.post("/show")
async def show(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Page `cur_img` (1-based): or_data / la_data (base64 original / prediction) and total_img."""
    p = await read_params(request)
    page = await asyncio.to_thread(evaluation.show, ctx=ctx, task_id=p.text("task_id"),
                                   page=p.integer("cur_img", required=False, default=1))
    return ok(page, "query success", or_data=page["or_data"], la_data=page["la_data"], total_img=page["total_img"])


@router.get("/release_tab")
async def release_tab(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    found = await asyncio.to_thread(release.page, ctx=ctx, number=p.integer("page", required=False, default=1))
    return ok(found["data"], "query success", name=found["name"], total=found["total"], page=found["page"])


@router.post("/release")
async def publish(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    p = await read_params(request)
    p.integer("page", required=False)  # the page the client was on: checked, not needed
    done = await asyncio.to_thread(
        release.publish, ctx=ctx, dicts=p.mapping("dicts"), version=p.text("version"),
        env=p.text("env", required=False) or "", adcode=p.integer("adcode", required=False),
        desc=p.text("desc", required=False) or "", kind=p.text("type", required=False) or "",
        time=p.text("time", required=False))
    return ok(done, "release success")
