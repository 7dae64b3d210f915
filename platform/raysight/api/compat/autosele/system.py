"""AutoSele GPUs (/gups_info)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from raysight.api.compat.autosele.envelope import AutoseleRoute, ok
from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services import system

router = APIRouter(tags=["autosele"], route_class=AutoseleRoute)


@router.get("/gups_info")
def gups_info(ctx: Platform = Depends(platform)) -> JSONResponse:
    """The GPUs Ray sees, each with its memory (an empty list on a CPU-only cluster)."""
    return ok(system.list_gpus(ctx=ctx), "query success")

