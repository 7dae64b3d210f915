"""AutoSele data operations: /offimport + /off_status, /linedown + /line_status, /task_divide +
/divide_history, /process_label + /label_history, thin translations onto services.dataops.

The document answers the four starting calls with errno and message only, yet their status calls need
a task id: every starting call also answers the new task's id in `data`. A status call without task_id
lists every task of its kind, newest first.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.autosele.envelope import AutoseleRoute, ok
from raysight.api.compat.autosele.params import Params, read_params
from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services import dataops, tasks

router = APIRouter(tags=["autosele"], route_class=AutoseleRoute)
FIELDS = {
    dataops.IMPORT: ("roadelement", "source", "author", "annotype", "datakind", "city", "imgoprange", "src", "dest"),
    dataops.EXPORT: ("taskid_start", "taskid_end", "dest"),
    dataops.DIVIDE: ("version", "step", "types"),
    dataops.PUBLISH: ("version", "types", "name"),
}


def detail(record: dict[str, Any]) -> dict[str, Any]:
    """The documented fields of the task's kind plus status, progress (0..1), result and error."""
    params = record["params"]
    return {"task_id": record["task_id"], **{k: params.get(k, "") for k in FIELDS[record["kind"]]},
            "status": record["status"], "progress": record["progress"], "result": record["result"],
            "error": record["error"]}


async def _status(request: Request, ctx: Platform, kind: str) -> JSONResponse:
    p = await read_params(request)
    task_id = p.text("task_id", required=False)
    if task_id is None:
        return ok([detail(r) for r in tasks.list_tasks(ctx=ctx, kind=kind)])
    return ok(detail(dataops.get(ctx=ctx, task_id=task_id, kind=kind)))


def _metadata(p: Params) -> dict[str, Any]:
    return {k: p.text(k, required=False) or "" for k in dataops.METADATA}


@router.post("/offimport")
async def offimport(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Import the labelled folder `src` with its metadata into a new dataset; data: the task id."""
    p = await read_params(request)
    task_id = dataops.start_import(ctx=ctx, src=p.text("src"), dest=p.text("dest", required=False),
                                   image_range=p.text("imgoprange", required=False), metadata=_metadata(p))
    return ok(task_id)


@router.post("/off_status")
async def off_status(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    return await _status(request, ctx, dataops.IMPORT)


@router.post("/linedown")
async def linedown(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Export the annotation tasks taskid_start..taskid_end into `dest`; data: the task id."""
    p = await read_params(request)
    task_id = dataops.start_export(ctx=ctx, start=p.text("taskid_start"), end=p.text("taskid_end"),
                                   dest=p.text("dest"))
    return ok(task_id)


@router.post("/line_status")
async def line_status(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    return await _status(request, ctx, dataops.EXPORT)


@router.post("/task_divide")
async def task_divide(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Split a dataset version into labelling packages of `step` images; data: the task id."""
    p = await read_params(request)
    task_id = dataops.start_divide(ctx=ctx, version=p.text("version"), step=p.integer("step", minimum=1),
                                   types=p.text("types", required=False, default="full"))
    return ok(task_id)


@router.post("/divide_history")
async def divide_history(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    return await _status(request, ctx, dataops.DIVIDE)


@router.post("/process_label")
async def process_label(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Publish the version's packages as annotation tasks of the native API; data: the task id."""
    p = await read_params(request)
    task_id = dataops.start_publish(ctx=ctx, version=p.text("version"),
                                    types=p.text("types", required=False, default="remote"))
    return ok(task_id)


@router.post("/label_history")
async def label_history(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    return await _status(request, ctx, dataops.PUBLISH)
