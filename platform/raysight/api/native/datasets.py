"""Native API: datasets (specs/platform-api.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from raysight.api.deps import multipart_doc, platform
from raysight.api.middleware.body_limit import archive_body
from raysight.api.responses import OkResponse
from raysight.context import Platform
from raysight.errors import Invalid
from raysight.services import datasets

router = APIRouter(tags=["datasets"])

_UPLOAD_DOC = multipart_doc(["file"], {"file": {"type": "string", "format": "binary", "description": "a ZIP archive"}})


class UploadResponse(BaseModel):
    dataset_id: str
    filename: str
    size: int
    created_at: str
    status: str


class PrepareRequest(BaseModel):
    split_ratio: dict[str, float] | None = Field(
        default=None, description='e.g. {"train": 0.8, "val": 0.2}; "test" allowed; each in [0, 1], sum 1'
    )
    classes: list[str] | None = Field(default=None, description="class names; default: read from the data")


class PrepareResponse(BaseModel):
    dataset_id: str
    version: str
    status: str
    classes: list[str]
    train_count: int
    val_count: int
    test_count: int = 0
    data_yaml: str
    format: str
    task_type: str
    class_counts: dict[str, int] = {}
    skipped: int = 0


class DatasetSummary(BaseModel):
    dataset_id: str
    filename: str
    size: int
    status: str
    created_at: str | None
    versions: list[str]
    format: str | None = None
    task_type: str | None = None


class DatasetList(BaseModel):
    datasets: list[DatasetSummary]


class DatasetDetail(DatasetSummary):
    description: str
    tags: list[str]
    error: str | None = None
    version_details: list[dict[str, Any]] = Field(default_factory=list, description="per version: classes, counts")


class UpdateRequest(BaseModel):
    description: str | None = None
    tags: list[str] | None = None


@router.post("/datasets/upload", response_model=UploadResponse, openapi_extra=_UPLOAD_DOC)
@archive_body
async def upload_dataset(request: Request, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Upload a dataset ZIP (multipart field `file`). Unsafe or oversized archives are refused whole."""
    form = await request.form()
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise Invalid("multipart field 'file' (a ZIP archive) is required")
        return await datasets.upload(ctx=ctx, filename=file.filename or "", read=file.read)
    finally:
        await form.close()


@router.post("/datasets/{dataset_id}/prepare", response_model=PrepareResponse)
def prepare_dataset(
    dataset_id: str, body: PrepareRequest | None = Body(default=None), ctx: Platform = Depends(platform)
) -> dict[str, Any]:
    """Extract, recognise (YOLO/COCO/VOC/class folders), validate, split and write version vN."""
    body = body or PrepareRequest()
    return datasets.prepare(ctx=ctx, dataset_id=dataset_id, split_ratio=body.split_ratio, classes=body.classes)


@router.get("/datasets", response_model=DatasetList)
def list_datasets(ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return datasets.list_datasets(ctx=ctx)


@router.get("/datasets/{dataset_id}", response_model=DatasetDetail)
def get_dataset(dataset_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return datasets.get_dataset(ctx=ctx, dataset_id=dataset_id)


@router.put("/datasets/{dataset_id}", response_model=DatasetDetail)
def update_dataset(dataset_id: str, body: UpdateRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return datasets.update_dataset(ctx=ctx, dataset_id=dataset_id, description=body.description, tags=body.tags)


@router.delete("/datasets/{dataset_id}", response_model=OkResponse)
def delete_dataset(dataset_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return datasets.delete_dataset(ctx=ctx, dataset_id=dataset_id)
