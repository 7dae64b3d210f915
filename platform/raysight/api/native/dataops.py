"""Native API: data operations (import a server folder, export annotation tasks, labelling packages)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services import dataops

router = APIRouter(tags=["data operations"])


class ImportRequest(BaseModel):
    src: str = Field(description="a labelled folder under RAYSIGHT_IMPORT_ROOTS (YOLO, COCO, VOC or class folders)")
    dest: str | None = Field(default=None, description="folder that receives the import report (optional)")
    image_range: str | None = Field(default=None, description="'start-end' (1-based, inclusive), 'n' or 'all'")
    roadelement: str = Field(default="", description="road-element palette")
    source: str = ""
    author: str = ""
    annotype: str = Field(default="", description="annotation type")
    datakind: str = Field(default="", description="kind of data")
    city: str = ""


class ExportRequest(BaseModel):
    start: str = Field(description="first annotation task id (or 1-based position)")
    end: str = Field(description="last annotation task id (or 1-based position), inclusive")
    dest: str = Field(description="folder under RAYSIGHT_IMPORT_ROOTS; each task goes to dest/<task_id>/")


class DivideRequest(BaseModel):
    version: str = Field(description="'<dataset_id>/<vN>' or '<dataset_id>' (latest version)")
    step: int = Field(description="images per package")
    types: str = Field(default="full", description="full: every image; remote: only images without labels")


class PublishRequest(BaseModel):
    version: str = Field(description="'<dataset_id>/<vN>' or '<dataset_id>' (latest version)")
    types: str = Field(default="remote", description="remote, lane or union (recorded with the packages)")


class Started(BaseModel):
    task_id: str
    status: str


class DataopsTask(BaseModel):
    task_id: str
    kind: str
    status: str
    progress: float
    params: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


def _started(task_id: str) -> dict[str, Any]:
    return {"task_id": task_id, "status": "pending"}


@router.post("/dataops/import", response_model=Started)
async def start_import(body: ImportRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Import a labelled server folder with its metadata into a new dataset (prepared to v1)."""
    meta = body.model_dump(include=set(dataops.METADATA))
    return _started(dataops.start_import(ctx=ctx, src=body.src, dest=body.dest, image_range=body.image_range,
                                         metadata=meta))


@router.post("/dataops/export", response_model=Started)
async def start_export(body: ExportRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Write the annotation tasks in [start, end] (images, YOLO labels, boxes) into a server folder."""
    return _started(dataops.start_export(ctx=ctx, start=body.start, end=body.end, dest=body.dest))


@router.post("/dataops/divide", response_model=Started)
async def start_divide(body: DivideRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Split a detection dataset version into labelling packages of `step` images."""
    return _started(dataops.start_divide(ctx=ctx, version=body.version, step=body.step, types=body.types))


@router.post("/dataops/publish", response_model=Started)
async def start_publish(body: PublishRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Publish the packages of the version's latest divide as annotation tasks (/annotations/tasks)."""
    return _started(dataops.start_publish(ctx=ctx, version=body.version, types=body.types))


@router.get("/dataops/{task_id}", response_model=DataopsTask)
def get_task(task_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """A data-operation task: status, progress and its result."""
    return dataops.get(ctx=ctx, task_id=task_id)
