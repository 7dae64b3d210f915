"""Native API: annotations (specs/platform-api.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, StrictFloat, StrictInt

from raysight.api.deps import platform
from raysight.api.responses import OkResponse
from raysight.context import Platform
from raysight.services import annotations

router = APIRouter(tags=["annotations"])


class TaskRequest(BaseModel):
    dataset_id: str
    version: str = "v1"
    classes: list[str] | None = Field(default=None, description="default: the classes of the version's data.yaml")


class TaskResponse(BaseModel):
    task_id: str
    dataset_id: str
    version: str
    classes: list[str]
    total_items: int
    annotated_count: int
    created_at: str | None


class Item(BaseModel):
    image_id: str
    image_path: str = Field(description="relative to the workspace; GET /{image_path} serves the image")
    width: int
    height: int
    has_annotation: bool


class ItemList(BaseModel):
    task_id: str
    items: list[Item]


class BoxModel(BaseModel):
    """JSON numbers only (strict): a true, "1" or 1.0 class is refused, not taken as class 1."""

    class_id: StrictInt = Field(description="class index, from 0")
    x1: StrictFloat
    y1: StrictFloat
    x2: StrictFloat
    y2: StrictFloat


class SaveRequest(BaseModel):
    boxes: list[BoxModel]


class ItemAnnotation(BaseModel):
    image_id: str
    boxes: list[BoxModel]
    updated_at: str = Field(description="the last save; before any, when the task was created")


class ExportResponse(OkResponse):
    labels_dir: str
    exported_count: int


@router.post("/annotations/tasks", response_model=TaskResponse)
def create_task(body: TaskRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """A task over every image of a prepared detection version; existing labels become the initial boxes."""
    return annotations.create_task(ctx=ctx, dataset_id=body.dataset_id, version=body.version, classes=body.classes)


@router.get("/annotations/tasks/{task_id}", response_model=TaskResponse)
def get_task(task_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return annotations.get_task(ctx=ctx, task_id=task_id)


@router.get("/annotations/tasks/{task_id}/items", response_model=ItemList)
def list_items(task_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return annotations.list_items(ctx=ctx, task_id=task_id)


@router.post("/annotations/tasks/{task_id}/items/{image_id}", response_model=OkResponse)
def save_item(task_id: str, image_id: str, body: SaveRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Replace the image's boxes (pixels, x1 < x2, y1 < y2, inside the image; class_id in range)."""
    boxes = [b.model_dump() for b in body.boxes]
    return annotations.save_item(ctx=ctx, task_id=task_id, image_id=image_id, boxes=boxes)


@router.get("/annotations/tasks/{task_id}/items/{image_id}", response_model=ItemAnnotation)
def get_item(task_id: str, image_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return annotations.get_item(ctx=ctx, task_id=task_id, image_id=image_id)


@router.get("/annotations/tasks/{task_id}/export", response_model=ExportResponse)
def export(
    task_id: str, format: str = Query(default="yolo", description="only yolo"), ctx: Platform = Depends(platform)  # noqa: A002
) -> dict[str, Any]:
    """Write YOLO label files of the annotated images into the version's labels/ folder."""
    return annotations.export(ctx=ctx, task_id=task_id, format=format)
