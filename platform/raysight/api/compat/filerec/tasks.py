"""filerec routes: package upload, results, and recognition task management."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.filerec.envelope import FilerecRoute, inputs, ok
from raysight.api.compat.filerec.schemas import AddTaskBody, OptionalTaskIdBody, TaskIdBody
from raysight.api.compat.filerec.uploads import uploaded
from raysight.api.deps import platform
from raysight.api.middleware.body_limit import archive_body
from raysight.context import Platform
from raysight.services.filerec import recognition, task_admin, training_tasks

router = APIRouter(tags=["filerec"], route_class=FilerecRoute)


@router.post("/upload_package")
@archive_body
async def upload_package(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """A zip of files (multipart `file`): starts a recognition task over them; answers its task_id."""
    async with uploaded(request, ctx, "a zip package") as (file, fields):
        body = OptionalTaskIdBody.model_validate(fields)
        started = await recognition.upload_package(ctx=ctx, filename=file.filename or "", read=file.read,
                                                   task_id=body.task_id)
    return ok(**started)


@router.get("/detect/result")
async def detect_result(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """The task's (default: the newest) result per file; `result` is the per-file summary as a string."""
    body = OptionalTaskIdBody.model_validate(await inputs(request))
    return ok(**recognition.result(ctx=ctx, task_id=body.task_id))


@router.post("/task/add_task")
async def add_task(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = AddTaskBody.model_validate(await inputs(request))
    if body.task_type != "recognition":
        return ok(**training_tasks.start(ctx=ctx, overrides=body.training_overrides()))
    started = await recognition.add_task(ctx=ctx, task_id=body.task_id, package_task_id=body.package_task_id,
                                         model_id=body.model_id)
    return ok(**started)


@router.post("/task/cancel_task")
async def cancel_task(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = TaskIdBody.model_validate(await inputs(request))
    return ok(**task_admin.cancel(ctx=ctx, task_id=body.task_id))


@router.get("/task/get_tasks")
def get_tasks(ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(**task_admin.list_tasks(ctx=ctx))


@router.get("/task/completed")
def completed(ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(**task_admin.list_tasks(ctx=ctx, completed_only=True))


@router.post("/task/delete_task")
async def delete_task(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = TaskIdBody.model_validate(await inputs(request))
    return ok(**task_admin.delete(ctx=ctx, task_id=body.task_id))


@router.get("/task/single_task")
async def single_task(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = TaskIdBody.model_validate(await inputs(request))
    return ok(**task_admin.single(ctx=ctx, task_id=body.task_id))
