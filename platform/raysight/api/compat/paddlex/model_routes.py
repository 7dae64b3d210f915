"""PaddleX routes: /model GET/POST/DELETE. `get_model` is the GET handler's logic as a plain coroutine so
that a root dispatcher answering both PaddleX and AutoSele on GET /model can call it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.paddlex.envelope import PaddlexRoute, inputs, ok
from raysight.api.compat.paddlex.schemas import ModelCreate, ModelDelete
from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services.paddlex import model_records

router = APIRouter(tags=["paddlex"], route_class=PaddlexRoute)


def get_model(ctx: Platform, args: dict[str, Any]) -> JSONResponse:
    """PaddleX's GET /model for already-read arguments (`mid` or `type`; neither: both lists)."""
    return ok(**model_records.get_models(ctx=ctx, mid=args.get("mid"), type=args.get("type")))


@router.get("/model")
async def model_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    return get_model(ctx, await inputs(request))


@router.post("/model")
async def model_create(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = ModelCreate.model_validate(await inputs(request))
    return ok(**model_records.create(ctx=ctx, **body.model_dump()))


@router.delete("/model")
async def model_delete(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = ModelDelete.model_validate(await inputs(request))
    model_records.delete(ctx=ctx, type=body.type, pmid=body.pmid, emid=body.emid)
    return ok()
